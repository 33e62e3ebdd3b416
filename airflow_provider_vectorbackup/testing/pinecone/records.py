"""What an index holds and the limits the real service enforces on it.

Each record keeps its dense values as float32 (what Pinecone stores), its sparse values as
uint32 indices with float32 values, and its metadata as JSON with every number a float64: Pinecone
answers ``5`` as ``5.0``. The limits are those of Pinecone's documentation ("Limits"): ids of 1-512
ASCII characters, at most 40 KB of metadata per record, metadata values that are strings, numbers,
booleans or lists of strings (no null, no object), up to 1,000 records per upsert, 100 ids per list
page, 1,000 ids per fetch, and sparse values only beside a ``dotproduct`` dense field (or alone, in a
sparse index).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import msgspec
import numpy as np

from airflow_provider_vectorbackup.testing.pinecone.errors import bad_request

DEFAULT_NAMESPACE = "__default__"
"""The namespace requests address when they name none; it always exists in a vector index."""
MAX_ID_LENGTH = 512
MAX_METADATA_BYTES = 40_960
MAX_UPSERT_RECORDS = 1_000
MAX_FETCH_IDS = 1_000
MAX_LIST_LIMIT = 100
MAX_SPARSE_INDEX = 2**32 - 1
MAX_DIMENSION = 20_000
METRICS = ("cosine", "euclidean", "dotproduct")
_encoder = msgspec.json.Encoder()


@dataclass
class Record:
    id: str
    values: np.ndarray | None
    sparse_indices: list[int] | None = None
    sparse_values: np.ndarray | None = None
    metadata: dict[str, Any] | None = None

    def to_json(self, *, values: bool = True, metadata: bool = True) -> dict[str, Any]:
        """The record as fetch and query answer it: float32 values in their shortest decimal form."""
        body: dict[str, Any] = {"id": self.id}
        if values:
            body["values"] = _float32_json(self.values)
            if self.sparse_indices is not None:
                body["sparseValues"] = {"indices": list(self.sparse_indices),
                                        "values": _float32_json(self.sparse_values)}
        if metadata and self.metadata is not None:
            body["metadata"] = self.metadata
        return body


def _float32_json(values: np.ndarray | None) -> msgspec.Raw:
    if values is None:
        return msgspec.Raw(b"[]")
    return msgspec.Raw(("[" + ",".join(str(v) for v in values) + "]").encode())


@dataclass
class Namespace:
    records: dict[str, Record] = field(default_factory=dict)


def normalise_namespace(name: Any) -> str:
    if name in (None, ""):
        return DEFAULT_NAMESPACE
    if not isinstance(name, str):
        raise bad_request(f"namespace must be a string, got {type(name).__name__}")
    return name


def check_id(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise bad_request("Vector ID must be a non-empty string")
    if len(value) > MAX_ID_LENGTH:
        raise bad_request(f"Vector ID exceeds the maximum length of {MAX_ID_LENGTH} characters: {len(value)}")
    if not value.isascii() or "\x00" in value:
        raise bad_request("Vector ID must be ASCII and contain no null character")
    return value


def parse_record(raw: Any, *, dimension: int | None, sparse_allowed: bool, sparse_required: bool) -> Record:
    """A record from an upsert's ``vectors`` entry, refused as the real service refuses it."""
    if not isinstance(raw, dict):
        raise bad_request("Each vector must be an object")
    unknown = sorted(set(raw) - {"id", "values", "sparseValues", "metadata"})
    if unknown:
        raise bad_request(f"Unknown field(s) in vector: {', '.join(unknown)}")
    id_ = check_id(raw.get("id"))
    values = raw.get("values") or []
    if dimension is None:
        if values:
            raise bad_request(f"Vector {id_!r}: a sparse index holds no dense values")
        dense = None
    else:
        if len(values) != dimension:
            raise bad_request(f"Vector dimension {len(values)} does not match the dimension of the index "
                              f"{dimension}")
        dense = _float32(values, f"Vector {id_!r} values")
    sparse = raw.get("sparseValues")
    indices = sparse_values = None
    if sparse is not None:
        if not sparse_allowed:
            raise bad_request("Sparse vector values are only supported for indexes with a sparse_vector field "
                              "(a sparse index, or a dense one with metric dotproduct that declares one)")
        indices, sparse_values = _sparse(id_, sparse)
    elif sparse_required:
        raise bad_request(f"Vector {id_!r}: a sparse index needs sparse values")
    metadata = raw.get("metadata")
    return Record(id_, dense, indices, sparse_values, None if metadata is None else check_metadata(id_, metadata))


def _float32(values: Any, what: str) -> np.ndarray:
    if not isinstance(values, list) or any(type(v) not in (int, float) for v in values):
        raise bad_request(f"{what} must be a list of numbers")
    wide = np.asarray(values, dtype=np.float64)
    narrow = wide.astype(np.float32)
    if not np.all(np.isfinite(narrow)):
        raise bad_request(f"{what} must be finite float32 numbers")
    return narrow


def _sparse(id_: str, sparse: Any) -> tuple[list[int], np.ndarray]:
    if not isinstance(sparse, dict) or set(sparse) != {"indices", "values"}:
        raise bad_request(f"Vector {id_!r}: sparseValues must have exactly indices and values")
    indices, values = sparse["indices"], sparse["values"]
    if not isinstance(indices, list) or any(type(i) is not int or not 0 <= i <= MAX_SPARSE_INDEX for i in indices):
        raise bad_request(f"Vector {id_!r}: sparse indices must be unsigned 32-bit integers")
    if not isinstance(values, list) or len(values) != len(indices):
        raise bad_request(f"Vector {id_!r}: sparse indices and values must have the same length")
    if not indices:
        raise bad_request(f"Vector {id_!r}: sparse vector must have at least one non-zero value")
    if len(set(indices)) != len(indices):
        raise bad_request(f"Vector {id_!r}: sparse indices must be unique")
    order = sorted(range(len(indices)), key=indices.__getitem__)
    return [indices[i] for i in order], _float32([values[i] for i in order], f"Vector {id_!r} sparse values")


def check_metadata(id_: str, metadata: Any) -> dict[str, Any]:
    """The metadata as stored (numbers as floats), or the refusal the real service gives."""
    if not isinstance(metadata, dict):
        raise bad_request(f"Metadata of vector {id_!r} must be an object")
    stored: dict[str, Any] = {}
    for key, value in metadata.items():
        stored[key] = _metadata_value(id_, key, value)
    size = len(_encoder.encode(metadata))
    if size > MAX_METADATA_BYTES:
        raise bad_request(f"Metadata size is {size} bytes, which exceeds the limit of {MAX_METADATA_BYTES} bytes "
                          f"per vector (vector {id_!r})")
    return stored


def _metadata_value(id_: str, key: str, value: Any) -> Any:
    if type(value) in (str, bool):
        return value
    if type(value) in (int, float):
        if not math.isfinite(value):
            raise bad_request(f"Metadata value for field {key!r} of vector {id_!r} must be a finite number")
        return float(value)
    if type(value) is list and all(type(item) is str for item in value):
        return list(value)
    kind = "null" if value is None else "object" if isinstance(value, dict) else "list with non-string values" \
        if isinstance(value, list) else type(value).__name__
    raise bad_request(f"Metadata value must be a string, number, boolean or list of strings, got {kind} for field "
                      f"{key!r} of vector {id_!r}")


def score(metric: str, query: np.ndarray | None, sparse_query: dict[int, float] | None, record: Record) -> float:
    """Pinecone's exact score: cosine similarity, squared Euclidean distance, or dot product (dense plus sparse)."""
    total = 0.0
    if query is not None and record.values is not None:
        a, b = query.astype(np.float64), record.values.astype(np.float64)
        if metric == "cosine":
            norms = float(np.linalg.norm(a) * np.linalg.norm(b))
            total += float(a @ b) / norms if norms else 0.0
        elif metric == "euclidean":
            total += float(((a - b) ** 2).sum())
        else:
            total += float(a @ b)
    if sparse_query and record.sparse_indices is not None:
        total += sum(sparse_query.get(i, 0.0) * float(v) for i, v in zip(record.sparse_indices, record.sparse_values))
    return total

