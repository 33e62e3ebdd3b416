"""One document from one engine's stored form to another's, keeping aside whatever the target changes.

Two steps. :func:`neutral` reads a stored document of any engine into a :class:`Neutral` one (the
Data API's ``$vector`` becomes the vector field ``$vector``, its other fields the payload) and, when
the document carries a reserved record (:data:`RESERVED_FIELD`) from an earlier translation, puts
back everything that translation changed: the original id, values, vector names and element types.
:class:`Translator` then writes a neutral document in the target's stored form, changing only what
the target cannot hold and recording each change in a new reserved record, so that restoring the
result into the original engine gives back the original document exactly.

The reserved record is compact JSON in one string field: ``{"v": 1, "engine": <origin>, "id": <original id>,
"fields": {<field>: <original value>}, "vectors": {<target name>: {"name": <original>, "dtype": <original>}},
"extras": {<key>: <value>}}``, each part present only when needed (docs/restore.md).
"""

from __future__ import annotations

import base64
import json
import math
import re
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from airflow_provider_vectorbackup.snapshot.codec import ENVELOPE_KEY, VALUE_KEY
from airflow_provider_vectorbackup.snapshot.vector_fields import DENSE, VECTORS_FIELD, dense, dense_from_bytes, unpack
from airflow_provider_vectorbackup.snapshot.vectors import VECTOR_FIELD, binary_to_floats, floats_to_binary
from airflow_provider_vectorbackup.sources.portable import RESERVED_FIELD, Capabilities
from airflow_provider_vectorbackup.sources.qdrant.cosine import canonical
from airflow_provider_vectorbackup.translation.values import as_text, compact_json, fits, payload_bytes

ID_NAMESPACE = uuid.UUID("6f1c0a52-8d3e-5b7a-9c41-2e0d7b5a9f13")
"""The UUIDv5 namespace of ids mapped for engines that take UUIDs only: ``uuid5(ID_NAMESPACE, text)``, where
``text`` is the id's string form (an integer's decimal digits, a string as it is). Documented in docs/restore.md
so other tools can compute the same UUIDs."""

RECORD_VERSION = 1
ASTRA = "astra"
PAYLOAD = "payload"
ID = "_id"
_UUID_TEXT = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_ASTRA_EXTRAS = ("$vectorize", "$lexical")
VECTOR_ENCODING = "$vector_encoding"
"""An extra of Data API documents whose ``$vector`` was ``$binary`` (``"binary"``) or an array of float32 values
written out in full (``"exact"``) rather than in their shortest form, so that it goes back as it came."""


class TranslationError(ValueError):
    """A document cannot be translated as the plan says (a reserved-name clash, a damaged reserved record)."""


@dataclass
class Neutral:
    """A document in no engine's terms: its stored-form id (``uuid`` envelope for UUIDs), vector fields by
    name (``vector_fields`` values), payload, and engine-specific extras (Chroma's ``document``, the Data API's
    ``$vectorize``...)."""

    id: Any
    vectors: dict[str, dict[str, Any]]
    payload: dict[str, Any]
    extras: dict[str, Any] = field(default_factory=dict)
    engine: str = ""
    """The engine the document first came from."""
    renamed: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Vector fields an earlier translation renamed or widened: their name there → ``{"name", "dtype"}`` here."""


def id_kind(stored_id: Any) -> str:
    """``int``, ``string``, ``uuid`` or ``other`` (the Data API's ``$objectId`` and ``$date`` ids)."""
    if isinstance(stored_id, bool):
        return "other"
    if isinstance(stored_id, int):
        return "int"
    if isinstance(stored_id, str):
        return "string"
    if isinstance(stored_id, dict) and stored_id.get(ENVELOPE_KEY) == "uuid":
        return "uuid"
    return "other"


def neutral(document: dict[str, Any], engine: str) -> Neutral:
    """Read a stored document of ``engine``, undoing an earlier translation recorded in it.

    :raises TranslationError: the reserved field holds something that is not a reserved record.
    """
    if engine == ASTRA:
        result = _from_astra(document)
    else:
        extras = {k: v for k, v in document.items() if k not in (ID, VECTORS_FIELD, PAYLOAD)}
        result = Neutral(document[ID], dict(document.get(VECTORS_FIELD) or {}), dict(document.get(PAYLOAD) or {}),
                         extras, engine)
    record_text = result.payload.pop(RESERVED_FIELD, None)
    if record_text is not None:
        _apply_record(result, record_text)
    return result


def _from_astra(document: dict[str, Any]) -> Neutral:
    stored_id = document[ID]
    if isinstance(stored_id, dict) and set(stored_id) == {"$uuid"}:
        stored_id = {ENVELOPE_KEY: "uuid", VALUE_KEY: stored_id["$uuid"]}
    vectors: dict[str, dict[str, Any]] = {}
    extras: dict[str, Any] = {}
    vector = document.get(VECTOR_FIELD)
    if isinstance(vector, list):
        # The Data API keeps float32 elements, and a snapshot's digest reads them so (docs/format.md 7.1): the
        # values are float32 values. Only their spelling may vary, and one written out in full is kept so.
        vectors[VECTOR_FIELD] = dense(vector)
        if _spelled_in_full(vector) and not _spelled_shortest(vector):  # the cheap test first
            extras[VECTOR_ENCODING] = "exact"
    elif isinstance(vector, dict) and "$binary" in vector:
        vectors[VECTOR_FIELD] = dense(binary_to_floats(vector["$binary"]))
        extras[VECTOR_ENCODING] = "binary"
    payload = {}
    for key, value in document.items():
        if key in (ID, VECTOR_FIELD):
            continue
        if key in _ASTRA_EXTRAS:
            extras[key] = value
        else:
            payload[key] = value
    return Neutral(stored_id, vectors, payload, extras, ASTRA)


def _apply_record(document: Neutral, text: Any) -> None:
    try:
        record = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        record = None
    if not isinstance(record, dict) or record.get("v") != RECORD_VERSION:
        raise TranslationError(
            f"document {document.id!r} has a payload field {RESERVED_FIELD!r} that is not a reserved record of this "
            f"package; {RESERVED_FIELD!r} is reserved for restores across engines (docs/restore.md). Rename that field "
            f"in the source, or restore into the same engine")
    document.engine = record.get("engine", document.engine)
    if "id" in record:
        document.id = record["id"]
    document.payload.update(record.get("fields") or {})
    for target_name, original in (record.get("vectors") or {}).items():
        value = document.vectors.pop(target_name, None)
        if value is None:
            continue
        dtype = original.get("dtype")
        if dtype and value.get("kind") == DENSE and value.get("dtype") != dtype:
            value = dense(unpack(_raw(value["data"]), value["dtype"]), dtype)  # widened earlier: exact back
        document.vectors[original["name"]] = value
        document.renamed[target_name] = original
    document.extras.update(record.get("extras") or {})


def _raw(data: str) -> bytes:
    return base64.b64decode(data)


def _shortest(values: list[float]) -> list[float]:
    """Each value as float32, spelled in its shortest form (how the Data API prints a stored element)."""
    return [float(str(single)) for single in np.asarray(values, dtype=np.float32)]


def _spelled_shortest(vector: list[Any]) -> bool:
    try:
        return _shortest(vector) == vector
    except (TypeError, ValueError):
        return False


def _spelled_in_full(vector: list[Any]) -> bool:
    """Whether every element is a float32 value written with all its digits (as a float64 reads it)."""
    try:
        wide = np.asarray(vector, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return bool(np.array_equal(wide.astype(np.float32).astype(np.float64), wide))


@dataclass(frozen=True)
class VectorMapping:
    """Where one source vector field goes: ``target`` name (``None``: dropped) and the target element type."""

    source: str
    target: str | None
    dtype: str | None = None
    lossy: tuple[str, ...] = ()
    """The ``--allow-lossy`` kinds this mapping needs: each document with the field counts under each."""
    normalize: bool = False
    """The target keeps this field's vectors at unit length: they are sent so, and a vector that was not is
    counted (its length is lost)."""


@dataclass
class Touched:
    """Documents each change touched while translating, by ``<what>:<field>`` (``id``, ``field:<name>``, and a
    lossy kind with its vector field, e.g. ``drop-sparse:words``): the plan's counts and the report's."""

    counts: Counter[str] = field(default_factory=Counter)
    largest_payload: int = 0

    def add(self, key: str) -> None:
        self.counts[key] += 1

    def lossy(self, kind: str) -> int:
        """Documents a lossy kind touched, over every field."""
        return sum(n for key, n in self.counts.items() if key == kind or key.startswith(kind + ":"))


class Translator:
    """Write neutral documents in one target engine's stored form, recording what changed in a reserved record."""

    def __init__(self, target_kind: str, capabilities: Capabilities, vectors: list[VectorMapping], *,
                 id_type: str | None = None, text_fields: frozenset[str] = frozenset(),
                 truncate_payload: bool = False) -> None:
        self.target_kind = target_kind
        self.capabilities = capabilities
        self.id_type = id_type
        """The one id type of the target collection (``None``: each id as the target takes it)."""
        self.text_fields = text_fields
        """Fields stored as strings in every document (several kinds of values, in a target with typed fields)."""
        self.vectors = {m.source: m for m in vectors}
        self.truncate_payload = truncate_payload
        self.names = re.compile(capabilities.name_pattern)
        self.touched = Touched()

    # -- ids --

    def target_id(self, stored_id: Any) -> tuple[Any, bool]:
        """The target's id for a source id, and whether it changed (then the original goes in the record)."""
        caps = self.capabilities
        kind = id_kind(stored_id)
        if self.id_type is not None and kind != self.id_type:
            text = id_text(stored_id)
            if self.id_type == "string" and len(text) <= (caps.max_id_length or len(text)):
                return text, True
            if self.id_type == "uuid" and kind == "string" and _UUID_TEXT.match(text):
                return {ENVELOPE_KEY: "uuid", VALUE_KEY: text}, True
            uuid_text = str(uuid.uuid5(ID_NAMESPACE, text))
            return ({ENVELOPE_KEY: "uuid", VALUE_KEY: uuid_text} if self.id_type == "uuid" else uuid_text), True
        if kind == "int" and "int" in caps.id_types and caps.int_ids and caps.int_ids[0] <= stored_id <= caps.int_ids[1]:
            return stored_id, False
        if kind == "string" and "string" in caps.id_types and len(stored_id) <= (caps.max_id_length or len(stored_id)):
            return stored_id, False
        if kind == "uuid" and "uuid" in caps.id_types:
            return stored_id, False
        text = id_text(stored_id)
        if kind == "string" and "uuid" in caps.id_types and _UUID_TEXT.match(text):
            return {ENVELOPE_KEY: "uuid", VALUE_KEY: text}, True
        if kind in ("int", "uuid") and "string" in caps.id_types:
            return text, True
        if "uuid" in caps.id_types:
            return {ENVELOPE_KEY: "uuid", VALUE_KEY: str(uuid.uuid5(ID_NAMESPACE, text))}, True
        return str(uuid.uuid5(ID_NAMESPACE, text)), True

    # -- documents --

    def translate(self, document: Neutral) -> dict[str, Any]:
        caps = self.capabilities
        record: dict[str, Any] = {}
        target_id, changed = self.target_id(document.id)
        if changed:
            record["id"] = document.id
            self.touched.add("id")
        vectors: dict[str, dict[str, Any]] = {}
        renamed: dict[str, dict[str, Any]] = {}
        for name, value in document.vectors.items():
            mapping = self.vectors.get(name)
            for kind in mapping.lossy if mapping is not None else ("drop-vector",):
                self.touched.add(f"{kind}:{name}")
            if mapping is None or mapping.target is None:
                continue
            original_dtype = value.get("dtype")
            if mapping.dtype and value.get("kind") == DENSE and value.get("dtype") != mapping.dtype:
                value = dense(unpack(_raw(value["data"]), value["dtype"]), mapping.dtype)
            if mapping.normalize and value.get("kind") == DENSE:
                unit = unit_length(value)
                if unit is not value:
                    value = unit
                    self.touched.add(f"normalize:{name}")
            vectors[mapping.target] = value
            if mapping.target != name or (original_dtype and original_dtype != value.get("dtype")):
                renamed[mapping.target] = {"name": name, **({"dtype": original_dtype}
                                                            if original_dtype != value.get("dtype") else {})}
        if renamed:
            record["vectors"] = renamed
        payload: dict[str, Any] = {}
        originals: dict[str, Any] = {}
        for name, value in document.payload.items():
            if name == RESERVED_FIELD:
                raise TranslationError(f"document {document.id!r} has a field named {RESERVED_FIELD!r}, which is "
                                       f"reserved for restores across engines")
            if not self.names.match(name) or (self.target_kind == ASTRA and name in (ID, VECTOR_FIELD)):
                originals[name] = value
                self.touched.add(f"field:{name}")
                continue
            if name not in self.text_fields and fits(value, caps):
                payload[name] = value
                continue
            originals[name] = value
            self.touched.add(f"field:{name}")
            if value is None:
                continue
            if isinstance(value, int) and not isinstance(value, bool) and caps.ints_as_floats \
                    and abs(value) <= 2 ** 53 and "float" in caps.payload_kinds:
                payload[name] = float(value)
            else:
                payload[name] = as_text(value)
        if originals:
            record["fields"] = originals
        extras = {}
        for key, value in document.extras.items():
            if key in caps.extras:
                extras[key] = value
            elif key == VECTOR_ENCODING and self.target_kind == ASTRA:
                continue  # how _stored writes $vector
            else:
                record.setdefault("extras", {})[key] = value
        if record:
            record = {"v": RECORD_VERSION, "engine": document.engine, **record}
            payload[RESERVED_FIELD] = compact_json(record)
        size = payload_bytes(payload)
        if caps.payload_bytes is not None and size > caps.payload_bytes:
            self.touched.add("truncate-metadata")
            if self.truncate_payload:
                payload = self._truncated(payload, caps.payload_bytes)
                size = payload_bytes(payload)
        self.touched.largest_payload = max(self.touched.largest_payload, size)
        return self._stored(target_id, vectors, payload, extras, document)

    def _truncated(self, payload: dict[str, Any], limit: int) -> dict[str, Any]:
        """Drop the largest user fields until the payload fits (``truncate-metadata``); the reserved record last."""
        kept = dict(payload)
        for name in sorted((n for n in kept if n != RESERVED_FIELD), key=lambda n: -len(compact_json(kept[n]))):
            if payload_bytes(kept) <= limit:
                break
            del kept[name]
        if payload_bytes(kept) > limit:
            kept.pop(RESERVED_FIELD, None)
        return kept

    def _stored(self, target_id: Any, vectors: dict[str, dict[str, Any]], payload: dict[str, Any],
                extras: dict[str, Any], document: Neutral) -> dict[str, Any]:
        if self.target_kind != ASTRA:
            return {ID: target_id, VECTORS_FIELD: vectors, PAYLOAD: payload, **extras}
        if isinstance(target_id, dict) and target_id.get(ENVELOPE_KEY) == "uuid":
            target_id = {"$uuid": target_id[VALUE_KEY]}
        stored: dict[str, Any] = {ID: target_id}
        value = vectors.get(VECTOR_FIELD)
        if value is not None:
            floats = unpack(_raw(value["data"]), value["dtype"])
            if document.extras.get(VECTOR_ENCODING) == "binary":
                stored[VECTOR_FIELD] = {"$binary": floats_to_binary(floats)}
            elif document.extras.get(VECTOR_ENCODING) == "exact":
                stored[VECTOR_FIELD] = floats
            else:
                stored[VECTOR_FIELD] = _shortest(floats)
        stored.update(payload)
        return stored


UNIT_LENGTH_TOLERANCE = 1e-6
"""A vector whose length is within this of 1 counts as unit length, as a Qdrant server keeps it: an embedding model's
normalised float32 output is not 1 to the last bit, and losing nothing, it is sent as it is."""


def unit_length(value: dict[str, Any]) -> dict[str, Any]:
    """The vector itself when of unit length (or zero, or not finite), else its canonical Cosine form."""
    values = unpack(_raw(value["data"]), value["dtype"])
    length = math.sqrt(math.fsum(v * v for v in values))
    if not length or not math.isfinite(length) or abs(length - 1.0) <= UNIT_LENGTH_TOLERANCE:
        return value
    return dense_from_bytes(canonical(values).astype("<f4").tobytes())


def id_text(stored_id: Any) -> str:
    """An id's string form: decimal digits, the string itself, the canonical UUID, or compact JSON for other ids."""
    if isinstance(stored_id, str):
        return stored_id
    if isinstance(stored_id, int) and not isinstance(stored_id, bool):
        return str(stored_id)
    if isinstance(stored_id, dict) and stored_id.get(ENVELOPE_KEY) == "uuid":
        return str(stored_id[VALUE_KEY])
    return compact_json(stored_id)
