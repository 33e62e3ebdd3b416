"""A Chroma definition for a portable collection (a restore from another engine): one ``embedding`` and its space.

Chroma keeps flat metadata without a schema, so the payload schema is not used; its one vector
field is ``embedding``, indexed by HNSW in the space of the field's metric.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_vectorbackup.sources.chroma.definition import (
    DEFAULT_INDEXES, ENGINE, HNSW_DEFAULTS, ID, SPACE_METRICS, VECTOR_FIELD,
)
from airflow_provider_vectorbackup.sources.portable import PortableCollection

_SPACES = {metric: space for space, metric in SPACE_METRICS.items()}


def portable_definition(portable: PortableCollection) -> dict[str, Any]:
    """The definition a Chroma collection made for ``portable`` has; pure.

    Once its first record is in, ``collection_definition`` reads back this definition; before, its
    dimension is ``None`` (Chroma fixes it on the first write), which ``create_collection`` takes
    as the same collection. What Chroma cannot hold (ids other than strings, a vector field other
    than one dense float32 ``embedding``, a metric without a space) is kept as asked, so
    ``ChromaSource.unsupported`` names it.
    """
    only = next(iter(portable.vectors.values())) if len(portable.vectors) == 1 else {}
    space = _SPACES.get((portable.vectors.get(VECTOR_FIELD) or only).get("metric"))
    vectors = {field: {key: spec.get(key) for key in ("kind", "dtype", "dimension", "metric")}
               for field, spec in portable.vectors.items()}
    return {
        "engine": ENGINE,
        "id": dict(ID) if portable.id_type == ID["type"] else {"type": portable.id_type, "field": None},
        "vectors": vectors,
        "native": {"configuration": {"hnsw": {**HNSW_DEFAULTS, "space": space}, "spann": None,
                                     "embedding_function": {"type": "legacy"}},
                   "metadata": None, "indexes": DEFAULT_INDEXES},
    }
