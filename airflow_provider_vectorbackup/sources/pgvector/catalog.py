"""A table's definition read from ``pg_catalog``, and the same table created again from it.

PostgreSQL has no ``pg_get_tabledef``, so the definition is assembled from the catalog: columns
with their exact types (``format_type``), NOT NULL, defaults, identity, serial and generated
columns, collations; the primary key; CHECK, UNIQUE and EXCLUDE constraints; and every other
index (``hnsw``/``ivfflat`` with their operator classes and ``WITH`` options). Restoring into
another table name must describe back as the same definition, so nothing in it carries a name
PostgreSQL derives from the table: constraints and indexes are kept by their definition only
(their generated names differ after a rename), sorted, and a ``serial`` column is recorded as
such rather than as ``nextval('<table>_id_seq')``. Foreign keys are not kept: one table's backup
cannot restore what it references. PostgreSQL 18's NOT NULL constraints (``contype 'n'``) are
the columns' ``not_null``.

Definitions hold SQL text from the source's catalog (types, defaults, CHECK expressions, index
definitions) and creating a table runs it: restore only snapshots you trust (sign them).
"""

from __future__ import annotations

from typing import Any

from psycopg import sql

from airflow_provider_vectorbackup.sources.pgvector.values import ID_TYPES, VECTOR_TYPES

ENGINE = "pgvector"

OPCLASS_METRICS = {"cosine": "cosine", "ip": "dot_product", "l2": "euclidean", "l1": "manhattan",
                   "hamming": "hamming", "jaccard": "jaccard"}
"""pgvector operator classes (``vector_cosine_ops``, ``bit_hamming_ops``, ...) by their middle word."""

NULLS_COLUMN = "_vectorbackup_nulls"
"""A ``text[]`` column with this name makes a table one whose documents may lack fields (the tables a cross-engine
restore creates, portable.py): there a NULL payload column is a field the document lacks, unless this column names
it, and then the field is null. The column itself is no payload field."""


def nulls_column(columns: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The table's :data:`NULLS_COLUMN`, if it has one of type ``text[]``."""
    return next((c for c in columns if c["name"] == NULLS_COLUMN and c["typname"] == "text" and c["array"]), None)


_SERIAL = {"int2": "smallserial", "int4": "serial", "int8": "bigserial"}
_CONSTRAINT_KINDS = {"c": "check", "u": "unique", "x": "exclude"}

_TABLES = """
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relkind = 'r' AND NOT c.relispartition AND EXISTS (
    SELECT 1 FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
    WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
      AND t.typname IN ('vector', 'halfvec', 'sparsevec', 'bit'))
ORDER BY c.relname
"""
_TABLE = """
SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relname = %s AND c.relkind = 'r'
"""
_COLUMNS = """
SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(d.adbin, d.adrelid),
       a.attidentity, a.attgenerated, coalesce(e.typname, t.typname), e.oid IS NOT NULL, a.atttypmod,
       CASE WHEN a.attcollation <> t.typcollation THEN co.collname END,
       pg_get_serial_sequence(format('%%I.%%I', n.nspname, c.relname), a.attname) IS NOT NULL, a.atttypid
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_type e ON e.oid = t.typelem AND t.typcategory = 'A'
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
LEFT JOIN pg_collation co ON co.oid = a.attcollation
WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""
_PRIMARY_KEY = """
SELECT a.attname FROM pg_constraint k, unnest(k.conkey) WITH ORDINALITY AS key(attnum, position)
JOIN pg_attribute a ON a.attnum = key.attnum
WHERE k.conrelid = %s AND k.contype = 'p' AND a.attrelid = k.conrelid ORDER BY key.position
"""
_CONSTRAINTS = "SELECT contype, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s AND contype IN ('c', 'u', 'x')"
_INDEXES = """
SELECT i.indisunique, pg_get_indexdef(i.indexrelid), quote_ident(ic.relname), format('%%I.%%I', n.nspname, c.relname)
FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_class c ON c.oid = i.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE i.indrelid = %s AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid AND k.conrelid = i.indrelid)
"""
_OPCLASSES = """
SELECT a.attname, op.opcname
FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_am am ON am.oid = ic.relam,
     unnest(i.indkey::int2[], i.indclass::oid[]) AS key(attnum, opclass)
JOIN pg_opclass op ON op.oid = key.opclass
JOIN pg_attribute a ON a.attnum = key.attnum
WHERE i.indrelid = %s AND a.attrelid = i.indrelid AND am.amname IN ('hnsw', 'ivfflat')
"""


def table_names(cursor: Any, schema: str) -> list[str]:
    """Tables of ``schema`` with at least one vector, halfvec, sparsevec or bit column: the collections."""
    return [row[0] for row in cursor.execute(_TABLES, (schema,))]


def table_oid(cursor: Any, schema: str, name: str) -> int | None:
    row = cursor.execute(_TABLE, (schema, name)).fetchone()
    return row[0] if row else None


def read_definition(cursor: Any, schema: str, name: str) -> dict[str, Any] | None:
    """The definition of table ``schema.name`` (docs/sources.md, "PostgreSQL + pgvector"), or None if it is not there."""
    oid = table_oid(cursor, schema, name)
    if oid is None:
        return None
    columns = []
    for (column, type_, not_null, default, identity, generated, typname, array, typmod, collation, serial,
         _) in cursor.execute(_COLUMNS, (oid,)):
        serial = bool(serial) and not identity and (default or "").startswith("nextval(")
        columns.append({
            "name": column, "type": type_, "typname": typname, "array": array, "not_null": not_null,
            "default": None if serial or generated else default, "serial": serial,
            "identity": {"a": "always", "d": "by default"}.get(identity),
            "generated": default if generated else None, "collation": collation,
            "dimension": typmod if typname in VECTOR_TYPES and not array and typmod > 0 else None,
        })
    primary_key = [row[0] for row in cursor.execute(_PRIMARY_KEY, (oid,))]
    constraints = sorted(({"kind": _CONSTRAINT_KINDS[kind], "definition": text}
                          for kind, text in cursor.execute(_CONSTRAINTS, (oid,))),
                         key=lambda c: (c["kind"], c["definition"]))
    indexes = sorted((_index(unique, text, index, table) for unique, text, index, table
                      in cursor.execute(_INDEXES, (oid,))), key=lambda i: (i["using"], i["unique"]))
    metrics = _metrics(cursor, oid)
    by_name = {c["name"]: c for c in columns}
    id_column = by_name[primary_key[0]] if len(primary_key) == 1 else None
    return {
        "engine": ENGINE,
        "id": {"type": _id_type(id_column), "field": id_column["name"] if id_column else None},
        "vectors": {c["name"]: {"kind": VECTOR_TYPES[c["typname"]][0], "dtype": VECTOR_TYPES[c["typname"]][1],
                                "dimension": c["dimension"], "metric": metrics.get(c["name"]),
                                "nullable": not c["not_null"]}
                    for c in columns if is_vector(c)},
        "native": {"schema_version": 1, "columns": columns, "primary_key": primary_key,
                   "constraints": constraints, "indexes": indexes},
    }


def is_vector(column: dict[str, Any]) -> bool:
    return column["typname"] in VECTOR_TYPES and not column["array"] and not column["generated"]


def _id_type(column: dict[str, Any] | None) -> str | None:
    if column is None:
        return None
    if column["array"] or column["typname"] not in ID_TYPES:
        return column["type"]  # kept to name it when the scan refuses it
    return ID_TYPES[column["typname"]]


def _index(unique: bool, text: str, index: str, table: str) -> dict[str, Any]:
    """An index by what it is, without its name or its table's: the part of its definition from ``USING``."""
    for only in ("", "ONLY "):
        prefix = f"CREATE {'UNIQUE ' if unique else ''}INDEX {index} ON {only}{table} USING "
        if text.startswith(prefix):
            return {"unique": unique, "using": text[len(prefix):]}
    raise RuntimeError(f"cannot read index definition {text!r} of table {table}")


def _metrics(cursor: Any, oid: int) -> dict[str, str]:
    """Each vector column's metric from its hnsw/ivfflat index's operator class; with several, the first by name."""
    found: dict[str, set[str]] = {}
    for column, opclass in cursor.execute(_OPCLASSES, (oid,)):
        word = opclass.removesuffix("_ops").rsplit("_", 1)[-1]
        if word in OPCLASS_METRICS:
            found.setdefault(column, set()).add(OPCLASS_METRICS[word])
    return {column: sorted(metrics)[0] for column, metrics in found.items()}


# -- creating ------------------------------------------------------------------------------------

def unsupported(cursor: Any, definition: dict[str, Any]) -> list[str]:
    """What in ``definition`` this database cannot hold as a table, each naming the item; empty when it can."""
    if not isinstance(definition, dict) or definition.get("engine") != ENGINE:
        engine = definition.get("engine") if isinstance(definition, dict) else None
        return [f"the definition is {'a ' + repr(engine) if engine else 'a Data API'} collection's, not a "
                f"{ENGINE} table's; a pgvector source recreates only tables it described"]
    native = definition.get("native") or {}
    columns = native.get("columns")
    if not isinstance(columns, list) or not columns:
        return ["the definition lists no columns"]
    problems = []
    by_name = {c["name"]: c for c in columns}
    key = native.get("primary_key") or []
    if len(key) != 1 or key[0] not in by_name or _id_type(by_name[key[0]]) not in ID_TYPES.values():
        problems.append(f"the primary key {key} is not one column of type "
                        f"{', '.join(sorted(set(ID_TYPES.values())))}, which writing idempotently needs")
    for column in columns:
        if cursor.execute("SELECT to_regtype(%s)", (column["type"],)).fetchone()[0] is None:
            hint = (" (the pgvector extension is not installed in this database: CREATE EXTENSION vector)"
                    if column["typname"] in ("vector", "halfvec", "sparsevec") else "")
            problems.append(f"column {column['name']!r} has type {column['type']!r}, which does not exist here{hint}")
        if column.get("collation") and cursor.execute(
                "SELECT 1 FROM pg_collation WHERE collname = %s", (column["collation"],)).fetchone() is None:
            problems.append(f"column {column['name']!r} uses collation {column['collation']!r}, which does not "
                            f"exist here")
    for index in native.get("indexes") or []:
        method = index["using"].split(" ", 1)[0]
        if cursor.execute("SELECT 1 FROM pg_am WHERE amname = %s", (method,)).fetchone() is None:
            problems.append(f"index method {method!r} (index USING {index['using']}) does not exist here")
    return problems


def create_table(cursor: Any, schema: str, name: str, definition: dict[str, Any]) -> None:
    """CREATE TABLE and its indexes from a checked definition, in the caller's transaction."""
    native = definition["native"]
    table = sql.Identifier(schema, name)
    parts = [_column_sql(column) for column in native["columns"]]
    parts.append(sql.SQL("PRIMARY KEY ({})").format(sql.SQL(", ").join(map(sql.Identifier, native["primary_key"]))))
    parts += [sql.SQL(c["definition"]) for c in native.get("constraints") or []]
    cursor.execute(sql.SQL("CREATE TABLE {} ({})").format(table, sql.SQL(", ").join(parts)))
    for index in native.get("indexes") or []:
        cursor.execute(sql.SQL("CREATE {}INDEX ON {} USING {}").format(
            sql.SQL("UNIQUE " if index["unique"] else ""), table, sql.SQL(index["using"])))


def _column_sql(column: dict[str, Any]) -> sql.Composable:
    type_ = _SERIAL[column["typname"]] if column["serial"] else column["type"]
    parts: list[sql.Composable] = [sql.Identifier(column["name"]), sql.SQL(type_)]
    if column.get("collation"):
        parts += [sql.SQL("COLLATE"), sql.Identifier(column["collation"])]
    if column.get("generated"):
        parts.append(sql.SQL("GENERATED ALWAYS AS ({}) STORED").format(sql.SQL(column["generated"])))
    elif column.get("identity"):
        parts.append(sql.SQL(f"GENERATED {column['identity'].upper()} AS IDENTITY"))
    elif column.get("default") is not None:
        parts.append(sql.SQL("DEFAULT {}").format(sql.SQL(column["default"])))
    if column["not_null"]:
        parts.append(sql.SQL("NOT NULL"))
    return sql.SQL(" ").join(parts)
