"""Milvus (Lite) behaviours that touch fidelity (research: /work/shared/research/sources.md, "Milvus"), each
shown on the engine and how the source handles it."""

from __future__ import annotations

import pytest
from pymilvus import DataType, MilvusClient, MilvusException

from airflow_provider_vectorbackup.sources.base import UnsupportedDefinition
from airflow_provider_vectorbackup.sources.milvus.client import MilvusSource
from airflow_provider_vectorbackup.snapshot import vector_fields as vf
from airflow_provider_vectorbackup.snapshot.digest import canonical_json
from tests.sources.milvus.dataset import ODD_KEYS, every_type_collection, float32, string_key_collection


def scanned(source: MilvusSource, name: str, **options) -> list[dict]:
    scan = source.scan(name, source.collection_definition(name), **options)
    return [document for page in scan.pages() for document in page]


def test_query_iterator_breaks_on_keys_our_scan_reads_once(lite, milvus_source) -> None:
    keys = string_key_collection(lite, "strings", count=30)
    lite.load_collection("strings")
    newline = lite.query_iterator("strings", batch_size=1, filter='key >= "line" and key < "m"', output_fields=["key"])
    assert newline.next() == [{"key": "line\nbreak"}]
    with pytest.raises(MilvusException, match="unterminated string literal"):
        newline.next()  # it pastes the last key, newline and all, between quotes
    quoted = lite.query_iterator("strings", batch_size=1, filter="", output_fields=["key"])
    assert quoted.next() == [{"key": 'a "quoted" key'}]
    with pytest.raises(MilvusException, match="unexpected token"):
        quoted.next()
    # A key with a backslash is misread: "b\n" comes back as b + newline, so the next page repeats rows.
    backslash = lite.query_iterator("strings", batch_size=1, filter='key >= "b\\\\n" and key < "c"',
                                    output_fields=["key"], limit=3)
    assert [row["key"] for _ in range(3) for row in backslash.next()] == ["b\\n", "b\\n", "b\\n"]

    for streams, mode in ((1, "single"), (3, "auto")):
        documents = scanned(milvus_source(page_size=1), "strings", streams=streams, mode=mode)
        assert sorted(d["_id"] for d in documents) == sorted(keys), "every key once, the odd ones too"
    assert set(ODD_KEYS) <= {d["_id"] for d in milvus_source().find_by_ids("strings", ODD_KEYS)}


def test_none_into_a_field_with_a_default_stores_the_default(lite, milvus_source) -> None:
    every_type_collection(lite, "every", count=12)
    by_id = {d["_id"]: d for d in scanned(milvus_source(), "every")}
    row = lite.query("every", filter="id == -9223372036854775808", output_fields=["s", "i32"])[0]
    assert (row["s"], row["i32"]) == ("zz", 7), "inserted as None, stored as the defaults"
    assert by_id[-(2**63)]["payload"]["s"] == "zz" and by_id[-(2**63)]["payload"]["i32"] == 7
    assert by_id[-(2**63)]["payload"]["flag"] is None, "a nullable field without a default stays null"


def test_timestamptz_comes_back_in_utc_and_floats_as_float32(lite, milvus_source) -> None:
    every_type_collection(lite, "every", count=12)
    source = milvus_source()
    documents = scanned(source, "every")
    stamps = {d["payload"]["tz"] for d in documents} - {None}
    assert stamps and all(s.endswith("Z") for s in stamps), "+02:00 was given: the instant is kept, the offset not"
    floats = sorted(d["payload"]["f"] for d in documents)
    assert floats == sorted(float32(0.1 * i) for i in range(12)) and float32(0.1) != 0.1
    source.create_collection("copy", source.collection_definition("every"))
    assert source.insert_documents("copy", documents).ok
    assert sorted(map(canonical_json, scanned(source, "copy"))) == sorted(map(canonical_json, documents))


def test_an_existing_key_is_never_overwritten(lite, milvus_source) -> None:
    string_key_collection(lite, "strings", count=10)
    source = milvus_source()
    original = source.find_by_ids("strings", ["doc-00000"])[0]
    lite.insert("strings", [{"key": "doc-00000", "near": [0.0] * 8, "far": [0.0] * 4, "text": "overwritten"}])
    assert lite.query("strings", filter='key == "doc-00000"', output_fields=["text"])[0]["text"] == "overwritten", \
        "Milvus Lite replaces a row inserted again with the same key"
    lite.insert("strings", [{"key": "doc-00000", "near": vf.values_of(original["$vectors"]["near"]),
                             "far": vf.values_of(original["$vectors"]["far"]), "text": original["payload"]["text"]}])
    changed = {**original, "payload": {"text": "something else"}}
    report = source.insert_documents("strings", [original, changed, {**original, "_id": "new"}])
    assert (report.inserted, report.already_present) == (1, 1)
    assert [(f.id, f.error_code) for f in report.failures] == [("doc-00000", "DIFFERENT_DOCUMENT_EXISTS")]
    assert source.find_by_ids("strings", ["doc-00000"]) == [original], "the different document did not replace it"


def test_count_with_partition_names_counts_the_whole_collection_yet_rows_return_to_their_partition(
        lite, milvus_source) -> None:
    every_type_collection(lite, "every", count=20)
    count = lite.query("every", filter="", output_fields=["count(*)"], partition_names=["p1"])[0]["count(*)"]
    assert count == 20, "Milvus Lite ignores partition_names when counting without a filter"
    source = milvus_source(page_size=3)
    scan = source.scan("every", source.collection_definition("every"), streams=2)
    documents = [d for page in scan.pages() for d in page]
    parts = scan.record.to_dict()["parts"]
    assert sum(n for part, n in parts.items() if part.startswith("p1")) == 10
    assert sum(n for part, n in parts.items() if part.startswith("_default")) == 10
    assert sorted(d["_id"] for d in documents if d.get("partition") == "p1") == sorted(
        r["id"] for r in lite.query("every", filter="id >= -9223372036854775808", output_fields=["id"],
                                    partition_names=["p1"]))


def test_auto_id_keys_are_kept_on_restore(lite, milvus_source) -> None:
    schema = lite.create_schema(auto_id=True)
    schema.add_field("id", DataType.INT64, is_primary=True, auto_id=True)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=2)
    index = lite.prepare_index_params()
    index.add_index("v", index_type="FLAT", metric_type="L2")
    lite.create_collection("auto", schema=schema, index_params=index)
    lite.insert("auto", [{"v": [1.0, 2.0]}, {"v": [3.0, 4.0]}])
    source = milvus_source()
    definition = source.collection_definition("auto")
    assert definition["native"]["auto_id"] is True and definition["id"] == {"type": "int64", "field": "id"}
    documents = scanned(source, "auto")
    source.create_collection("auto_copy", definition)
    assert source.insert_documents("auto_copy", documents).inserted == 2
    assert sorted(map(canonical_json, scanned(source, "auto_copy"))) == sorted(map(canonical_json, documents)), \
        "Milvus Lite takes the original keys into an auto_id collection"


def test_a_null_vector_reads_back_as_zeros_in_lite(lite, milvus_source) -> None:
    schema = lite.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=2, nullable=True)
    index = lite.prepare_index_params()
    index.add_index("v", index_type="FLAT", metric_type="L2")
    lite.create_collection("holes", schema=schema, index_params=index)
    lite.insert("holes", [{"id": 1, "v": None}, {"id": 2, "v": [1.0, 2.0]}])
    hole = next(d for d in scanned(milvus_source(), "holes") if d["_id"] == 1)
    assert vf.values_of(hole["$vectors"]["v"]) == [0.0, 0.0], \
        "what Lite holds is recorded: zeros, not a missing vector"


def test_describe_index_leaves_out_hnsw_build_parameters(lite, milvus_source) -> None:
    every_type_collection(lite, "every", count=8)
    index = next(i for i in milvus_source().collection_definition("every")["native"]["indexes"] if i["field_name"] == "v")
    assert index == {"field_name": "v", "index_name": "v", "index_type": "HNSW", "metric_type": "COSINE", "params": {}}, \
        "created with M=8, efConstruction=64: Lite does not say so, and the definition records what it says"


def test_the_definition_is_stable_and_names_nothing_of_the_collection(lite, milvus_source) -> None:
    string_key_collection(lite, "strings", count=4)
    source = milvus_source()
    first = source.collection_definition("strings")
    assert first == source.collection_definition("strings") and "strings" not in canonical_json(first).decode()
    assert first["vectors"] == {
        "bm25": {"kind": "sparse", "dtype": "float32", "dimension": None, "metric": None, "nullable": False},  # BM25 searches take text
        "far": {"kind": "dense", "dtype": "float32", "dimension": 4, "metric": "dot_product", "nullable": False},
        "near": {"kind": "dense", "dtype": "float32", "dimension": 8, "metric": "euclidean", "nullable": False}}
    assert first["native"]["functions"][0]["type"] == "BM25"


@pytest.mark.parametrize(("change", "refused"), [
    (lambda n: n["fields"].append({"name": "half", "type": "FLOAT16_VECTOR", "params": {"dim": 8}}), "'half' is FLOAT16_VECTOR"),
    (lambda n: n["fields"].append({"name": "bits", "type": "BINARY_VECTOR", "params": {"dim": 16}}), "'bits' is BINARY_VECTOR"),
    (lambda n: n["fields"].append({"name": "odd", "type": "NOT_A_TYPE"}), "'odd' has type 'NOT_A_TYPE'"),
    (lambda n: n["functions"].append({"name": "embed", "type": "TEXTEMBEDDING", "input_field_names": ["text"],
                                      "output_field_names": ["near"]}), "function 'embed' is of type 'TEXTEMBEDDING'"),
])
def test_what_lite_cannot_hold_is_refused_before_anything_is_created(lite, milvus_source, change, refused) -> None:
    string_key_collection(lite, "strings", count=4)
    source = milvus_source()
    definition = source.collection_definition("strings")
    change(definition["native"])
    with pytest.raises(UnsupportedDefinition, match=f"collection 'target'.*{refused}"):
        source.create_collection("target", definition)
    assert not lite.has_collection("target")


def test_a_reopened_lite_directory_is_loaded_before_reading(tmp_path, milvus_source, lite) -> None:
    string_key_collection(lite, "strings", count=10)
    lite.close()
    from airflow_provider_vectorbackup.connection import ConnectionSettings
    from milvus_lite.server_manager import server_manager_instance

    server_manager_instance.release_server(str(tmp_path / "m.db"))  # as a new process would find it
    again = MilvusClient(str(tmp_path / "m.db"))
    try:
        assert again.get_load_state("strings")["state"].name == "NotLoad"
        source = MilvusSource.from_connection(ConnectionSettings("m", extra={"path": str(tmp_path / "m.db")}), client=again)
        assert len(scanned(source, "strings")) == 10
    finally:
        again.close()


def test_lite_does_not_describe_the_max_length_of_array_elements(lite, milvus_source) -> None:
    every_type_collection(lite, "every", count=8)  # a_varchar was made with max_length=16
    field = next(f for f in milvus_source().collection_definition("every")["native"]["fields"] if f["name"] == "a_varchar")
    assert field["params"] == {"max_capacity": 4}, "recorded as described; a server describes (and needs) max_length"
