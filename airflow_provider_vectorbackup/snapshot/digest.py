"""Canonical JSON and the order-independent content digest of a collection.

The digest lets a restored collection be compared with its snapshot whatever order a scan
returns documents in, and whichever of the two vector encodings the documents use. The exact
definition is in docs/format.md, section "Content digest"; keep the two in step.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from airflow_provider_vectorbackup.snapshot.vectors import ARRAY, BINARY, VECTOR_FIELD, floats_to_binary, inspect_vector

DIGEST_ALGORITHM = "sha256-sum/v1"
_MODULUS = 1 << 256


def canonical_json(document: dict[str, Any]) -> bytes:
    """The digest's canonical form of one stored document (its JSON, envelopes included)."""
    vector = document.get(VECTOR_FIELD)
    if vector is not None:
        canonical_vector = _canonical_vector(vector)
        if canonical_vector is not None:
            document = {**document, VECTOR_FIELD: canonical_vector}
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def _canonical_vector(vector: Any) -> dict[str, str] | None:
    """Both encodings of one float32 vector map to a single ``{"$binary": ...}`` spelling."""
    encoding, _ = inspect_vector(vector)
    try:
        if encoding == ARRAY:
            return {"$binary": floats_to_binary(vector)}
        if encoding == BINARY:
            return {"$binary": base64.b64encode(base64.b64decode(vector["$binary"], validate=True)).decode("ascii")}
    except (OverflowError, ValueError):
        pass  # not representable as float32, or not base64: digest the value as stored
    return None


class ContentDigest:
    """Accumulates the multiset digest: the sum modulo 2**256 of each document's SHA-256."""

    __slots__ = ("_total", "documents")

    def __init__(self) -> None:
        self._total = 0
        self.documents = 0

    def add(self, document: dict[str, Any]) -> None:
        self._total = (self._total + int.from_bytes(hashlib.sha256(canonical_json(document)).digest(), "big")) % _MODULUS
        self.documents += 1

    def merge(self, other: ContentDigest) -> None:
        self._total = (self._total + other._total) % _MODULUS
        self.documents += other.documents

    def hexdigest(self) -> str:
        return f"{self._total:064x}"
