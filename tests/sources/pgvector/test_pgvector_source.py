"""PgvectorSource against a real PostgreSQL 18 + pgvector: fidelity through the jobs, one snapshot, faults, secrets."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from airflow_provider_vectorbackup.jobs.dump import DumpOptions, dump_snapshot
from airflow_provider_vectorbackup.jobs.restore import RestoreOptions, restore_snapshot
from airflow_provider_vectorbackup.snapshot.digest import canonical_json
from airflow_provider_vectorbackup.snapshot.errors import VectorLossError
from airflow_provider_vectorbackup.snapshot.guard import check_vector_loss
from airflow_provider_vectorbackup.snapshot.manifest import FieldSummary, VectorSummary
from airflow_provider_vectorbackup.snapshot.reader import open_snapshot
from airflow_provider_vectorbackup.sources.pgvector.client import PgvectorSource
from airflow_provider_vectorbackup.sources.pgvector.scan import UnreadableTable
from airflow_provider_vectorbackup.stores.local import LocalStore
from tests.sources.test_conformance import digest_of, pgvector_documents

SNAPSHOT = "20261205T010000Z-pgvector"

TRICKY = """
CREATE TABLE {s}.by_bigint (
    id bigserial PRIMARY KEY, embedding vector(8), half halfvec(8), terms sparsevec(1000), flags bit(12),
    second vector(3), title text NOT NULL DEFAULT '', price numeric(12, 3) CHECK (price >= 0), tags text[],
    counts integer[], meta jsonb, created timestamptz, day date, raw bytea, score real, ratio double precision,
    ok boolean, amounts numeric[], wait interval, doubled bigint GENERATED ALWAYS AS (id * 2) STORED
);
CREATE INDEX ON {s}.by_bigint USING hnsw (embedding vector_cosine_ops) WITH (m = 8, ef_construction = 32);
CREATE INDEX ON {s}.by_bigint USING ivfflat (second vector_l2_ops) WITH (lists = 2);
CREATE INDEX ON {s}.by_bigint USING hnsw (half halfvec_ip_ops);
CREATE INDEX ON {s}.by_bigint USING hnsw (terms sparsevec_l1_ops);
CREATE INDEX ON {s}.by_bigint USING hnsw (flags bit_jaccard_ops);
CREATE TABLE {s}.by_uuid (id uuid PRIMARY KEY, embedding vector(4) NOT NULL, note text);
CREATE INDEX ON {s}.by_uuid USING hnsw (embedding vector_l2_ops);
CREATE TABLE {s}.by_text (id text PRIMARY KEY, flags bit(16), n numeric);
CREATE INDEX ON {s}.by_text USING hnsw (flags bit_hamming_ops);
CREATE TABLE {s}.no_key (embedding vector(3), note text);
CREATE TABLE {s}.plain (id int PRIMARY KEY, note text)
"""


def _fill(server: Any, schema: str, rows: int = 120) -> None:
    """Rows of every type, written with SQL (not through the source), so the dump reads what PostgreSQL made."""
    with server.connect(autocommit=True) as connection:
        connection.execute(TRICKY.format(s=schema))
        connection.execute(f"""
            INSERT INTO {schema}.by_bigint (embedding, half, terms, flags, second, title, price, tags, counts, meta,
                                            created, day, raw, score, ratio, ok, amounts, wait)
            SELECT CASE WHEN i % 5 = 0 THEN NULL ELSE
                       array_fill(0.1::real, ARRAY[7]) || ARRAY[sin(i)::real] END::real[]::vector,
                   CASE WHEN i % 4 = 0 THEN NULL ELSE ARRAY[CASE WHEN i = 7 THEN 65504 ELSE sin(i) END, -0.0, 6e-8, cos(i), i / 120.0, 0.1, 1.0/3, sin(2 * i)]::real[] END::halfvec,
                   CASE WHEN i % 6 = 0 THEN NULL WHEN i % 6 = 1 THEN '{{}}/1000' ELSE format('{{%s:1.5,%s:%s}}/1000', i, i + 500, i / 7.0) END::sparsevec,
                   CASE WHEN i % 7 = 0 THEN NULL ELSE (i * 37 % 4096)::bit(12) END,
                   ARRAY[i, 1, 2]::real[]::vector,
                   'row ' || i || ' — café 東京', CASE WHEN i = 3 THEN 'NaN' ELSE i * 1.125 END,
                   ARRAY['a', NULL, 'ß'], ARRAY[i, NULL, -2147483648],
                   CASE i % 3 WHEN 0 THEN NULL WHEN 1 THEN '"a jsonb string"'::jsonb
                        ELSE jsonb_build_object('n', i, 'exact', 123456789012345678901234567890.5, 'scaled', 1.50,
                                                'list', jsonb_build_array(1, 'two', false, NULL)) END,
                   timestamptz '1969-07-20 20:17:40.123456+02' + i * interval '97 days',
                   CASE WHEN i = 1 THEN date '0001-01-01' ELSE date '2024-02-29' - i END,
                   CASE WHEN i % 2 = 0 THEN ''::bytea ELSE '\\x00ff'::bytea END,
                   CASE i % 4 WHEN 0 THEN 'NaN'::real WHEN 1 THEN '-Infinity'::real WHEN 2 THEN '-0'::real ELSE (1.0 / i)::real END,
                   CASE i % 3 WHEN 0 THEN 1e308 WHEN 1 THEN 5e-324 ELSE 1.0 / i END::float8,
                   CASE WHEN i % 3 = 0 THEN NULL ELSE i % 2 = 0 END,
                   ARRAY[1.50, NULL, 'NaN', 'Infinity']::numeric[], make_interval(months => i, days => 2, secs => 1.5)
            FROM generate_series(1, {rows}) AS i""")
        connection.execute(f"""INSERT INTO {schema}.by_uuid SELECT gen_random_uuid(), ARRAY[i, 1, 0, -i]::real[]::vector,
                               CASE WHEN i % 2 = 0 THEN NULL ELSE 'n' || i END FROM generate_series(1, 40) AS i""")
        connection.execute(f"""INSERT INTO {schema}.by_text SELECT 'key ' || i || ' é', (i * 911 % 65536)::bit(16),
                               i / 3.0 FROM generate_series(1, 40) AS i""")


def _catalog(server: Any, schema: str, table: str) -> list[tuple[Any, ...]]:
    """What PostgreSQL's catalog says of a table, names derived from the table's left out."""
    with server.connect() as connection:
        columns = connection.execute(
            "SELECT attname, format_type(atttypid, atttypmod), attnotnull, attidentity, attgenerated FROM pg_attribute "
            "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
            (f"{schema}.{table}",)).fetchall()
        constraints = connection.execute(
            "SELECT contype, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass "
            "AND contype <> 'n' ORDER BY 1, 2", (f"{schema}.{table}",)).fetchall()
        indexes = connection.execute(
            "SELECT regexp_replace(indexdef, '^.* USING ', '') FROM pg_indexes WHERE schemaname = %s AND tablename = %s "
            "ORDER BY 1", (schema, table)).fetchall()
    return [*columns, *constraints, *indexes]


def test_tricky_tables_dump_and_restore_through_the_jobs_bit_for_bit(pgvector_server, pg_schema, pgvector_source,
                                                                       tmp_path) -> None:
    _fill(pgvector_server, pg_schema)
    source: PgvectorSource = pgvector_source(page_size=25)
    assert [i.name for i in source.list_collections()] == ["by_bigint", "by_text", "by_uuid", "no_key"]
    store = LocalStore(tmp_path)
    tables = ["by_bigint", "by_uuid", "by_text"]
    outcome = dump_snapshot(source, store, SNAPSHOT, DumpOptions(collections=tables, scan_streams=3))
    manifest = outcome.manifest
    assert manifest.status == "complete", outcome  # the default policy: NULL vectors are data, noted
    assert manifest.collection("by_bigint").warnings == [
        f"{missing} of 120 document(s) have no value for nullable vector field {field!r} (NULL in the source)"
        for field, missing in (("embedding", 24), ("half", 30), ("terms", 20), ("flags", 17))]
    assert manifest.collection("by_uuid").warnings == []
    assert manifest.collection("by_bigint").scan["mode"] == "pk-ranges"
    assert manifest.collection("by_bigint").scan["server_count"] == 120
    report = restore_snapshot(store, SNAPSHOT, source, RestoreOptions(target_prefix="back_"))
    assert report["ok"], report
    for table in tables:
        result = report["collections"][table]
        assert result["digest_restored"] == result["digest_expected"] == manifest.collection(table).content_digest
        assert result["recall_at_10"] == 1.0, result
        assert _catalog(pgvector_server, pg_schema, table) == _catalog(pgvector_server, pg_schema, f"back_{table}")
        assert source.collection_definition(f"back_{table}") == source.collection_definition(table)
    assert report["collections"]["by_bigint"]["recall_by_field"] == dict.fromkeys(
        ("embedding", "second", "half", "terms", "flags"), 1.0)  # sparse by Manhattan distance too
    assert not report["collections"]["by_bigint"].get("recall_not_measured")

    read = {}
    snapshot = open_snapshot(tmp_path / SNAPSHOT)
    for document in snapshot.records("by_bigint"):
        read[document["_id"]] = document
    first = read[2]  # written with SQL above: every value as the scan gives it
    assert first["payload"]["wait"] == "P2M2DT1.5S"  # interval, in ISO 8601 (no envelope holds months)
    assert first["payload"]["created"] == {"$backupType": "datetime", "value": "1970-01-30T18:17:40.123456+00:00"}
    assert first["payload"]["meta"]["scaled"] == {"$backupType": "decimal", "value": "1.50"}
    assert first["payload"]["meta"]["exact"] == {"$backupType": "decimal", "value": "123456789012345678901234567890.5"}
    assert first["payload"]["score"] == -0.0 and str(first["payload"]["score"]) == "-0.0"
    assert read[3]["payload"]["price"] == {"$backupType": "decimal", "value": "NaN"}
    assert read[1]["payload"]["meta"] == "a jsonb string" and "doubled" not in first["payload"]
    assert "embedding" not in read[5]["$vectors"] and "second" in read[5]["$vectors"]
    assert read[1]["$vectors"]["terms"] == {"kind": "sparse", "dtype": "float32", "indices": [], "data": ""}

    with pgvector_server.connect() as connection:  # halfvec bit for bit: the restored column equals the source's
        differing = connection.execute(
            f"SELECT count(*) FROM {pg_schema}.by_bigint a JOIN {pg_schema}.back_by_bigint b USING (id) WHERE "
            f"a.half::text IS DISTINCT FROM b.half::text OR a.score::text IS DISTINCT FROM b.score::text "
            f"OR a.created IS DISTINCT FROM b.created OR a.wait IS DISTINCT FROM b.wait OR a.meta IS DISTINCT FROM b.meta "
            f"OR a.doubled IS DISTINCT FROM b.doubled").fetchone()[0]
        assert differing == 0
        # the restored serial moved past the keys it holds, so the next row gets a new key
        connection.execute(f"INSERT INTO {pg_schema}.back_by_bigint (title) VALUES ('new')")


def test_a_not_null_vector_column_is_not_nullable_so_a_missing_value_is_still_loss(pgvector_server, pg_schema,
                                                                                  pgvector_source) -> None:
    _fill(pgvector_server, pg_schema, rows=3)
    source = pgvector_source()
    strict = source.collection_definition("by_uuid")
    assert strict["vectors"]["embedding"]["nullable"] is False
    assert source.collection_definition("by_bigint")["vectors"]["embedding"]["nullable"] is True
    # PostgreSQL cannot hold such a row, so the guard is shown what a scan that lost one value would report
    lossy = VectorSummary(39, fields={"embedding": FieldSummary(39, {"4": 39}, {"dense/float32": 39})})
    with pytest.raises(VectorLossError, match=r"1 of 40 document\(s\) \(2.50%\) have no value for vector field "
                                              r"'embedding'"):
        check_vector_loss("by_uuid", strict, 40, lossy)
    relaxed = {**strict, "vectors": {"embedding": {**strict["vectors"]["embedding"], "nullable": True}}}
    assert check_vector_loss("by_uuid", relaxed, 40, lossy) == [
        "1 of 40 document(s) have no value for nullable vector field 'embedding' (NULL in the source)"]


def test_a_table_without_a_one_column_primary_key_is_refused_naming_it(pgvector_server, pg_schema,
                                                                        pgvector_source) -> None:
    _fill(pgvector_server, pg_schema, rows=3)
    source = pgvector_source()
    definition = source.collection_definition("no_key")
    assert definition["id"] == {"type": None, "field": None}
    with pytest.raises(UnreadableTable, match=rf"table {pg_schema}\.no_key has no primary key.*ADD COLUMN"):
        list(source.scan("no_key", definition).pages())


def test_writes_during_a_dump_are_not_seen_it_reads_one_snapshot(pgvector_server, pg_schema, pgvector_source) -> None:
    source = pgvector_source(page_size=10)
    documents = pgvector_documents(100)
    from tests.sources.test_conformance import pgvector_definition
    definition = pgvector_definition(source)
    source.create_collection("items", definition)
    assert source.insert_documents("items", documents).inserted == 100
    scan = source.scan("items", definition, streams=3)
    pages = scan.pages()
    read = list(next(pages))
    with pgvector_server.connect(autocommit=True) as other:  # after the snapshot, before most pages are read
        other.execute(f"DELETE FROM {pg_schema}.items WHERE id IN (SELECT id FROM {pg_schema}.items ORDER BY id DESC LIMIT 30)")
        other.execute(f"UPDATE {pg_schema}.items SET title = 'changed', embedding = NULL")
        other.execute(f"INSERT INTO {pg_schema}.items (id, title) SELECT 'new ' || i, 'new' FROM generate_series(1, 50) i")
    read += [document for page in pages for document in page]
    assert scan.record.to_dict()["snapshot"].startswith("snapshot exported") and scan.record.streams == 3
    assert len(read) == 100 and digest_of(read) == digest_of(documents)
    assert source.count_documents("items").count == 120  # the writes did happen


def test_a_server_gone_mid_dump_fails_it_clearly_and_no_complete_snapshot_is_left(
        pgvector_server, pg_schema, pgvector_source, tmp_path) -> None:
    source = pgvector_source(page_size=5)
    from tests.sources.test_conformance import pgvector_definition
    source.create_collection("items", pgvector_definition(source))
    source.insert_documents("items", pgvector_documents(100))
    killed = []

    def kill_the_dump(progress: Any) -> None:
        if not killed:
            with pgvector_server.connect(autocommit=True) as other:
                killed.extend(other.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = "
                    "'airflow-provider-vectorbackup' AND pid <> pg_backend_pid()").fetchall())

    store = LocalStore(tmp_path)
    outcome = dump_snapshot(source, store, SNAPSHOT, DumpOptions(
        collections=["items"], scan_streams=2),
                            on_progress=kill_the_dump)
    assert killed
    assert outcome.manifest.status != "complete"
    failure = str(outcome.failures["items"])
    assert f"table {pg_schema}.items" in failure and "run the dump again" in failure, failure


def test_the_password_never_shows(pgvector_server, pg_schema, tmp_path) -> None:
    canary = f"canary-{uuid.uuid4().hex}"
    settings = pgvector_server.settings(pg_schema, password=canary)
    source = PgvectorSource.from_connection(settings)
    shown = [repr(source), repr(settings), str(source.describe_source()), source.test_connection()[1]]
    outcome = dump_snapshot(source, LocalStore(tmp_path), SNAPSHOT, DumpOptions())
    shown.append((tmp_path / SNAPSHOT / "manifest.json").read_text() if (tmp_path / SNAPSHOT / "manifest.json").exists()
                 else repr(outcome))
    unreachable = PgvectorSource.from_connection(type(settings)(
        "broken", conn_type="postgres", host="/nonexistent-socket-dir", login="postgres", password=canary,
        schema="postgres", extra={"pg_schema": pg_schema}))
    with pytest.raises(Exception) as raised:
        unreachable.list_collections()
    shown += [str(raised.value), repr(raised.value), unreachable.test_connection()[1]]
    assert all(canary not in text for text in shown)
    assert "/nonexistent-socket-dir" in str(raised.value)


def test_vector_search_orders_by_the_metric_of_the_columns_index(pgvector_server, pg_schema, pgvector_source) -> None:
    _fill(pgvector_server, pg_schema, rows=30)
    source = pgvector_source()
    definition = source.collection_definition("by_bigint")
    assert {name: spec["metric"] for name, spec in definition["vectors"].items()} == {
        "embedding": "cosine", "second": "euclidean", "half": "dot_product", "terms": "manhattan", "flags": "jaccard"}
    assert definition["vectors"]["terms"] == {"kind": "sparse", "dtype": "float32", "dimension": 1000,
                                              "metric": "manhattan", "nullable": True}
    documents = {d["_id"]: d for page in source.scan("by_bigint", definition).pages() for d in page}
    assert len(source.vector_search("by_bigint", documents[14]["$vectors"]["half"], limit=3, field="half")) == 3
    for field in ("second", "terms"):  # distances: a vector is nearest to itself (an inner product need not be)
        query = documents[14]["$vectors"][field]
        assert source.vector_search("by_bigint", query, limit=3, field=field)[0] == 14
    found = source.find_by_ids("by_bigint", [12, 13, 999])
    assert sorted(map(canonical_json, found)) == sorted(canonical_json(documents[i]) for i in (12, 13))


def _index_oids(server: Any, schema: str, table: str) -> dict[str, int]:
    with server.connect() as connection:
        return dict(connection.execute(
            "SELECT regexp_replace(pg_get_indexdef(indexrelid), '^.* USING ', ''), indexrelid::int FROM pg_index "
            "WHERE indrelid = %s::regclass", (f"{schema}.{table}",)).fetchall())


def test_a_load_into_an_empty_table_builds_plain_indexes_after_its_rows_and_still_tells_present_from_different(
        pgvector_server, pg_schema, pgvector_source) -> None:
    from decimal import Decimal

    from airflow_provider_vectorbackup.snapshot.codec import DEFAULT_CODEC
    from tests.sources.test_conformance import pgvector_definition
    source = pgvector_source()
    definition = pgvector_definition(source)
    source.create_collection("items", definition)
    before = _index_oids(pgvector_server, pg_schema, "items")
    documents = pgvector_documents(60)
    twin = dict(documents[5])
    rival = {**documents[7], "payload": {**documents[7]["payload"], "title": "another title"}}
    refused = {**documents[9], "_id": "refused", "payload": {**documents[9]["payload"], "title": "refused",
                                                              "price": DEFAULT_CODEC.encode(Decimal("-1"))}}
    report = source.insert_documents("items", [*documents, twin, rival, refused], chunk_size=7)
    assert (report.inserted, report.already_present) == (60, 1)
    assert {f.id: f.error_code for f in report.failures} == {
        documents[7]["_id"]: "DIFFERENT_DOCUMENT_EXISTS", "refused": "23514"}  # 23514: check_violation
    after = _index_oids(pgvector_server, pg_schema, "items")
    assert after.keys() == before.keys() and source.collection_definition("items") == definition
    rebuilt = {index for index in after if after[index] != before[index]}
    assert rebuilt == {index for index in before if index.startswith(("hnsw", "btree (created"))}, after
    assert digest_of([d for page in source.scan("items", definition).pages() for d in page]) == digest_of(documents)
    assert source.vector_search("items", documents[0]["$vectors"]["embedding"], limit=1, field="embedding") == [
        documents[0]["_id"]]

    again = source.insert_documents("items", documents[:20])  # rows there now: indexes stay, rows are compared
    assert (again.inserted, again.already_present, again.failures) == (0, 20, [])
    assert _index_oids(pgvector_server, pg_schema, "items") == after


def test_a_load_into_an_empty_table_that_breaks_off_leaves_it_empty_with_its_indexes(pgvector_server, pg_schema,
                                                                                    pgvector_source) -> None:
    from tests.sources.test_conformance import pgvector_definition
    source = pgvector_source()
    definition = pgvector_definition(source)
    source.create_collection("items", definition)
    documents = pgvector_documents(60)

    def breaking_off():
        yield from documents[:35]
        raise ConnectionError("the snapshot's store went away")

    with pytest.raises(ConnectionError):
        source.insert_documents("items", breaking_off(), chunk_size=10)
    assert source.count_documents("items").count == 0
    assert source.collection_definition("items") == definition
    assert source.insert_documents("items", documents, chunk_size=10).inserted == 60
