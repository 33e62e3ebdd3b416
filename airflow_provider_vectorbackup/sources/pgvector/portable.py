"""A table for a collection restored from another engine: the definition ``PgvectorSource.portable_definition`` gives.

The table is built so that the stored form a restore writes reads back unchanged:

- the primary key is a column ``id`` of type ``bigint``, ``text`` or ``uuid``;
- each vector field is a column: dense float32 ``vector(n)``, float16 ``halfvec(n)``, sparse
  ``sparsevec(n)``, NOT NULL unless the field is nullable. A dense column gets an HNSW index with the
  field's metric where pgvector can index its dimension (vector up to 2,000, halfvec up to 4,000);
  the definition records no metric (``None``) for a larger one, nor for a sparse column: an HNSW index
  on sparsevec refuses vectors of more than 1,000 non-zero elements, which a restore cannot promise;
- each payload field is a column of its kind: ``string`` text, ``int`` bigint, ``float`` double
  precision, ``bool`` boolean, ``date`` date, ``uuid`` uuid, ``bytes`` bytea. The kinds PostgreSQL
  has a type for but would not give back as sent are jsonb holding the codec's envelope:
  ``datetime`` (timestamptz keeps the instant, not the offset; timestamp drops it; a kind's values
  may be either), ``time`` (the same with timetz), ``decimal`` (numeric prints ``1E+2`` as ``100``
  and has no ``-0``). ``json`` is jsonb.

A row has a column for every field, but a document need not have every field, and a NULL
cannot tell an absent value from a null one. So the table has one more column,
``_vectorbackup_nulls`` (catalog.NULLS_COLUMN, ``text[]``) naming the fields whose value is null:
a NULL payload column is a field the document lacks unless that column names it. The column is
the marker (its definition carries it to any restore of the table) and is never a payload field.

Pure: builds the definition, sends nothing. No Airflow here.
"""

from __future__ import annotations

import re
from typing import Any

from airflow_provider_vectorbackup.sources.pgvector.catalog import ENGINE, NULLS_COLUMN

ID_COLUMN = "id"
ID_TYPES = {"int": ("bigint", "int8"), "string": ("text", "text"), "uuid": ("uuid", "uuid")}
PAYLOAD_TYPES = {"string": ("text", "text"), "int": ("bigint", "int8"), "float": ("double precision", "float8"),
                 "bool": ("boolean", "bool"), "date": ("date", "date"), "uuid": ("uuid", "uuid"),
                 "bytes": ("bytea", "bytea"), "datetime": ("jsonb", "jsonb"), "time": ("jsonb", "jsonb"),
                 "decimal": ("jsonb", "jsonb"), "json": ("jsonb", "jsonb")}
"""Each payload kind's column type, as ``format_type`` and ``pg_type.typname`` name it."""
DENSE_TYPES = {"float32": ("vector", 2000), "float16": ("halfvec", 4000)}
"""Dense column type per dtype, and the largest dimension pgvector's HNSW index takes."""
MAX_DIMENSION = {"vector": 16000, "halfvec": 16000, "sparsevec": 1_000_000_000}
OPERATORS = {"cosine": "cosine", "euclidean": "l2", "dot_product": "ip", "manhattan": "l1"}
"""The middle word of pgvector's operator class per metric (``vector_cosine_ops``)."""

_KEYWORDS = frozenset("""
all analyse analyze and any array as asc asymmetric authorization between bigint binary bit boolean both case cast
char character check coalesce collate collation column concurrently constraint create cross current_catalog
current_date current_role current_schema current_time current_timestamp current_user dec decimal default deferrable
desc distinct do else end except exists extract false fetch float for foreign freeze from full grant greatest group
grouping having ilike in initially inner inout int integer intersect interval into is isnull join json json_array
json_arrayagg json_exists json_object json_objectagg json_query json_scalar json_serialize json_table json_value
lateral leading least left like limit localtime localtimestamp merge_action national natural nchar none normalize
not notnull null nullif numeric offset on only or order out outer overlaps overlay placing position precision
primary real references returning right row select session_user setof similar smallint some substring symmetric
system_user table tablesample then time timestamp to trailing treat trim true union unique user using values varchar
variadic verbose when where window with xmlattributes xmlconcat xmlelement xmlexists xmlforest xmlnamespaces
xmlparse xmlpi xmlroot xmlserialize xmltable
""".split())
"""PostgreSQL 18's keywords that are not unreserved (``pg_get_keywords()``): an index definition quotes them."""
_PLAIN = re.compile(r"^[a-z_][a-z0-9_]*$")


def portable_definition(portable: Any) -> dict[str, Any]:
    """The definition of a table holding ``portable`` (a :class:`~...sources.portable.PortableCollection`).

    :raises ValueError: something the table cannot hold (a dtype, a metric, a dimension, a field named ``id`` or
        ``_vectorbackup_nulls``); the translation checks the capabilities first, so this means a gap there.
    """
    if portable.id_type not in ID_TYPES:
        raise ValueError(f"a pgvector table cannot have ids of type {portable.id_type!r}; it takes {sorted(ID_TYPES)}")
    for reserved in (ID_COLUMN, NULLS_COLUMN):
        if reserved in portable.vectors or reserved in portable.payload:
            raise ValueError(f"field name {reserved!r} is a column of its own in a restored table; rename the field")
    id_type, id_typname = ID_TYPES[portable.id_type]
    columns = [_column(ID_COLUMN, id_type, id_typname, not_null=True)]
    vectors: dict[str, dict[str, Any]] = {}
    indexes = []
    for name, spec in portable.vectors.items():
        typname, dimension, metric = _vector_column(name, spec)
        nullable = spec.get("nullable", True) is not False
        columns.append(_column(name, f"{typname}({dimension})", typname, not_null=not nullable, dimension=dimension))
        if metric is not None:
            indexes.append({"unique": False, "using": f"hnsw ({_quoted(name)} {typname}_{OPERATORS[metric]}_ops)"})
        vectors[name] = {"kind": spec["kind"], "dtype": spec["dtype"], "dimension": dimension, "metric": metric,
                         "nullable": nullable}
    for name, kind in portable.payload.items():
        if kind not in PAYLOAD_TYPES:
            raise ValueError(f"payload field {name!r} has kind {kind!r}, which is not a portable kind")
        columns.append(_column(name, *PAYLOAD_TYPES[kind], not_null=False))
    columns.append({**_column(NULLS_COLUMN, "text[]", "text", not_null=False), "array": True})
    return {
        "engine": ENGINE,
        "id": {"type": id_type, "field": ID_COLUMN},
        "vectors": vectors,
        "native": {"schema_version": 1, "columns": columns, "primary_key": [ID_COLUMN], "constraints": [],
                   "indexes": sorted(indexes, key=lambda i: (i["using"], i["unique"]))},
    }


def _vector_column(name: str, spec: dict[str, Any]) -> tuple[str, int, str | None]:
    """The column type, dimension and indexed metric (None: no index) of one vector field."""
    kind, dtype, dimension, metric = spec["kind"], spec.get("dtype"), spec.get("dimension"), spec.get("metric")
    if kind == "dense" and dtype in DENSE_TYPES:
        typname, indexable = DENSE_TYPES[dtype]
    elif kind == "sparse" and dtype in (None, "float32"):
        typname, indexable = "sparsevec", 0
    else:
        raise ValueError(f"vector field {name!r} is {kind} {dtype}; a pgvector table holds dense float32 or float16 "
                         f"and sparse float32 vectors")
    if not isinstance(dimension, int) or not 1 <= dimension <= MAX_DIMENSION[typname]:
        raise ValueError(f"vector field {name!r} has dimension {dimension!r}; a {typname} column takes 1 to "
                         f"{MAX_DIMENSION[typname]}")
    if metric is not None and metric not in OPERATORS:
        raise ValueError(f"vector field {name!r} has metric {metric!r}; pgvector indexes {sorted(OPERATORS)}")
    return typname, dimension, metric if metric is not None and dimension <= indexable else None


def _column(name: str, type_: str, typname: str, *, not_null: bool, dimension: int | None = None) -> dict[str, Any]:
    """A column as catalog.read_definition describes it."""
    return {"name": name, "type": type_, "typname": typname, "array": False, "not_null": not_null, "default": None,
            "serial": False, "identity": None, "generated": None, "collation": None, "dimension": dimension}


def _quoted(name: str) -> str:
    """``name`` as PostgreSQL writes an identifier in an index definition (quote_ident)."""
    if _PLAIN.match(name) and name not in _KEYWORDS:
        return name
    return '"' + name.replace('"', '""') + '"'
