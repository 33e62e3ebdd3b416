"""The Starlette apps: the control plane (``/indexes``) and one data plane per index, each on its own socket.

Both check the ``Api-Key`` and ``X-Pinecone-Api-Version`` headers the ``pinecone`` client sends,
and answer refusals in their plane's error shape (errors.py). Every handler holds the stand-in's
one lock, so concurrent requests see whole operations. One :class:`FaultInjector` counts the
requests of every plane, so a fault plan is deterministic across them.
"""

from __future__ import annotations

import base64
import hmac
import threading
from collections.abc import Callable
from typing import Any

import msgspec
import numpy as np
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from airflow_provider_vectorbackup.testing.faults import FaultInjector, FaultMiddleware
from airflow_provider_vectorbackup.testing.pinecone.errors import PineconeError, bad_request
from airflow_provider_vectorbackup.testing.pinecone.indexes import Index, new_index
from airflow_provider_vectorbackup.testing.pinecone.records import (
    DEFAULT_NAMESPACE, MAX_FETCH_IDS, MAX_LIST_LIMIT, MAX_UPSERT_RECORDS, Namespace, check_id, normalise_namespace,
    parse_record, score,
)

API_VERSION = "2026-07"
"""The API version the stand-in speaks: the one ``pinecone`` 10.x sends."""
LIST_DEFAULT_LIMIT = 100
MAX_TOP_K_WITH_DATA = 1_000
"""A query's largest ``topK`` when it asks for values or metadata (10,000 without)."""
POD_LIST_REFUSAL = ("Listing vector IDs is only supported for serverless indexes; this is a pod-based index, "
                    "which cannot list its IDs")
_FAULT_MESSAGES = {429: "Request failed. You've exceeded your request rate limit; retry later.",
                   503: "Service unavailable; retry later."}
_encoder = msgspec.json.Encoder()
Handler = Callable[[Request], Any]


def _json(status: int, body: Any) -> Response:
    return Response(_encoder.encode(body), status_code=status, media_type="application/json")


class Planes:
    """The stand-in's state (indexes by name) and the two kinds of app that serve it."""

    def __init__(self, api_key: str, lock: threading.RLock, start_data_plane: Callable[[Index], str],
                 faults: FaultInjector) -> None:
        self.api_key = api_key
        self.faults = faults
        self.lock = lock
        self.indexes: dict[str, Index] = {}
        self.start_data_plane = start_data_plane
        self.request_counts: dict[str, int] = {}

    # -- plumbing ---------------------------------------------------------------------------------

    def _route(self, path: str, name: str, handler: Handler, method: str, *, data: bool) -> Route:
        async def endpoint(request: Request) -> Response:
            try:
                self._check_headers(request)
                body = await request.body()
                payload = msgspec.json.decode(body) if body else None
                with self.lock:
                    self.request_counts[name] = self.request_counts.get(name, 0) + 1
                    status, answer = handler(request, payload)
            except msgspec.DecodeError:
                error = bad_request("The request body is not valid JSON")
                return _json(400, error.data_body() if data else error.control_body())
            except PineconeError as error:
                if data and error.status == 401:  # an index host answers a bad key with a bare JSON string
                    return _json(401, "Unauthorized")
                return _json(error.status, error.data_body() if data else error.control_body())
            if answer is None:
                return Response(status_code=status)
            return _json(status, answer)

        return Route(path, endpoint, methods=[method])

    def _check_headers(self, request: Request) -> None:
        key = request.headers.get("api-key")
        if not key or not hmac.compare_digest(key.encode(), self.api_key.encode()):
            raise PineconeError(401, "Invalid API Key", "UNAUTHENTICATED")
        version = request.headers.get("x-pinecone-api-version")
        if version not in (None, API_VERSION):
            raise bad_request(f"Unsupported API version {version!r}; this server speaks {API_VERSION}")

    # -- control plane ----------------------------------------------------------------------------

    def control_app(self) -> FaultMiddleware:
        routes = [
            self._route("/indexes", "list_indexes", self._list_indexes, "GET", data=False),
            self._route("/indexes", "create_index", self._create_index, "POST", data=False),
            self._route("/indexes/{name}", "describe_index", self._describe_index, "GET", data=False),
            self._route("/indexes/{name}", "delete_index", self._delete_index, "DELETE", data=False),
        ]
        return FaultMiddleware(Starlette(routes=routes), self.faults, lambda status: _fault(status).control_body())

    def _index(self, name: str) -> Index:
        index = self.indexes.get(name)
        if index is None:
            raise PineconeError(404, f"Resource {name} not found", "NOT_FOUND")
        return index

    def _list_indexes(self, request: Request, payload: Any) -> tuple[int, Any]:
        return 200, {"indexes": [index.to_json() for index in self.indexes.values()]}

    def _create_index(self, request: Request, payload: Any) -> tuple[int, Any]:
        index = new_index(payload)
        if index.name in self.indexes:
            raise PineconeError(409, f"Resource {index.name} already exists", "ALREADY_EXISTS")
        index.host = self.start_data_plane(index)
        self.indexes[index.name] = index
        return 201, index.to_json()

    def _describe_index(self, request: Request, payload: Any) -> tuple[int, Any]:
        return 200, self._index(request.path_params["name"]).to_json()

    def _delete_index(self, request: Request, payload: Any) -> tuple[int, Any]:
        index = self._index(request.path_params["name"])
        if index.deletion_protection == "enabled":
            raise PineconeError(403, f"Deletion protection is enabled for index {index.name}; disable it before "
                                     f"deleting the index", "FORBIDDEN")
        del self.indexes[index.name]
        return 202, None

    # -- data plane -------------------------------------------------------------------------------

    def data_app(self, name: str) -> FaultMiddleware:
        def bound(handler: Callable[[Index, Request, Any], tuple[int, Any]]) -> Handler:
            def call(request: Request, payload: Any) -> tuple[int, Any]:
                index = self.indexes.get(name)
                if index is None:
                    raise PineconeError(404, f"Index {name} not found")
                return handler(index, request, payload)
            return call

        spec = [("/vectors/upsert", "upsert", self._upsert, "POST"),
                ("/vectors/fetch", "fetch", self._fetch, "GET"),
                ("/vectors/list", "list", self._list, "GET"),
                ("/vectors/delete", "delete", self._delete, "POST"),
                ("/query", "query", self._query, "POST"),
                ("/describe_index_stats", "describe_index_stats", self._stats, "POST"),
                ("/namespaces", "list_namespaces", self._list_namespaces, "GET"),
                ("/namespaces", "create_namespace", self._create_namespace, "POST"),
                ("/namespaces/{namespace:path}", "describe_namespace", self._describe_namespace, "GET"),
                ("/namespaces/{namespace:path}", "delete_namespace", self._delete_namespace, "DELETE")]
        app = Starlette(routes=[self._route(path, label, bound(handler), method, data=True)
                                for path, label, handler, method in spec])
        return FaultMiddleware(app, self.faults, lambda status: _fault(status).data_body())

    def _upsert(self, index: Index, request: Request, payload: Any) -> tuple[int, Any]:
        vectors = (payload or {}).get("vectors")
        if not isinstance(vectors, list) or not vectors:
            raise bad_request("vectors must be a non-empty list")
        if len(vectors) > MAX_UPSERT_RECORDS:
            raise bad_request(f"An upsert takes at most {MAX_UPSERT_RECORDS} vectors, got {len(vectors)}")
        records = [parse_record(raw, dimension=index.dimension, sparse_allowed=index.sparse_allowed,
                                sparse_required=index.vector_type == "sparse") for raw in vectors]
        namespace = index.namespaces.setdefault(normalise_namespace(payload.get("namespace")), Namespace())
        for record in records:
            namespace.records[record.id] = record
        return 200, {"upsertedCount": len(records)}

    def _fetch(self, index: Index, request: Request, payload: Any) -> tuple[int, Any]:
        ids = request.query_params.getlist("ids")
        if not ids:
            raise bad_request("ids must be given")
        if len(ids) > MAX_FETCH_IDS:
            raise bad_request(f"A fetch takes at most {MAX_FETCH_IDS} ids, got {len(ids)}")
        name = normalise_namespace(request.query_params.get("namespace"))
        records = index.namespaces.get(name, Namespace()).records
        found = {id_: records[id_].to_json() for id_ in ids if id_ in records}
        return 200, {"vectors": found, "namespace": _shown(name), "usage": {"readUnits": 1}}

    def _list(self, index: Index, request: Request, payload: Any) -> tuple[int, Any]:
        if not index.serverless:
            raise bad_request(POD_LIST_REFUSAL)
        params = request.query_params
        limit = _int_param(params.get("limit"), LIST_DEFAULT_LIMIT, "limit")
        if not 1 <= limit <= MAX_LIST_LIMIT:
            raise bad_request(f"limit must be between 1 and {MAX_LIST_LIMIT}, got {limit}")
        prefix = params.get("prefix") or ""
        after = _decode_token(params.get("paginationToken"))
        name = normalise_namespace(params.get("namespace"))
        ids = sorted((id_ for id_ in index.namespaces.get(name, Namespace()).records
                      if id_.startswith(prefix) and (after is None or id_ > after)), key=str.encode)
        page = ids[:limit]
        body: dict[str, Any] = {"vectors": [{"id": id_} for id_ in page], "namespace": _shown(name),
                                "usage": {"readUnits": 1}}
        if len(ids) > limit:
            body["pagination"] = {"next": base64.urlsafe_b64encode(page[-1].encode()).decode()}
        return 200, body

    def _delete(self, index: Index, request: Request, payload: Any) -> tuple[int, Any]:
        payload = payload or {}
        name = normalise_namespace(payload.get("namespace"))
        namespace = index.namespaces.get(name)
        if payload.get("filter") is not None:
            raise bad_request("This stand-in does not evaluate metadata filters")
        if payload.get("deleteAll"):
            if namespace is not None:
                namespace.records.clear()
        else:
            ids = payload.get("ids")
            if not isinstance(ids, list) or not ids:
                raise bad_request("Delete needs ids, deleteAll or a filter")
            for id_ in ids:
                if namespace is not None:
                    namespace.records.pop(check_id(id_), None)
        return 200, {}

    def _query(self, index: Index, request: Request, payload: Any) -> tuple[int, Any]:
        payload = payload or {}
        top_k = payload.get("topK")
        if type(top_k) is not int or not 1 <= top_k <= 10_000:
            raise bad_request(f"topK must be an integer from 1 to 10000, got {top_k!r}")
        if top_k > MAX_TOP_K_WITH_DATA and (payload.get("includeValues") or payload.get("includeMetadata")):
            raise bad_request(f"topK must be at most {MAX_TOP_K_WITH_DATA} when includeValues or includeMetadata "
                              f"is true, got {top_k}")
        if payload.get("filter") is not None:
            raise bad_request("This stand-in does not evaluate metadata filters")
        name = normalise_namespace(payload.get("namespace"))
        records = index.namespaces.get(name, Namespace()).records
        vector, sparse = payload.get("vector"), payload.get("sparseVector")
        if payload.get("id") is not None:
            known = records.get(payload["id"])
            vector = [] if known is None or known.values is None else known.values.tolist()
        dense = None
        if vector:
            if len(vector) != index.dimension:
                raise bad_request(f"Query vector dimension {len(vector)} does not match the dimension of the index "
                                  f"{index.dimension}")
            dense = np.asarray(vector, dtype=np.float32)
        sparse_query = dict(zip(sparse["indices"], sparse["values"])) if sparse else None
        if dense is None and not sparse_query:
            raise bad_request("A query needs a vector, a sparse vector or an id")
        scored = [(score(index.metric, dense, sparse_query, record), record) for record in records.values()]
        scored.sort(key=lambda pair: pair[0], reverse=index.metric != "euclidean")
        matches = []
        for value, record in scored[:top_k]:
            match = record.to_json(values=bool(payload.get("includeValues")),
                                   metadata=bool(payload.get("includeMetadata")))
            matches.append({"id": match.pop("id"), "score": value, **match})
        return 200, {"matches": matches, "namespace": _shown(name), "usage": {"readUnits": 5}}

    def _stats(self, index: Index, request: Request, payload: Any) -> tuple[int, Any]:
        if (payload or {}).get("filter") is not None:
            raise bad_request("This stand-in does not evaluate metadata filters")
        namespaces = {_shown(name): {"vectorCount": len(ns.records)} for name, ns in index.namespaces.items()
                      if ns.records}  # the default namespace as "", as the API reference shows it
        return 200, {"namespaces": namespaces, "dimension": index.dimension, "indexFullness": 0.0,
                     "totalVectorCount": sum(n["vectorCount"] for n in namespaces.values()), "metric": index.metric,
                     "vectorType": index.vector_type}

    def _serverless_only(self, index: Index) -> None:
        if not index.serverless:
            raise bad_request("Namespace operations are only supported for serverless indexes")

    def _list_namespaces(self, index: Index, request: Request, payload: Any) -> tuple[int, Any]:
        self._serverless_only(index)
        params = request.query_params
        limit = _int_param(params.get("limit"), LIST_DEFAULT_LIMIT, "limit")
        if not 1 <= limit <= MAX_LIST_LIMIT:
            raise bad_request(f"limit must be between 1 and {MAX_LIST_LIMIT}, got {limit}")
        prefix = params.get("prefix") or ""
        after = _decode_token(params.get("paginationToken"))
        names = sorted(name for name, ns in index.namespaces.items()
                       if name.startswith(prefix) and (name != DEFAULT_NAMESPACE or ns.records))
        remaining = [name for name in names if after is None or name > after]
        page = remaining[:limit]
        body: dict[str, Any] = {"namespaces": [_description(name, index.namespaces[name]) for name in page],
                                "total_count": len(names)}
        if len(remaining) > limit:
            body["pagination"] = {"next": base64.urlsafe_b64encode(page[-1].encode()).decode()}
        return 200, body

    def _create_namespace(self, index: Index, request: Request, payload: Any) -> tuple[int, Any]:
        self._serverless_only(index)
        name = (payload or {}).get("name")
        if not isinstance(name, str) or not name or name == DEFAULT_NAMESPACE:
            raise bad_request(f"Namespace name {name!r} is invalid or reserved")
        if name in index.namespaces:
            raise PineconeError(409, f"Namespace {name} already exists")
        index.namespaces[name] = Namespace()
        return 201, _description(name, index.namespaces[name])

    def _describe_namespace(self, index: Index, request: Request, payload: Any) -> tuple[int, Any]:
        self._serverless_only(index)
        name = request.path_params["namespace"]
        if name not in index.namespaces:
            raise PineconeError(404, f"Namespace {name} not found")
        return 200, _description(name, index.namespaces[name])

    def _delete_namespace(self, index: Index, request: Request, payload: Any) -> tuple[int, Any]:
        self._serverless_only(index)
        name = request.path_params["namespace"]
        if name not in index.namespaces or name == DEFAULT_NAMESPACE:
            raise PineconeError(404, f"Namespace {name} not found")
        del index.namespaces[name]
        return 202, {}


def _fault(status: int) -> PineconeError:
    """An injected 429 or 5xx, worded as Pinecone words them."""
    return PineconeError(status, _FAULT_MESSAGES.get(status, f"Server error (HTTP {status}); retry later."))


def _shown(namespace: str) -> str:
    """How a response names the namespace: the default one as ``""``."""
    return "" if namespace == DEFAULT_NAMESPACE else namespace


def _description(name: str, namespace: Namespace) -> dict[str, Any]:
    return {"name": name, "record_count": str(len(namespace.records))}


def _int_param(raw: str | None, default: int, what: str) -> int:
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise bad_request(f"{what} must be an integer, got {raw!r}") from None


def _decode_token(token: str | None) -> str | None:
    if not token:
        return None
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (ValueError, UnicodeDecodeError):
        raise bad_request("The pagination token is invalid") from None
