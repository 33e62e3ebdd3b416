"""The stand-in's gRPC API: ``weaviate.v1.Weaviate`` (Search, BatchObjects, BatchDelete, TenantsGet, Aggregate)
and the health check the client pings at connect, with the client's own generated protobuf messages.

Search serves what a backup tool asks: listing in UUID order from an ``after`` cursor, filters on
``_id`` (equal, contains-any, and/or), an exact brute-force ``near_vector`` on one named vector
(dense or multivector), chosen properties (nested ones too) and metadata (id, vectors, distance,
creation time). Anything else is answered ``UNIMPLEMENTED``, never silently ignored.

A :class:`~airflow_provider_vectorbackup.testing.faults.FaultPlan` applies to these data calls (not
to the health check): latency, ``RESOURCE_EXHAUSTED`` for its 429s, ``UNAVAILABLE`` for a 503 (the
status the client retries), ``INTERNAL`` for another 5xx, and ``UNAVAILABLE`` for a dropped call.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from concurrent import futures
from typing import Any

import grpc

from weaviate.proto.v1 import (
    aggregate_pb2, base_pb2, batch_delete_pb2, batch_pb2, health_weaviate_pb2, search_get_pb2, tenants_pb2,
    weaviate_pb2_grpc,
)

from airflow_provider_vectorbackup.testing.faults import FaultInjector
from airflow_provider_vectorbackup.testing.weaviate.store import (
    ACTIVE, INACTIVE, OFFLOADED, NotFound, Refused, StoredObject, Store, canonical_uuid, distance, max_sim_distance,
    pack_multi, pack_single, unpack_multi, unpack_single,
)
from airflow_provider_vectorbackup.testing.weaviate.values import PropertyError, from_batch, to_properties

DEFAULT_LIMIT = 10
"""QUERY_DEFAULTS_LIMIT: the page a search without a limit gets."""
_STATUS = {ACTIVE: tenants_pb2.TENANT_ACTIVITY_STATUS_ACTIVE, INACTIVE: tenants_pb2.TENANT_ACTIVITY_STATUS_INACTIVE,
           OFFLOADED: tenants_pb2.TENANT_ACTIVITY_STATUS_OFFLOADED}
_F = base_pb2.Filters


class Unimplemented(Exception):
    """A request feature the stand-in does not serve."""


def _guarded(method: Callable[..., Any]) -> Callable[..., Any]:
    """Authenticate, inject the planned fault, then map the store's errors to the status codes a real server uses."""

    def call(self: WeaviateService, request: Any, context: grpc.ServicerContext) -> Any:
        if self.api_key is not None:
            given = dict(context.invocation_metadata()).get("authorization", "")
            if given != f"Bearer {self.api_key}":
                context.abort(grpc.StatusCode.UNAUTHENTICATED, "unauthorized: invalid api key")
        latency, fault = self.faults.next_fault()
        if latency:
            time.sleep(latency)  # injected latency
        if fault == "rate_limit":
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "rate limited (injected fault)")
        if fault == "drop" or (fault == "server_error" and self.faults.plan.server_error_status == 503):
            context.abort(grpc.StatusCode.UNAVAILABLE, "the server is unavailable (injected fault)")
        if fault == "server_error":
            context.abort(grpc.StatusCode.INTERNAL, "internal error (injected fault)")
        try:
            with self.store.lock:
                return method(self, request, context)
        except NotFound as exc:
            context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
        except (Refused, PropertyError) as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except Unimplemented as exc:
            context.abort(grpc.StatusCode.UNIMPLEMENTED, f"not served by the Weaviate stand-in: {exc}")

    return call


def _matches(filters: base_pb2.Filters, obj: StoredObject) -> bool:
    op = filters.operator
    if op in (_F.OPERATOR_AND, _F.OPERATOR_OR):
        found = (_matches(f, obj) for f in filters.filters)
        return all(found) if op == _F.OPERATOR_AND else any(found)
    path = list(filters.on) or ([filters.target.property] if filters.target.property else [])
    if path != ["_id"]:
        raise Unimplemented(f"filters on {path!r} (only _id is served)")
    if op == _F.OPERATOR_EQUAL:
        return obj.uuid == canonical_uuid(filters.value_text)
    if op == _F.OPERATOR_NOT_EQUAL:
        return obj.uuid != canonical_uuid(filters.value_text)
    if op == _F.OPERATOR_CONTAINS_ANY:
        return obj.uuid in {canonical_uuid(v) for v in filters.value_text_array.values}
    raise Unimplemented(f"filter operator {_F.Operator.Name(op)}")


def _wanted(request: search_get_pb2.PropertiesRequest | None, cls: dict[str, Any]) -> dict[str, Any]:
    """``{name: None or {nested name: ...}}``: the properties a result carries (no request: all but blobs)."""
    wanted: dict[str, Any] = {}
    if request is None or request.return_all_nonref_properties:
        wanted.update({p["name"]: None for p in cls["properties"] if p["dataType"][0] != "blob"})
    if request is None:
        return wanted
    wanted.update({name: None for name in request.non_ref_properties})

    def nested(obj_request: search_get_pb2.ObjectPropertiesRequest) -> dict[str, Any]:
        inner: dict[str, Any] = {name: None for name in obj_request.primitive_properties}
        inner.update({o.prop_name: nested(o) for o in obj_request.object_properties})
        return inner

    wanted.update({o.prop_name: nested(o) for o in request.object_properties})
    if request.ref_properties:
        raise Unimplemented("cross-reference properties")
    return wanted


class WeaviateService(weaviate_pb2_grpc.WeaviateServicer):
    def __init__(self, store: Store, api_key: str | None, faults: FaultInjector) -> None:
        self.store, self.api_key, self.faults = store, api_key, faults

    # -- search ----------------------------------------------------------------------------------

    def _query(self, request: search_get_pb2.SearchRequest, cls: dict[str, Any]) -> tuple[str, Any, bool]:
        """The target vector, the query (a vector or rows) and whether it is a multivector."""
        near = request.near_vector
        targets = list(near.targets.target_vectors) or list(near.target_vectors)
        configs = cls["vectorConfig"]
        if not targets:
            if len(configs) != 1:
                raise Refused("multiple target vectors exist in the collection, please specify which one(s) to "
                              "search")
            targets = list(configs)
        if len(targets) != 1:
            raise Unimplemented("searching several target vectors at once")
        target = targets[0]
        if target not in configs:
            raise Refused(f"target vector \"{target}\" does not exist in collection {cls['class']}")
        vectors = list(near.vectors) or [v for f in near.vector_for_targets if f.name == target for v in f.vectors]
        if vectors:
            value = vectors[0]
            if value.type == base_pb2.Vectors.VECTOR_TYPE_MULTI_FP32:
                return target, unpack_multi(value.vector_bytes), True
            return target, unpack_single(value.vector_bytes), False
        raw = near.vector_bytes or near.vector_per_target.get(target) or next(
            (f.vector_bytes for f in near.vector_for_targets if f.name == target), b"")
        if raw:
            return target, unpack_single(raw), False
        if near.vector:
            return target, list(near.vector), False
        raise Refused("near_vector: no vector given")

    def _result(self, obj: StoredObject, cls: dict[str, Any], request: search_get_pb2.SearchRequest,
                found_distance: float | None) -> search_get_pb2.SearchResult:
        md = request.metadata
        metadata = search_get_pb2.MetadataResult(id=obj.uuid, id_as_bytes=uuid.UUID(obj.uuid).bytes)
        if md.creation_time_unix:
            metadata.creation_time_unix, metadata.creation_time_unix_present = obj.created_ms, True
        if md.distance and found_distance is not None:
            metadata.distance, metadata.distance_present = found_distance, True
        names = list(md.vectors) or (list(cls["vectorConfig"]) if md.vector else [])
        for name in names:
            value = obj.vectors.get(name)
            if value is None:
                continue
            multi = bool(value) and isinstance(value[0], list)
            metadata.vectors.append(base_pb2.Vectors(
                name=name, vector_bytes=pack_multi(value) if multi else pack_single(value),  # type: ignore[arg-type]
                type=base_pb2.Vectors.VECTOR_TYPE_MULTI_FP32 if multi else base_pb2.Vectors.VECTOR_TYPE_SINGLE_FP32))
        wanted = _wanted(request.properties if request.HasField("properties") else None, cls)
        properties = search_get_pb2.PropertiesResult(target_collection=cls["class"],
                                                     non_ref_props=to_properties(obj.properties, cls, wanted))
        return search_get_pb2.SearchResult(metadata=metadata, properties=properties)

    @_guarded
    def Search(self, request: search_get_pb2.SearchRequest, context: grpc.ServicerContext) -> Any:
        started = time.monotonic()
        for unsupported in ("hybrid_search", "bm25_search", "near_object", "near_text", "near_image", "group_by",
                            "generative", "rerank"):
            if request.HasField(unsupported):
                raise Unimplemented(unsupported)
        if request.sort_by:
            raise Unimplemented("sort_by")
        cls, shard = self.store.shard(request.collection, request.tenant)
        objects = sorted(shard.objects.values(), key=lambda o: uuid.UUID(o.uuid).bytes)
        if request.HasField("filters"):
            objects = [o for o in objects if _matches(request.filters, o)]
        limit = request.limit or DEFAULT_LIMIT
        distances: dict[str, float] = {}
        if request.HasField("near_vector"):
            if request.after:
                raise Refused("cursor api: invalid 'after' parameter: other params cannot be set along with after")
            target, query, multi = self._query(request, cls)
            metric = cls["vectorConfig"][target]["vectorIndexConfig"]["distance"]
            for obj in objects:
                value = obj.vectors.get(target)
                if value is None:
                    continue
                stored_multi = bool(value) and isinstance(value[0], list)
                if stored_multi != multi:
                    raise Refused(f"target vector \"{target}\" holds {'multi' if stored_multi else 'single'} vectors")
                distances[obj.uuid] = (max_sim_distance(metric, query, value) if multi  # type: ignore[arg-type]
                                       else distance(metric, query, value))  # type: ignore[arg-type]
            objects = sorted((o for o in objects if o.uuid in distances), key=lambda o: distances[o.uuid])
        elif request.after:
            if request.HasField("filters") or request.offset:
                raise Refused("cursor api: invalid 'after' parameter: other params cannot be set along with after")
            after = uuid.UUID(canonical_uuid(request.after)).bytes
            objects = [o for o in objects if uuid.UUID(o.uuid).bytes > after]
        page = objects[request.offset:request.offset + limit]
        return search_get_pb2.SearchReply(
            took=time.monotonic() - started,
            results=[self._result(o, cls, request, distances.get(o.uuid)) for o in page])

    # -- writes ----------------------------------------------------------------------------------

    def _vectors(self, obj: batch_pb2.BatchObject, cls: dict[str, Any]) -> dict[str, Any]:
        if obj.vector_bytes or obj.vector:
            raise PropertyError(f"collection {cls['class']} is configured with named vectors: a vector must name "
                                f"its target")
        vectors: dict[str, Any] = {}
        for value in obj.vectors:
            config = cls["vectorConfig"].get(value.name)
            if config is None:
                raise PropertyError(f"collection {cls['class']} does not have configuration for vector "
                                    f"\"{value.name}\"")
            multi = (config["vectorIndexConfig"].get("multivector") or {}).get("enabled", False)
            given_multi = value.type == base_pb2.Vectors.VECTOR_TYPE_MULTI_FP32
            if multi != given_multi:
                raise PropertyError(f"vector \"{value.name}\" is configured as a "
                                    f"{'multi' if multi else 'regular'} vector, got a "
                                    f"{'multi' if given_multi else 'regular'} vector")
            vectors[value.name] = unpack_multi(value.vector_bytes) if multi else unpack_single(value.vector_bytes)
        return vectors

    @_guarded
    def BatchObjects(self, request: batch_pb2.BatchObjectsRequest, context: grpc.ServicerContext) -> Any:
        started = time.monotonic()
        errors = []
        for index, obj in enumerate(request.objects):
            try:
                cls, shard = self.store.shard(obj.collection, obj.tenant)
                properties = from_batch(obj.properties, cls, cls["class"]) if obj.HasField("properties") else {}
                vectors = self._vectors(obj, cls)
                unvectorized = [name for name, config in cls["vectorConfig"].items()
                                if name not in vectors and "none" not in config["vectorizer"]]
                if unvectorized:
                    raise PropertyError(f"vectorizing {', '.join(unvectorized)} is not served by the stand-in (it runs "
                                        f"no module): give the vector")
                for name, value in vectors.items():
                    length = len(value[0]) if value and isinstance(value[0], list) else len(value)
                    expected = shard.dimensions.setdefault(name, length)
                    if length != expected:
                        raise PropertyError(f"inconsistent vector lengths for \"{name}\": new node has a vector with "
                                            f"length {length}. Existing nodes have vectors with length {expected}")
                key = canonical_uuid(obj.uuid)
                previous = shard.objects.get(key)
                shard.objects[key] = StoredObject(key, properties, vectors,
                                                  **({"created_ms": previous.created_ms} if previous else {}))
            except (NotFound, Refused, PropertyError) as exc:
                errors.append(batch_pb2.BatchObjectsReply.BatchError(index=index, error=str(exc)))
        return batch_pb2.BatchObjectsReply(took=time.monotonic() - started, errors=errors)

    @_guarded
    def BatchDelete(self, request: batch_delete_pb2.BatchDeleteRequest, context: grpc.ServicerContext) -> Any:
        started = time.monotonic()
        _, shard = self.store.shard(request.collection, request.tenant)
        matched = [o for o in shard.objects.values() if _matches(request.filters, o)]
        if not request.dry_run:
            for obj in matched:
                del shard.objects[obj.uuid]
        return batch_delete_pb2.BatchDeleteReply(
            took=time.monotonic() - started, matches=len(matched), successful=len(matched), failed=0,
            objects=[batch_delete_pb2.BatchDeleteObject(uuid=uuid.UUID(o.uuid).bytes, successful=True)
                     for o in matched] if request.verbose else [])

    # -- tenants and counts ----------------------------------------------------------------------

    @_guarded
    def TenantsGet(self, request: tenants_pb2.TenantsGetRequest, context: grpc.ServicerContext) -> Any:
        started = time.monotonic()
        tenants = self.store.list_tenants(request.collection)
        names = list(request.names.values) if request.HasField("names") else sorted(tenants)
        return tenants_pb2.TenantsGetReply(took=time.monotonic() - started, tenants=[
            tenants_pb2.Tenant(name=name, activity_status=_STATUS[tenants[name]]) for name in names if name in tenants])

    @_guarded
    def Aggregate(self, request: aggregate_pb2.AggregateRequest, context: grpc.ServicerContext) -> Any:
        started = time.monotonic()
        if request.aggregations or request.HasField("group_by"):
            raise Unimplemented("aggregations other than the object count")
        _, shard = self.store.shard(request.collection, request.tenant)
        objects = list(shard.objects.values())
        if request.HasField("filters"):
            objects = [o for o in objects if _matches(request.filters, o)]
        return aggregate_pb2.AggregateReply(took=time.monotonic() - started,
                                            single_result=aggregate_pb2.AggregateReply.Single(objects_count=len(objects)))


def _health(request: Any, context: grpc.ServicerContext) -> Any:
    return health_weaviate_pb2.WeaviateHealthCheckResponse(
        status=health_weaviate_pb2.WeaviateHealthCheckResponse.SERVING)


def start_grpc(store: Store, api_key: str | None, faults: FaultInjector, host: str,
               port: int) -> tuple[grpc.Server, int]:
    """A gRPC server on ``host:port`` (0: a free one), started; returns it and its port."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    weaviate_pb2_grpc.add_WeaviateServicer_to_server(WeaviateService(store, api_key, faults), server)
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("grpc.health.v1.Health", {
        "Check": grpc.unary_unary_rpc_method_handler(
            _health, request_deserializer=health_weaviate_pb2.WeaviateHealthCheckRequest.FromString,
            response_serializer=health_weaviate_pb2.WeaviateHealthCheckResponse.SerializeToString)})])
    bound = server.add_insecure_port(f"{host}:{port}")
    server.start()
    return server, bound
