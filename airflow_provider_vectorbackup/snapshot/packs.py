"""Format 4: documents stored once per store, in packs named by their content, and a small index per snapshot.

A deduplicated snapshot (docs/format.md, section 12) keeps only its manifest and definitions in its
folder. Its documents live in *document packs* in the store's shared ``data/`` area, which are
segments named by the SHA-256 of their stored bytes. Each collection's *index*
(``data/<sha256>.chunks.gz``) lists, in key order, *index chunks*: sorted runs of
``[key, pack, line]`` entries, one per document, cut where a key's own bits say so, so that an
unchanged stretch of keys gives byte-identical chunks that the next snapshot reuses. Chunks are
stored in *index packs* (``data/<sha256>.index``), concatenated gzip members.

This module holds the pieces both the writer and the readers use: names, keys, the chunk
encoding, and reading an index back.
"""

from __future__ import annotations

import gzip
import hashlib
import hmac
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from airflow_provider_vectorbackup.snapshot.errors import IntegrityError

BLOB_DIR = "data"
INDEX_SUFFIX = ".chunks.gz"
"""A collection's index, the list of its chunks: ``data/<sha256>.chunks.gz``."""
INDEX_PACK_SUFFIX = ".index"
DEDUP_FORMAT_VERSION = 4
"""The ``format_version`` of a deduplicated snapshot."""

CHUNK_AVERAGE = 16
"""A chunk ends after an entry whose key, read as a number, is divisible by this: 16 entries on average.
Measured trade-off (docs/format.md, 12.8): smaller chunks mean fewer entries rewritten around each change, larger
ones a shorter collection index (``.chunks.gz``), which every snapshot that changed stores whole."""
CHUNK_MAX_ENTRIES = 256
"""A chunk also ends here, so that no key pattern can make one chunk hold the whole collection."""
MAX_CHUNK_BYTES = 1 << 20
"""A chunk's gzip member must inflate to at most this (256 entries of at most ~150 bytes each fit easily)."""
FIRST_KEY_HEX = 16
"""A chunk reference names where the chunk starts by its first key's first 16 hex digits."""

_BLOB_NAME = re.compile(r"[0-9a-f]{64}(?:\.index|\.chunks\.gz|\.jsonl(?:\.gz|\.zst)?(?:\.age)?)")
BLOB_NAME_RULE = ("64 lowercase hex digits then '.index', '.chunks.gz', or '.jsonl', '.jsonl.gz' or '.jsonl.zst' "
                  "with '.age' appended when encrypted")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_FIRST = re.compile(r"[0-9a-f]{16}")
_DEDUP_KEY_LABEL = b"vectorbackup-dedup-key/v1"
_KEY_ID_LABEL = b"vectorbackup-dedup-key-id/v1"

_ENTRY_ENCODER = msgspec.json.Encoder()
_ENTRY_DECODER = msgspec.json.Decoder(tuple[str, str, int])
_REF_DECODER = msgspec.json.Decoder()


def is_blob_name(name: object) -> bool:
    return isinstance(name, str) and _BLOB_NAME.fullmatch(name) is not None


def check_blob_name(name: str) -> str:
    """``name`` if it may name a file of the shared ``data/`` area, else ValueError naming the rule."""
    if not is_blob_name(name):
        raise ValueError(f"{name!r} is not a name of the store's data area: it must be {BLOB_NAME_RULE}")
    return name


def blob_path(name: str) -> str:
    """The path of a shared file as a manifest lists it: ``data/<name>``."""
    return f"{BLOB_DIR}/{check_blob_name(name)}"


def blob_name(path: str) -> str:
    """The inverse of :func:`blob_path`."""
    prefix = BLOB_DIR + "/"
    if not path.startswith(prefix):
        raise ValueError(f"{path!r} is not in the store's {BLOB_DIR}/ area")
    return check_blob_name(path[len(prefix):])


def is_index_pack(name: str) -> bool:
    return name.endswith(INDEX_PACK_SUFFIX)


def is_index(name: str) -> bool:
    return name.endswith(INDEX_SUFFIX)


def is_document_pack(name: str) -> bool:
    return not (is_index(name) or is_index_pack(name))


class DocumentKeys:
    """Names a document in the index by its stored line: SHA-256, or HMAC-SHA256 when the snapshot is encrypted.

    With encryption, a plain hash would let anyone who reads the store test whether it holds a
    document they can guess; keyed, a name says nothing without the key. The key is derived from
    the manifest signer (a deterministic signature of a fixed label), so no new secret is needed,
    and ``key_id`` tells which key made an index without revealing it.
    """

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key
        self.scheme = "sha256" if key is None else "hmac-sha256"
        self.key_id = None if key is None else hmac.new(key, _KEY_ID_LABEL, hashlib.sha256).hexdigest()[:16]

    @classmethod
    def from_signer(cls, signer: Any) -> DocumentKeys:
        return cls(hashlib.sha256(signer.sign(_DEDUP_KEY_LABEL)).digest())

    def __call__(self, line: bytes | memoryview) -> bytes:
        if self._key is None:
            return hashlib.sha256(line).digest()
        return hmac.new(self._key, line, hashlib.sha256).digest()

    def settings(self) -> dict[str, Any]:
        """What the manifest's ``settings.dedup`` records of the keys: never the key itself."""
        return {"key": self.scheme, "key_id": self.key_id}

    def __repr__(self) -> str:
        return f"DocumentKeys({self.scheme}, key_id={self.key_id})"

    def __reduce__(self) -> None:  # never pickle the key into XCom or a log by accident
        raise TypeError("DocumentKeys holds a key and cannot be pickled")


def ends_chunk(key: bytes, entries_in_chunk: int) -> bool:
    """Whether a chunk ends after this entry: decided by the key itself, so boundaries move only where keys change."""
    return int.from_bytes(key[:4], "big") % CHUNK_AVERAGE == 0 or entries_in_chunk >= CHUNK_MAX_ENTRIES


def encode_entry(key: bytes, pack: str, line: int) -> bytes:
    return _ENTRY_ENCODER.encode((key.hex(), pack, line)) + b"\n"


def encode_chunk(entry_lines: list[bytes]) -> bytes:
    """One chunk as stored: a gzip member (level 6, ``mtime`` 0) of its entry lines, so equal chunks are equal bytes."""
    return gzip.compress(b"".join(entry_lines), compresslevel=6, mtime=0)


@dataclass(frozen=True)
class ChunkRef:
    """One line of a collection's index: where a chunk is, what it hashes to, and its first key."""

    chunk: str
    """SHA-256 of the chunk's stored bytes (its gzip member)."""
    pack: str
    """The index pack holding it, a name in ``data/``."""
    offset: int
    bytes: int
    entries: int
    first: str
    """The first 16 hex digits of the chunk's first key: chunks are in key order, so this is where it starts."""

    def to_json(self) -> bytes:
        return _ENTRY_ENCODER.encode({"chunk": self.chunk, "pack": self.pack, "offset": self.offset,
                                      "bytes": self.bytes, "entries": self.entries, "first": self.first}) + b"\n"

    @classmethod
    def from_json(cls, line: bytes, where: str) -> ChunkRef:
        try:
            data = _REF_DECODER.decode(line)
            ref = cls(**{name: data[name] for name in ("chunk", "pack", "offset", "bytes", "entries", "first")})
        except (ValueError, TypeError, KeyError):
            raise IntegrityError(where, "a line of the index is not a chunk reference; the index is damaged") from None
        ints = (ref.offset, ref.bytes, ref.entries)
        if (not all(type(n) is int and n >= 0 for n in ints) or not isinstance(ref.chunk, str)
                or _HEX64.fullmatch(ref.chunk) is None or not is_blob_name(ref.pack) or not is_index_pack(ref.pack)
                or not isinstance(ref.first, str) or _FIRST.fullmatch(ref.first) is None
                or not 0 < ref.entries <= CHUNK_MAX_ENTRIES or ref.bytes > MAX_CHUNK_BYTES):
            raise IntegrityError(where, f"a chunk reference of the index breaks the format's rules: {line[:200]!r}")
        return ref


@dataclass(frozen=True)
class IndexEntry:
    key: bytes
    pack: str
    line: int


def read_index_refs(path: Path, where: str) -> Iterator[ChunkRef]:
    """The chunk references of an index on disk, in order, checking that their first keys ascend."""
    previous = ""
    try:
        with gzip.open(path, "rb") as file:
            for line in file:
                ref = ChunkRef.from_json(line, where)
                if ref.first < previous:
                    raise IntegrityError(where, "the index's chunks are not in key order; the index is damaged")
                previous = ref.first
                yield ref
    except FileNotFoundError:
        raise IntegrityError(where, f"the index {path.name} is missing") from None
    except (OSError, EOFError, zlib.error) as exc:
        raise IntegrityError(where, f"the index is not a readable gzip file ({exc}); it is damaged") from None


def read_chunk(index_pack: Path, ref: ChunkRef) -> list[IndexEntry]:
    """The entries of one chunk, after checking its bytes against its name, its length and key order."""
    where = blob_path(ref.pack)
    with open(index_pack, "rb") as file:
        file.seek(ref.offset)
        stored = file.read(ref.bytes)
    if len(stored) != ref.bytes or hashlib.sha256(stored).hexdigest() != ref.chunk:
        raise IntegrityError(where, f"the index chunk at offset {ref.offset} ({ref.bytes} bytes) does not hash to "
                             f"{ref.chunk}: the index pack is damaged or was altered")
    try:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        plain = inflater.decompress(stored, MAX_CHUNK_BYTES + 1)
        if len(plain) > MAX_CHUNK_BYTES or not inflater.eof or inflater.unused_data:
            raise zlib.error("not exactly one gzip member within the bound")
        rows = [_ENTRY_DECODER.decode(line) for line in plain.splitlines()]
    except (zlib.error, ValueError, msgspec.ValidationError) as exc:
        raise IntegrityError(where, f"the index chunk at offset {ref.offset} cannot be read ({exc})") from None
    entries = [IndexEntry(bytes.fromhex(key), pack, line) for key, pack, line in rows]
    if (len(entries) != ref.entries or entries[0].key.hex()[:FIRST_KEY_HEX] != ref.first
            or any(a.key > b.key for a, b in zip(entries, entries[1:]))
            or any(not is_blob_name(e.pack) or is_index_pack(e.pack) or e.line < 0 for e in entries)):
        raise IntegrityError(where, f"the index chunk at offset {ref.offset} does not hold {ref.entries} valid "
                             f"entries in key order starting at {ref.first}…")
    return entries


BlobFetcher = Callable[[str], Path]
"""A local path holding ``data/<name>``: the file itself in a local store, else a downloaded copy."""


def index_entries(index: Path, fetch: BlobFetcher, where: str) -> Iterator[IndexEntry]:
    """Every entry of a snapshot's index, in key order, reading each chunk from its index pack."""
    previous: bytes | None = None
    for ref in read_index_refs(index, where):
        for entry in read_chunk(fetch(ref.pack), ref):
            if previous is not None and entry.key < previous:
                raise IntegrityError(where, "the index's entries are not in key order across its chunks")
            previous = entry.key
            yield entry

