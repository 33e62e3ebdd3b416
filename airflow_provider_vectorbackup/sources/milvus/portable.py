"""A collection for one restored from another engine: the definition ``MilvusSource.portable_definition`` gives.

Built so the stored form a restore writes reads back unchanged, on Milvus Lite and on a server:

- the primary key is a field ``id``, INT64 or VARCHAR (auto_id off). A server counts VARCHAR's
  ``max_length`` in UTF-8 bytes (Lite counts characters), so it is four bytes per character of the
  longest id, at least 64, at most 65,535;
- each vector field is a FLOAT_VECTOR (with an AUTOINDEX of the field's metric) or a
  SPARSE_FLOAT_VECTOR (SPARSE_INVERTED_INDEX: Milvus indexes sparse vectors only by inner product,
  so only a ``dot_product`` sparse field is taken; Milvus records no sparse dimension, so the
  definition's is ``None``). Every vector field is NOT nullable: Lite reads a null dense vector back
  as zeros and refuses a null sparse one, so a document lacking a vector is refused, not changed;
- the payload lives in the dynamic field, as JSON: a key a document lacks stays absent, a null stays
  null, and a value JSON has no form for is kept as the codec's envelope (values.json_value). There
  are no declared payload fields.

Consistency ``Strong`` and one shard are set explicitly, so the definition reads back the same from
a server (whose default is Bounded) as from Lite. Pure: builds the definition, sends nothing. No
Airflow here.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_vectorbackup.sources.milvus.schema import METRICS

ID_FIELD = "id"
MAX_VARCHAR = 65535
MIN_VARCHAR = 64
MAX_DIMENSION = 32768
INDEX_METRICS = {metric: milvus for milvus, metric in METRICS.items() if metric in ("cosine", "euclidean",
                                                                                     "dot_product")}
"""Milvus metric type per metric of the definitions' vocabulary."""


def portable_definition(portable: Any) -> dict[str, Any]:
    """The definition of a collection holding ``portable`` (a :class:`~...sources.portable.PortableCollection`).

    :raises ValueError: something the collection cannot hold (an id type, a dtype, a sparse metric other than
        dot_product, a field named ``id``); the translation checks the capabilities first, so this means a gap there.
    """
    if portable.id_type == "int":
        id_field: dict[str, Any] = {"name": ID_FIELD, "type": "INT64", "is_primary": True}
    elif portable.id_type == "string":
        length = min(MAX_VARCHAR, max(MIN_VARCHAR, 4 * portable.max_id_length))
        id_field = {"name": ID_FIELD, "type": "VARCHAR", "is_primary": True, "params": {"max_length": length}}
    else:
        raise ValueError(f"a Milvus collection cannot have ids of type {portable.id_type!r}; it takes int and string")
    if ID_FIELD in portable.vectors or ID_FIELD in portable.payload:
        raise ValueError(f"field name {ID_FIELD!r} is the primary key of a restored collection; rename the field")
    fields = [id_field]
    indexes = []
    vectors = {}
    for name, spec in portable.vectors.items():
        field, index, entry = _vector(name, spec)
        fields.append(field)
        indexes.append(index)
        vectors[name] = entry
    return {
        "engine": "milvus",
        "id": {"type": "int64" if portable.id_type == "int" else "varchar", "field": ID_FIELD},
        "vectors": vectors,
        "native": {"fields": fields, "functions": [], "enable_dynamic_field": True, "auto_id": False,
                   "description": "", "properties": {}, "consistency_level": "Strong", "num_shards": 1,
                   "partitions": ["_default"], "num_partitions": None,
                   "indexes": sorted(indexes, key=lambda i: (i["field_name"], i["index_name"]))},
    }


def _vector(name: str, spec: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """One vector field: its field, its index and its ``vectors`` entry."""
    kind, dtype, dimension, metric = spec["kind"], spec.get("dtype"), spec.get("dimension"), spec.get("metric")
    if metric not in INDEX_METRICS:
        raise ValueError(f"vector field {name!r} has metric {metric!r}; Milvus indexes {sorted(INDEX_METRICS)}")
    if kind == "dense" and dtype == "float32":
        if not isinstance(dimension, int) or not 1 <= dimension <= MAX_DIMENSION:
            raise ValueError(f"vector field {name!r} has dimension {dimension!r}; a FLOAT_VECTOR takes 1 to "
                             f"{MAX_DIMENSION}")
        field = {"name": name, "type": "FLOAT_VECTOR", "params": {"dim": dimension}}
        index_type = "AUTOINDEX"
    elif kind == "sparse" and dtype in (None, "float32"):
        if metric != "dot_product":
            raise ValueError(f"sparse vector field {name!r} has metric {metric!r}; Milvus indexes sparse vectors "
                             f"only by dot_product (IP)")
        field, index_type, dimension = {"name": name, "type": "SPARSE_FLOAT_VECTOR"}, "SPARSE_INVERTED_INDEX", None
    else:
        raise ValueError(f"vector field {name!r} is {kind} {dtype}; a Milvus Lite collection holds dense float32 "
                         f"and sparse float32 vectors")
    index = {"field_name": name, "index_name": name, "index_type": index_type, "metric_type": INDEX_METRICS[metric],
             "params": {}}
    entry = {"kind": kind, "dtype": "float32", "dimension": dimension, "metric": metric, "nullable": False}
    return field, index, entry
