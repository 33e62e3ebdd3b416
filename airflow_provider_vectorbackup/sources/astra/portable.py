"""A Data API collection's ``createCollection`` options for a portable collection (a restore from another engine).

A Data API collection has one vector, ``$vector``, and no schema: the options say only its
dimension and metric. No ``defaultId``: it types only the ids the server makes up, and a
restore sends every ``_id``.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_vectorbackup.sources.base import UnsupportedDefinition
from airflow_provider_vectorbackup.sources.portable import PortableCollection

VECTOR_FIELD = "$vector"
SOURCE_MODEL = "other"
"""What the Data API records when no embedding model is named; given, so the options read back as sent."""


def portable_options(portable: PortableCollection) -> dict[str, Any]:
    """The options of a collection for ``portable``; pure. ``{}`` (no vector) when it has no vector field.

    The dimension and metric are the server's to judge, on ``createCollection``, as for any options.

    :raises UnsupportedDefinition: the portable collection has another vector field than one dense
        float32 ``$vector``, or a ``$vector`` without a metric, which no options can say.
    """
    if not portable.vectors:
        return {}
    spec = portable.vectors.get(VECTOR_FIELD) or {}
    if len(portable.vectors) > 1 or (spec.get("kind"), spec.get("dtype")) != ("dense", "float32"):
        fields = ", ".join(f"{name!r} ({s.get('kind')} {s.get('dtype')})" for name, s in portable.vectors.items())
        raise UnsupportedDefinition(f"a Data API collection has one dense float32 vector, {VECTOR_FIELD!r}; it cannot "
                                    f"hold the vector field(s) {fields}. Choose one field, named {VECTOR_FIELD!r}")
    if spec.get("metric") is None:
        raise UnsupportedDefinition(f"a Data API collection's {VECTOR_FIELD!r} needs a metric (cosine, euclidean or "
                                    f"dot_product); the portable collection gives none")
    return {"vector": {"dimension": spec.get("dimension"), "metric": spec.get("metric"),
                       "sourceModel": SOURCE_MODEL}}
