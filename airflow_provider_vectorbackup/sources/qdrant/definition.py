"""A Qdrant collection's definition: read from ``get_collection``, and turned back into ``create_collection``.

The definition's ``native`` block keeps what Qdrant itself describes (JSON, ``None`` values left
out, so it does not change with the client's version): ``config`` (``get_collection(name).config``:
vector params per name, sparse vector params, shard/replication/consistency factors, HNSW,
optimizer, WAL, quantization, strict mode, metadata), ``payload_schema`` (the payload indexes,
their point counts left out: those change with the data) and ``aliases`` (sorted names).

Its ``vectors`` block names each vector field: a named vector by its name, the unnamed default
vector as :data:`UNNAMED` (a name Qdrant refuses for vectors, so it never clashes with one).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from qdrant_client.http import models

from airflow_provider_vectorbackup.snapshot import vector_fields
from airflow_provider_vectorbackup.sources.base import UnsupportedDefinition

ENGINE = "qdrant"
UNNAMED = "<unnamed>"
"""The ``$vectors`` field of a collection's unnamed default vector (Qdrant's name for it is ``""``)."""
ID_TYPE = "int_or_uuid"
"""Point ids are unsigned 64-bit integers or UUIDs, both in the same collection if the writer wants."""
VALUE_DTYPE = "float32"
"""What every vector value is stored as: Qdrant answers float32 values whatever ``datatype`` it keeps."""

METRICS = {"Cosine": "cosine", "Dot": "dot_product", "Euclid": "euclidean", "Manhattan": "manhattan"}
_MULTI_METRICS = {"Cosine": "max_sim_cosine", "Dot": "max_sim_dot_product", "Euclid": "max_sim_euclidean"}
MAX_SIZE = 65_536
"""The largest vector size Qdrant takes."""
_READ_ONLY_PARAMS = ("read_fan_out_factor", "read_fan_out_delay_ms")
"""Collection params ``create_collection`` cannot set."""


@dataclass(frozen=True)
class VectorSlot:
    """One vector field: its ``$vectors`` name, its name in Qdrant, its kind and distance."""

    field: str
    qdrant_name: str
    kind: str
    distance: str | None

    @property
    def cosine(self) -> bool:
        return self.distance == "Cosine"


def dump(model: Any) -> Any:
    return model.model_dump(mode="json", exclude_none=True) if model is not None else None


def describe(info: models.CollectionInfo, aliases: list[str]) -> dict[str, Any]:
    """The definition of a collection from its ``get_collection`` answer and its alias names."""
    config = dump(info.config)
    schema = {name: {k: v for k, v in dump(index).items() if k != "points"}
              for name, index in sorted((info.payload_schema or {}).items())}
    native = {"config": config, "payload_schema": schema, "aliases": sorted(aliases)}
    return {"engine": ENGINE, "id": {"type": ID_TYPE, "field": None},
            "vectors": {slot.field: _field(slot, config) for slot in slots(native)}, "native": native}


def _field(slot: VectorSlot, config: Mapping[str, Any]) -> dict[str, Any]:
    """One ``vectors`` entry. Not ``nullable``, although Qdrant lets a point omit a named vector: a scroll
    without ``with_vectors`` looks exactly like that, so points without one count against the guard's
    ``max_missing_fraction`` (raise it for collections that really hold such points)."""
    if slot.kind == vector_fields.SPARSE:
        return {"kind": slot.kind, "dtype": VALUE_DTYPE, "dimension": None, "metric": "dot_product"}
    params = _dense_params(config)[slot.qdrant_name]
    metric = (_MULTI_METRICS if slot.kind == vector_fields.MULTI else METRICS).get(slot.distance or "")
    return {"kind": slot.kind, "dtype": VALUE_DTYPE, "dimension": params.get("size"), "metric": metric}


def unnamed(vectors: Any) -> bool:
    """Whether a dumped ``params.vectors`` is one unnamed vector's params rather than a map of named ones."""
    return isinstance(vectors, Mapping) and "size" in vectors and not isinstance(vectors["size"], Mapping)


def _dense_params(config: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    vectors = (config.get("params") or {}).get("vectors") or {}
    return {"": vectors} if unnamed(vectors) else dict(vectors)


def slots(native: Mapping[str, Any]) -> list[VectorSlot]:
    """Every vector field of a collection, from its definition's ``native`` block."""
    config = native.get("config") or {}
    found = []
    for name, params in _dense_params(config).items():
        kind = vector_fields.MULTI if params.get("multivector_config") else vector_fields.DENSE
        found.append(VectorSlot(name or UNNAMED, name, kind, params.get("distance")))
    for name in (config.get("params") or {}).get("sparse_vectors") or {}:
        found.append(VectorSlot(name, name, vector_fields.SPARSE, None))
    return found


def recreated_parts(definition: Mapping[str, Any]) -> dict[str, Any]:
    """What every Qdrant (local mode too) keeps of a definition: vectors, sparse vectors, metadata.

    Two definitions equal here describe collections that hold the same documents the same way;
    collection-level HNSW/optimizer settings and payload indexes are what local mode drops.
    """
    native = definition.get("native") or {}
    config = native.get("config") or {}
    params = config.get("params") or {}
    return {"id": definition.get("id"), "vectors": definition.get("vectors"),
            "dense": params.get("vectors"), "sparse": params.get("sparse_vectors"), "metadata": config.get("metadata")}


@dataclass(frozen=True)
class Creation:
    """``create_collection`` keyword arguments, payload indexes and aliases, all validated before anything is created."""

    arguments: dict[str, Any]
    payload_indexes: dict[str, Any]
    aliases: list[str]


def creation(name: str, definition: Mapping[str, Any]) -> Creation:
    """How to create ``name`` as ``definition`` says; :class:`UnsupportedDefinition` naming the items otherwise."""
    plan, problems = _plan(definition)
    if problems:
        raise UnsupportedDefinition(f"Qdrant cannot create collection {name!r} as defined: {'; '.join(problems)}; "
                                    f"nothing was created")
    assert plan is not None
    return plan


def problems(definition: Mapping[str, Any]) -> list[str]:
    """What in ``definition`` Qdrant cannot create, each naming the item; empty when it can (sends nothing)."""
    return _plan(definition)[1]


def _plan(definition: Mapping[str, Any]) -> tuple[Creation | None, list[str]]:
    engine = definition.get("engine")
    if engine != ENGINE:
        return None, [f"the definition is a {engine!r} definition, not a Qdrant one (no 'engine': 'qdrant')"]
    native = definition.get("native")
    config = native.get("config") if isinstance(native, Mapping) else None
    if not isinstance(config, Mapping) or not isinstance(config.get("params"), Mapping):
        return None, ["the definition has no native.config.params (Qdrant's own description of the collection)"]
    found = []
    params = dict(config["params"])
    for key in _READ_ONLY_PARAMS:
        if params.pop(key, None) is not None:
            found.append(f"native.config.params.{key} cannot be set when creating a collection")
    for slot in slots(native):
        if slot.kind != vector_fields.SPARSE and slot.distance not in METRICS:
            found.append(f"vector {slot.qdrant_name or UNNAMED!r} has distance {slot.distance!r}, not one of "
                         f"{', '.join(METRICS)}")
    for slot in slots(native):
        size = _dense_params(config).get(slot.qdrant_name, {}).get("size") if slot.kind != vector_fields.SPARSE else 1
        if not isinstance(size, int) or not 1 <= size <= MAX_SIZE:
            found.append(f"vector {slot.qdrant_name or UNNAMED!r} has size {size!r}, not 1 to {MAX_SIZE}")
    found += _declared_problems(definition, native)
    body = {**params, "optimizers_config": config.get("optimizer_config")}
    body.update({key: config.get(key) for key in ("hnsw_config", "wal_config", "quantization_config",
                                                   "strict_mode_config", "metadata")})
    try:
        parsed = models.CreateCollection.model_validate({k: v for k, v in body.items() if v is not None})
        indexes = {field: _index_schema(spec) for field, spec in (native.get("payload_schema") or {}).items()}
    except ValidationError as exc:
        first = exc.errors()[0]
        found.append(f"native.{'.'.join(map(str, first['loc']))} is not valid for Qdrant ({first['msg']})")
        return None, found
    if found:
        return None, found
    arguments = {"vectors_config": parsed.vectors, "sparse_vectors_config": parsed.sparse_vectors}
    for key in ("shard_number", "sharding_method", "replication_factor", "write_consistency_factor", "on_disk_payload",
                "hnsw_config", "wal_config", "optimizers_config", "quantization_config", "strict_mode_config",
                "metadata", "payload", "id_tracker"):
        value = getattr(parsed, key)
        if value is not None:
            arguments[key] = value
    return Creation(arguments, indexes, list(native.get("aliases") or [])), []


def _declared_problems(definition: Mapping[str, Any], native: Mapping[str, Any]) -> list[str]:
    """Where the definition's ``id`` and ``vectors`` blocks say what its ``native`` block would not create.

    A definition read from Qdrant always agrees with itself; one made for another engine's
    collection (``portable.py``) leaves out of ``native`` what Qdrant cannot hold, and this names it.
    """
    found = []
    id_type = (definition.get("id") or {}).get("type", ID_TYPE)
    if id_type != ID_TYPE:
        found.append(f"id type {id_type!r}: Qdrant point ids are unsigned integers or UUIDs")
    config = native.get("config") or {}
    by_field = {slot.field: slot for slot in slots(native)}
    for field, spec in (definition.get("vectors") or {}).items():
        slot = by_field.get(field)
        if slot is None:
            found.append(f"vector field {field!r} ({(spec or {}).get('kind')}, {(spec or {}).get('dtype')}, metric "
                         f"{(spec or {}).get('metric')!r}) is not one Qdrant can create beside the others")
            continue
        held = _field(slot, config)
        keys = ("kind", "dtype", "dimension") + (("metric",) if slot.kind == vector_fields.SPARSE or slot.distance in METRICS else ())
        found += [f"vector field {field!r} has {key} {spec.get(key)!r}, but Qdrant would hold {held[key]!r}"
                  for key in keys if spec.get(key) != held[key]]
    return found


def _index_schema(spec: Mapping[str, Any]) -> Any:
    """The ``field_schema`` of ``create_payload_index`` for one described payload index."""
    info = models.PayloadIndexInfo.model_validate({**spec, "points": 0})
    return info.params if info.params is not None else info.data_type
