"""Canonical JSON and the order-independent content digest of a collection.

The digest lets a restored collection be compared with its snapshot whatever order a scan
returns documents in, and whichever of the two vector encodings the documents use. The exact
definition is in docs/format.md, section "Content digest"; keep the two in step.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

import msgspec

from airflow_provider_vectorbackup.snapshot.vectors import VECTOR_FIELD, read_vector

DIGEST_ALGORITHM = "sha256-sum/v1"
_MODULUS = 1 << 256


_UNREAD = object()
_SORTED = msgspec.json.Encoder(order="sorted")
_POSITIONAL_FLOATS = (1e-4, 1e16)
"""Floats whose repr has no exponent; msgspec and Python print those identically (docs/format.md, 7.1)."""


def canonical_json(document: dict[str, Any], vector: Any = _UNREAD) -> bytes:
    """The digest's canonical form of one stored document (its JSON, envelopes included).

    :param vector: the canonical ``$vector`` from :func:`vectors.read_vector`, if the caller
        already has it (``None``: digest the value as stored); read from the document otherwise.
    """
    if vector is _UNREAD:
        stored = document.get(VECTOR_FIELD)
        vector = read_vector(stored)[2] if stored is not None else None
    if vector is not None:
        document = {**document, VECTOR_FIELD: vector}
    if _has_exponent_floats(document):
        return _reference_json(document)
    try:
        return _SORTED.encode(document)
    except (TypeError, ValueError):  # e.g. a lone surrogate: the reference path raises the usual error
        return _reference_json(document)


def _reference_json(document: dict[str, Any]) -> bytes:
    """The canonical form as the specification defines it, through the standard library (slower)."""
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def _has_exponent_floats(value: Any) -> bool:
    """Whether any float would print with an exponent (or is not finite), where msgspec and Python differ."""
    kind = type(value)
    if kind is float:
        return value != 0.0 and not (_POSITIONAL_FLOATS[0] <= abs(value) < _POSITIONAL_FLOATS[1])
    if kind is dict:
        return any(_has_exponent_floats(item) for item in value.values())
    if kind is list:
        return any(_has_exponent_floats(item) for item in value)
    return False


class ContentDigest:
    """Accumulates the multiset digest: the sum modulo 2**256 of each document's SHA-256."""

    __slots__ = ("_total", "documents")

    def __init__(self) -> None:
        self._total = 0
        self.documents = 0

    def add(self, document: dict[str, Any], vector: Any = _UNREAD) -> None:
        """Add one document; ``vector`` as for :func:`canonical_json`."""
        digest = hashlib.sha256(canonical_json(document, vector)).digest()
        self._total = (self._total + int.from_bytes(digest, "big")) % _MODULUS
        self.documents += 1

    def merge(self, other: ContentDigest) -> None:
        self._total = (self._total + other._total) % _MODULUS
        self.documents += other.documents

    def hexdigest(self) -> str:
        return f"{self._total:064x}"


def combine_digests(digests: Iterable[str]) -> str:
    """The digest of disjoint sets of documents together, from each set's: their sum modulo 2**256.

    So slices of a collection dumped by different workers add up to the digest one pass would compute.
    """
    total = 0
    for digest in digests:
        if len(digest) != 64:
            raise ValueError(f"a content digest is 64 hex digits, not {digest!r}")
        total = (total + int(digest, 16)) % _MODULUS
    return f"{total:064x}"
