"""Turn an incoming document into its stored form, refusing what the real shredder refuses.

Checks follow data-api ``DocumentShredder``: size of the serialised JSON, depth, field names and
EJSON wrappers on the whole document; property counts, string and array lengths only on indexed
paths. The stored form keeps the client's JSON verbatim (``_id`` moved first, as the service
does), with ``$vector`` held as ``msgspec.Raw`` so that 10k+ documents with 768-dimension
vectors stay small and are echoed byte-for-byte in the form they were written.
"""

from __future__ import annotations

from typing import Any

import msgspec

from airflow_provider_vectorbackup.testing.astra.ejson import ejson_tag, id_key, new_id, validate_ejson
from airflow_provider_vectorbackup.testing.astra.errors import doc_limit, document_error, schema_error
from airflow_provider_vectorbackup.testing.astra.options import CollectionSettings
from airflow_provider_vectorbackup.testing.astra.vectors import (
    MAX_DIMENSION, check_dimension, decode_vector, not_vector_enabled, pseudo_embedding,
)

MAX_SIZE = 4_000_000
MAX_DEPTH = 16
MAX_OBJECT_PROPERTIES = 1000
MAX_DOC_PROPERTIES = 2000
MAX_STRING_BYTES = 8000
MAX_ARRAY_LENGTH = 1000
MAX_PATH_LENGTH = 1000
SPECIAL_FIELDS = ("$vector", "$vectorize", "$lexical")

_encoder = msgspec.json.Encoder()


def shred(doc: Any, settings: CollectionSettings, keyspace: str, collection: str) -> dict[str, Any]:
    """The stored form of ``doc``; raises :class:`DataAPIError` for refused documents."""
    if not isinstance(doc, dict):
        kind = "Array" if isinstance(doc, list) else type(doc).__name__
        raise document_error("SHRED_BAD_DOCUMENT_TYPE",
                             f"Bad document type to shred: document must be a JSON Object, instead got a JSON {kind}.",
                             "Bad document type to shred")
    stored: dict[str, Any] = {"_id": doc["_id"] if "_id" in doc else new_id(settings.default_id)}
    id_key(stored["_id"])
    validate_ejson(stored["_id"], "_id")
    stored.update((k, v) for k, v in doc.items() if k != "_id")
    _check_structure(stored)
    _check_indexed(stored, settings)
    _check_lexical(stored, settings, keyspace, collection)
    _attach_vector(stored, settings, keyspace, collection)
    size = len(_encoder.encode(stored))
    if size > MAX_SIZE:
        raise doc_limit(f"document size ({size} chars) exceeds maximum allowed ({MAX_SIZE})")
    return stored


def _check_lexical(stored: dict[str, Any], settings: CollectionSettings, keyspace: str, collection: str) -> None:
    """``$lexical`` must be text, on a collection whose lexical feature is not switched off."""
    lexical = stored.get("$lexical")
    if lexical is None:
        return
    if not isinstance(lexical, str):
        raise document_error("SHRED_BAD_DOCUMENT_LEXICAL_TYPE",
                             "Bad $lexical value to shred: the value for field '$lexical' must be a STRING",
                             "Bad $lexical value to shred")
    if (settings.options.get("lexical") or {}).get("enabled") is False:
        raise schema_error("LEXICAL_NOT_ENABLED_FOR_COLLECTION",
                           "Lexical content can only be added and filtering and sort only be used on collections "
                           f"for which Lexical feature is enabled.\nThe collection {keyspace}.{collection} does not "
                           "have Lexical feature enabled.", "Lexical search is not enabled for the collection")


def _attach_vector(stored: dict[str, Any], settings: CollectionSettings, keyspace: str, collection: str) -> None:
    vector, vectorize = stored.get("$vector"), stored.get("$vectorize")
    if vector is not None and vectorize is not None:
        raise schema_error("INVALID_USAGE_OF_VECTORIZE",
                           "'$vector' and '$vectorize' cannot be used together in same document.\n\n"
                           "Resend command with only '$vector' or '$vectorize'.",
                           "Invalid use of '$vector' and '$vectorize'")
    if vectorize is not None:
        if not isinstance(vectorize, str):
            raise document_error("INVALID_VECTORIZE_VALUE_TYPE",
                                 "Invalid $vectorize value: $vectorize value needs to be text value",
                                 "Invalid $vectorize value type")
        if not settings.vectorize:
            raise schema_error("EMBEDDING_SERVICE_NOT_CONFIGURED",
                               f"Unable to vectorize data, embedding service not configured for the collection : "
                               f"{collection}", "Embedding service not configured")
        assert settings.dimension is not None
        stored["$vector"] = msgspec.Raw(_encoder.encode(pseudo_embedding(vectorize, settings.dimension)))
        return
    if vector is None:
        return
    if settings.dimension is None:
        raise not_vector_enabled(keyspace, collection)
    if isinstance(vector, list) and len(vector) > MAX_DIMENSION:
        raise doc_limit(f"number of elements Vector embedding (field '$vector') has ({len(vector)}) exceeds "
                        f"maximum allowed ({MAX_DIMENSION})")
    check_dimension(decode_vector(vector), settings.dimension, keyspace, collection)
    stored["$vector"] = msgspec.Raw(_encoder.encode(vector))


def _check_structure(doc: dict[str, Any]) -> None:
    """Depth, field names, path lengths and EJSON wrappers over the whole document."""
    stack: list[tuple[Any, int, str, int]] = [(doc, 1, "", 0)]
    while stack:
        value, depth, path, path_len = stack.pop()
        if depth > MAX_DEPTH:
            raise doc_limit(f"document depth exceeds maximum allowed ({MAX_DEPTH})")
        if isinstance(value, list):
            stack.extend((item, depth + 1, path, path_len) for item in value if isinstance(item, (dict, list)))
            continue
        if path and ejson_tag(value) is not None:
            validate_ejson(value, path)
            continue
        for key, item in value.items():
            if depth == 1 and key == "_id":
                continue
            if not key or (key.startswith("$") and not (depth == 1 and key in SPECIAL_FIELDS)):
                reason = "is empty" if not key else "starts with '$'"
                raise document_error("SHRED_BAD_FIELD_NAME",
                                     f"Document field name not valid: field name '{key}' {reason}.",
                                     "Document field name not valid")
            child_len = path_len + 1 + len(key)
            if child_len > MAX_PATH_LENGTH:
                raise doc_limit(f"field path length ({child_len}) exceeds maximum allowed ({MAX_PATH_LENGTH}) "
                                f"(path ends with '{key}')")
            if depth == 1 and key in SPECIAL_FIELDS:
                continue
            if isinstance(item, (dict, list)):
                stack.append((item, depth + 1, f"{path}.{key}" if path else key, child_len))


def _check_indexed(doc: dict[str, Any], settings: CollectionSettings) -> None:
    """Property counts, string and array lengths, on the paths the collection indexes."""
    total = 0
    stack: list[tuple[str, str, Any]] = [("null", "", doc)]  # the root's field prints as Java's null
    while stack:
        field, path, value = stack.pop()
        if path and not settings.indexed(path):
            continue
        if isinstance(value, dict):
            if len(value) > MAX_OBJECT_PROPERTIES:
                raise doc_limit(f"number of properties an indexable Object (field '{field}') has ({len(value)}) "
                                f"exceeds maximum allowed ({MAX_OBJECT_PROPERTIES})")
            total += len(value)
            for key, item in value.items():
                if not path and key in SPECIAL_FIELDS:
                    continue
                stack.append((key, f"{path}.{key}" if path else key, item))
        elif isinstance(value, list):
            if len(value) > MAX_ARRAY_LENGTH:
                raise doc_limit(f"number of elements an indexable Array (field '{field}') has ({len(value)}) "
                                f"exceeds maximum allowed ({MAX_ARRAY_LENGTH})")
            stack.extend((field, path, item) for item in value)
        elif isinstance(value, str) and field != "$binary" and len(value) * 4 > MAX_STRING_BYTES:
            size = len(value.encode())
            if size > MAX_STRING_BYTES:
                raise doc_limit(f"indexed String value (field '{field}') length ({size} bytes) exceeds maximum "
                                f"allowed ({MAX_STRING_BYTES} bytes)")
    if total > MAX_DOC_PROPERTIES:
        raise doc_limit(f"total number of indexed properties ({total}) in document exceeds maximum allowed "
                        f"({MAX_DOC_PROPERTIES})")
