"""``$vector`` values: validation of the two wire forms, decoding, and similarity scores.

A vector arrives as a JSON array of numbers or as ``{"$binary": base64(big-endian float32)}``.
Similarities use the formulas Cassandra SAI (and so the Data API) reports, mapped to [0, 1]:
cosine ``(1 + cos) / 2``, dot_product ``(1 + dot) / 2``, euclidean ``1 / (1 + d²)``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import struct
from array import array
from typing import Any

import numpy

from airflow_provider_vectorbackup.testing.astra.errors import document_error, schema_error

MAX_DIMENSION = 4096
METRICS = ("cosine", "dot_product", "euclidean")


def decode_vector(value: Any) -> array:
    """Floats of an array or ``$binary`` vector; refuses malformed values like the shredder."""
    if isinstance(value, list):
        if not value:
            raise document_error("SHRED_BAD_VECTOR_SIZE", "Bad $vector value: cannot be empty Array.",
                                 "Bad $vector value")
        for item in value:
            if isinstance(item, bool) or not isinstance(item, (int, float)):
                kind = "String" if isinstance(item, str) else type(item).__name__
                raise document_error(
                    "SHRED_BAD_VECTOR_VALUE",
                    f"Bad $vector value: needs to be an array containing only Numbers but has a {kind} value "
                    f"({item!r}).", "Bad $vector value")
        return array("f", value)
    if isinstance(value, dict) and list(value) == ["$binary"]:
        try:
            raw = base64.b64decode(value["$binary"], validate=True)
        except (binascii.Error, TypeError, ValueError) as exc:
            raise _bad_binary(f"Invalid content in EJSON $binary wrapper: not valid Base64-encoded String; "
                              f"problem: {exc}") from exc
        if not raw or len(raw) % 4:
            raise _bad_binary(f"binary value to decode is not a multiple of 4 bytes long ({len(raw)} bytes)")
        vec = array("f", raw)
        if struct.pack("=f", 1.0) != struct.pack(">f", 1.0):
            vec.byteswap()
        return vec
    raise document_error("SHRED_BAD_DOCUMENT_VECTOR_TYPE",
                         "Bad $vector value to shred: $vector value needs to be either array of numbers or "
                         "EJSON $binary object", "Bad $vector value to shred")


def _bad_binary(problem: str) -> Exception:
    return document_error("SHRED_BAD_BINARY_VECTOR_VALUE", f"Bad binary vector value to shred: {problem}.",
                          "Bad binary vector value to shred")


def as_json_floats(vec: array) -> list[float]:
    """float32 values as the shortest decimals that round-trip, as Java prints a ``float[]``."""
    result = []
    for value in vec:
        for digits in range(1, 10):
            candidate = float(f"{value:.{digits}g}")
            if struct.unpack("f", struct.pack("f", candidate))[0] == value:
                break
        result.append(candidate)
    return result


def check_dimension(vec: array, dimension: int, keyspace: str, collection: str) -> None:
    if len(vec) != dimension:
        raise document_error(
            "INVALID_VECTOR_LENGTH",
            "The command attempted to update or find using `$vector`, using a vector that has a length different "
            f"to the declared '$vector' dimension for the Collection.\n\nThe collection was: {keyspace}.{collection}.\n"
            f"The configured vector dimension is: {dimension}.\nThe provided vector length is: {len(vec)}.\n\n"
            "Resend the command using a vector of the correct length.",
            "Vector values in documents are not valid",
        )


def not_vector_enabled(keyspace: str, collection: str) -> Exception:
    return schema_error("VECTOR_SEARCH_NOT_SUPPORTED",
                        f"Vector search is not enabled for collection: {keyspace}.{collection}.",
                        "Vector search is not enabled")


def similarities(metric: str, query: numpy.ndarray, stored: numpy.ndarray) -> numpy.ndarray:
    """The Data API's ``$similarity`` in [0, 1] of each row of ``stored`` (float32) to ``query``, in float64."""
    query, stored = query.astype(numpy.float64), stored.astype(numpy.float64)
    if metric == "euclidean":
        difference = stored - query
        return 1.0 / (1.0 + numpy.einsum("ij,ij->i", difference, difference))
    dot = stored @ query
    if metric == "dot_product":
        return (1.0 + dot) / 2.0
    norms = numpy.linalg.norm(stored, axis=1) * numpy.linalg.norm(query)
    cosine = numpy.divide(dot, norms, out=numpy.zeros_like(dot), where=norms != 0)
    return (1.0 + cosine) / 2.0


def pseudo_embedding(text: str, dimension: int) -> list[float]:
    """Stand-in for a vectorize provider: a deterministic unit vector derived from ``text``.

    Not semantically meaningful; equal texts get equal vectors, which is all tests rely on.
    """
    values: list[float] = []
    counter = 0
    while len(values) < dimension:
        digest = hashlib.sha256(f"{counter}:{text}".encode()).digest()
        values.extend((b - 127.5) / 127.5 for b in digest)
        counter += 1
    values = values[:dimension]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]
