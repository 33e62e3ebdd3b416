"""The stand-in's REST API (``/v1``): readiness, meta, the schema (classes) and tenants, as the client calls them.

Errors are answered as Weaviate answers them: ``{"error": [{"message": ...}]}`` with 422 for a
refused class or tenant change, 404 for a missing class, 401 without the API key.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from airflow_provider_vectorbackup.testing.weaviate.schema import SchemaError
from airflow_provider_vectorbackup.testing.weaviate.store import NotFound, Refused, Store

VERSION = "1.33.0"
"""The Weaviate version the stand-in answers as (named vectors, multivectors, ACTIVE/INACTIVE tenants, gRPC)."""
GRPC_MAX_MESSAGE_SIZE = 104_858_000
_OPEN = frozenset({"/v1/.well-known/ready", "/v1/.well-known/live", "/v1/.well-known/openid-configuration"})


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": [{"message": message}]}, status_code=status)


def build_app(store: Store, api_key: str | None) -> Starlette:
    async def body(request: Request) -> Any:
        raw = await request.body()
        return json.loads(raw) if raw else None

    async def ready(request: Request) -> Response:
        return Response(status_code=200)

    async def openid(request: Request) -> Response:
        return Response(status_code=404)  # no OIDC configured

    async def meta(request: Request) -> Response:
        return JSONResponse({"hostname": f"http://{request.url.netloc}", "modules": {m: {} for m in store.modules},
                             "version": VERSION,
                             "grpcMaxMessageSize": GRPC_MAX_MESSAGE_SIZE})

    async def schema(request: Request) -> Response:
        if request.method == "POST":
            try:
                return JSONResponse(store.create_class(await body(request)))
            except SchemaError as exc:
                return _error(422, str(exc))
        with store.lock:
            return JSONResponse({"classes": list(store.classes.values())})

    async def one_class(request: Request) -> Response:
        name = request.path_params["name"]
        if request.method == "DELETE":
            store.delete_class(name)
            return Response(status_code=200)
        try:
            with store.lock:
                return JSONResponse(store.cls(name))
        except NotFound:
            return Response(status_code=404)

    async def tenants(request: Request) -> Response:
        name = request.path_params["name"]
        try:
            if request.method == "GET":
                return JSONResponse([{"name": n, "activityStatus": s}
                                     for n, s in sorted(store.list_tenants(name).items())])
            given = await body(request)
            if not isinstance(given, list):
                return _error(422, "the body must be a list of tenants")
            if request.method == "DELETE":
                store.delete_tenants(name, [str(n) for n in given])
                return Response(status_code=200)
            return JSONResponse(store.add_tenants(name, given, update=request.method == "PUT"))
        except NotFound as exc:
            return _error(404 if "class" in str(exc) else 422, str(exc))
        except Refused as exc:
            return _error(422, str(exc))

    async def one_tenant(request: Request) -> Response:
        try:
            found = store.list_tenants(request.path_params["name"]).get(request.path_params["tenant"])
        except (NotFound, Refused) as exc:
            return _error(422, str(exc))
        if found is None:
            return Response(status_code=404)
        return JSONResponse({"name": request.path_params["tenant"], "activityStatus": found})

    app = Starlette(routes=[
        Route("/v1/.well-known/ready", ready), Route("/v1/.well-known/live", ready),
        Route("/v1/.well-known/openid-configuration", openid), Route("/v1/meta", meta),
        Route("/v1/schema", schema, methods=["GET", "POST"]),
        Route("/v1/schema/{name}", one_class, methods=["GET", "DELETE"]),
        Route("/v1/schema/{name}/tenants", tenants, methods=["GET", "POST", "PUT", "DELETE"]),
        Route("/v1/schema/{name}/tenants/{tenant}", one_tenant, methods=["GET"]),
    ])

    async def authenticated(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and api_key is not None and scope["path"] not in _OPEN:
            headers = dict(scope.get("headers") or [])
            if headers.get(b"authorization", b"").decode("latin-1") != f"Bearer {api_key}":
                response = JSONResponse({"code": 401, "message": "unauthorized: invalid api key"}, status_code=401)
                await response(scope, receive, send)
                return
        await app(scope, receive, send)

    return authenticated  # type: ignore[return-value]
