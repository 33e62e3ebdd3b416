"""The tricky Milvus collections the fidelity and quirk tests read, made the way a user makes them: with pymilvus."""

from __future__ import annotations

import random
import struct
from typing import Any

from airflow_provider_vectorbackup.testing.sample_data import unit_vector

DIMENSION = 8
ODD_KEYS = ["line\nbreak", 'a "quoted" key', "back\\slash", "b\\n", "carriage\rreturn", "東京", "tab\tkey", "~"]
"""VARCHAR keys that pymilvus's query_iterator pastes into a filter unescaped."""
SCALAR_ARRAYS = {"BOOL": [True, False], "INT8": [-128, 127], "INT16": [-32768, 5], "INT32": [2**31 - 1],
                 "INT64": [-(2**63), 2**63 - 1], "FLOAT": [0.1, -2.5], "DOUBLE": [0.1, 1e300], "VARCHAR": ["x", "東\n"]}


def float32(value: float) -> float:
    return struct.unpack("<f", struct.pack("<f", value))[0]


def every_type_collection(client: Any, name: str, *, count: int = 120, seed: int = 3) -> list[Any]:
    """INT64 keys; a float and a sparse vector; every scalar type, arrays of each, nullable and default values,
    TIMESTAMPTZ and GEOMETRY; the dynamic field; half the rows in partition ``p1``. Returns the keys."""
    from pymilvus import DataType

    schema = client.create_schema(auto_id=False, enable_dynamic_field=True, description="every type")
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=DIMENSION)
    schema.add_field("sp", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_field("flag", DataType.BOOL, nullable=True)
    schema.add_field("i8", DataType.INT8)
    schema.add_field("i16", DataType.INT16)
    schema.add_field("i32", DataType.INT32, default_value=7)
    schema.add_field("i64", DataType.INT64, nullable=True)
    schema.add_field("f", DataType.FLOAT)
    schema.add_field("d", DataType.DOUBLE)
    schema.add_field("s", DataType.VARCHAR, max_length=64, nullable=True, default_value="zz")
    schema.add_field("j", DataType.JSON, nullable=True)
    schema.add_field("tz", DataType.TIMESTAMPTZ, nullable=True)
    schema.add_field("geo", DataType.GEOMETRY, nullable=True)
    for element in SCALAR_ARRAYS:
        extra = {"max_length": 16} if element == "VARCHAR" else {}
        schema.add_field(f"a_{element.lower()}", DataType.ARRAY, element_type=DataType[element], max_capacity=4,
                         nullable=element == "INT64", **extra)
    index = client.prepare_index_params()
    index.add_index("v", index_type="HNSW", metric_type="COSINE", params={"M": 8, "efConstruction": 64})
    index.add_index("sp", index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
    client.create_collection(name, schema=schema, index_params=index, properties={"mmap.enabled": "false"})
    client.create_partition(name, "p1")
    rng = random.Random(seed)
    keys = [-(2**63), 2**63 - 1, 0, -1, 2**53 + 1] + rng.sample(range(-(10**12), 10**12), count - 5)
    rows = []
    for i, key in enumerate(keys):
        row: dict[str, Any] = {
            "id": key, "v": unit_vector(rng, DIMENSION), "sp": {rng.randrange(32): rng.random() for _ in range(6)},
            "flag": None if i % 4 == 0 else bool(i % 2), "i8": -128 + i, "i16": 300 * (i - 50), "i32": None if i % 5 == 0 else i,
            "i64": None if i % 6 == 0 else 2**62 - i, "f": 0.1 * i, "d": i / 3, "s": None if i % 3 == 0 else f"s{i}\n\"x\"",
            "j": None if i % 7 == 0 else {"n": i, "deep": [{"x": None}, [1.5, "東"]]},
            "tz": None if i % 8 == 0 else f"2024-03-{1 + i % 28:02d}T10:30:00+02:00",
            "geo": None if i % 9 == 0 else f"POINT ({i} {-i})",
        }
        for element, values in SCALAR_ARRAYS.items():
            row[f"a_{element.lower()}"] = values[: i % (len(values) + 1)]
        if i % 2:
            row["dyn_text"] = f"dynamic {i}"
            row["dyn_obj"] = {"k": [i, None]}
        rows.append(row)
    client.insert(name, rows[::2])
    client.insert(name, rows[1::2], partition_name="p1")
    return keys


def string_key_collection(client: Any, name: str, *, count: int = 120, seed: int = 5) -> list[str]:
    """VARCHAR keys (the odd ones included); two float vector fields with L2 and IP; a BM25 function filling a
    sparse field from text. Returns the keys."""
    from pymilvus import DataType, Function, FunctionType

    schema = client.create_schema(auto_id=False)
    schema.add_field("key", DataType.VARCHAR, is_primary=True, max_length=64)
    schema.add_field("near", DataType.FLOAT_VECTOR, dim=DIMENSION)
    schema.add_field("far", DataType.FLOAT_VECTOR, dim=4)
    schema.add_field("text", DataType.VARCHAR, max_length=256, enable_analyzer=True)
    schema.add_field("bm25", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_function(Function(name="text_bm25", function_type=FunctionType.BM25, input_field_names=["text"],
                                 output_field_names=["bm25"]))
    index = client.prepare_index_params()
    index.add_index("near", index_type="HNSW", metric_type="L2", params={"M": 16, "efConstruction": 100})
    index.add_index("far", index_type="FLAT", metric_type="IP")
    index.add_index("bm25", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    client.create_collection(name, schema=schema, index_params=index)
    rng = random.Random(seed)
    words = ["vector", "backup", "restore", "milvus", "snapshot", "recall", "東京", "newline"]
    keys = ODD_KEYS + [f"doc-{i:05d}" for i in range(count - len(ODD_KEYS))]
    client.insert(name, [{"key": key, "near": unit_vector(rng, DIMENSION), "far": [rng.uniform(-1, 1) for _ in range(4)],
                          "text": " ".join(rng.choices(words, k=5))} for key in keys])
    return keys
