"""What an engine can hold, and a collection described in no engine's terms: the two things a cross-engine restore asks.

A restore into another engine (``translation/``) reads each target's :class:`Capabilities` to
decide, before writing, what crosses exactly, what is changed reversibly and what would be lost,
then asks the target for a definition of its own from a :class:`PortableCollection`
(``VectorSource.portable_definition``). The documents it then sends are in the target's stored form
(docs/format.md 6.6) and hold only values the capabilities say the target keeps exactly, so the
target reads back exactly what was sent.

No Airflow here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ID_TYPES = ("int", "string", "uuid")
"""Id types in portable terms: a JSON integer, a string, a UUID (the ``uuid`` envelope, or the Data API's ``$uuid``)."""

PAYLOAD_KINDS = ("string", "int", "float", "bool", "datetime", "date", "time", "decimal", "uuid", "bytes", "json")
"""Payload field kinds in portable terms. ``json`` is any JSON value: objects, lists, nulls, or a field whose values
are of more than one kind. The others name one kind of value, with the codec's envelope where JSON has none
(docs/format.md 6.3)."""

RESERVED_FIELD = "_vectorbackup"
"""The payload field where a cross-engine restore keeps what it had to change in a document (docs/restore.md).
A source collection with a user field of this name is refused by a cross-engine restore."""


@dataclass(frozen=True)
class Capabilities:
    """What one engine holds exactly, as created by its ``portable_definition``: every limit a translation checks."""

    id_types: frozenset[str]
    """Of :data:`ID_TYPES`."""
    mixed_ids: bool = False
    """One collection may hold ids of several of its ``id_types`` (no typed key column)."""
    int_ids: tuple[int, int] | None = None
    """The smallest and largest integer id (``None``: no integer ids)."""
    max_id_length: int | None = None
    """The longest string id, in characters (``None``: no limit we know of)."""
    dense_fields: int | None = 1
    """Most dense vector fields in one collection (``None``: no limit)."""
    sparse_fields: int = 0
    """Most sparse vector fields in one collection."""
    multi: bool = False
    """Holds multivectors (several vectors per document in one field)."""
    dtypes: frozenset[str] = frozenset({"float32"})
    """Dense element types held bit for bit."""
    metrics: frozenset[str] = frozenset({"cosine", "euclidean", "dot_product"})
    """Metrics it can index (the definitions' vocabulary, docs/format.md 4.1.1)."""
    max_dimension: int | None = None
    normalizes: frozenset[str] = frozenset()
    """Metrics whose vectors it keeps at unit length whatever was written (Qdrant's cosine)."""
    vector_names: tuple[str, ...] | None = None
    """The names its vector fields always have (a single-vector engine: Chroma's ``embedding``), first the dense
    one; ``None``: the collection names them."""
    name_pattern: str = r"^[A-Za-z_][A-Za-z0-9_]{0,62}$"
    """Vector and payload field names it takes."""
    payload_kinds: frozenset[str] = frozenset(PAYLOAD_KINDS)
    """Kinds of top-level payload values it keeps exactly; others are stored as strings, originals kept aside."""
    nested: bool = True
    """Keeps objects and lists of any JSON as they are (False: flat metadata)."""
    flat_lists: frozenset[str] = frozenset()
    """Without ``nested``: the element kinds of the non-empty, single-kind lists it keeps."""
    typed_fields: bool = False
    """A field holds values of one kind only (a typed property): a field of several kinds goes as strings unless
    ``json`` is among ``payload_kinds``."""
    nulls: bool = True
    """Keeps a field whose value is null (False: the field disappears)."""
    envelopes: bool = True
    """Keeps a JSON object with the key ``$backupType`` (the codec's envelopes) as it is, nested inside JSON values."""
    ejson: bool = False
    """Keeps the Data API's extended JSON values (``{"$date": …}``, ``{"$uuid": …}``…) as typed values."""
    ints_as_floats: bool = False
    """Hands integers back as floats (Pinecone's metadata numbers)."""
    int_range: tuple[int, int] | None = (-(2 ** 63), 2 ** 63 - 1)
    """Integers it keeps exactly (``None``: any size)."""
    payload_bytes: int | None = None
    """Most bytes of one document's payload (as compact JSON), reserved field included (``None``: no limit)."""
    extras: tuple[str, ...] = ()
    """Top-level stored-form keys besides ``_id``, ``$vectors`` and ``payload`` (Chroma: ``document``, ``uri``)."""


@dataclass(frozen=True)
class PortableCollection:
    """A collection as a cross-engine restore asks a target to create it, already fitted to the target's capabilities.

    Names are the target's; kinds are ones the target holds.
    """

    id_type: str
    """Of :data:`ID_TYPES`: the type the target's ids will have."""
    vectors: dict[str, dict[str, Any]]
    """``{<field>: {"kind", "dtype", "dimension", "metric", "nullable"}}``, as a definition's ``vectors`` block."""
    payload: dict[str, str] = field(default_factory=dict)
    """``{<field>: <kind of PAYLOAD_KINDS>}`` for every top-level payload field, the reserved field included
    (kind ``string``) when some document needs it. Engines without a schema may ignore it."""
    max_id_length: int = 0
    """The longest string id among the documents (0 for other id types): a typed key column can be sized by it."""

    def to_dict(self) -> dict[str, Any]:
        return {"id_type": self.id_type, "vectors": self.vectors, "payload": self.payload,
                "max_id_length": self.max_id_length}
