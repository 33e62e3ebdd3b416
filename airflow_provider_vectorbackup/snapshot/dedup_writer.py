"""Writing one collection of a deduplicated (format 4) snapshot: only documents the parent lacks are stored.

Documents arrive in scan order. Each is keyed (:class:`~.packs.DocumentKeys`) and spilled to
sorted runs on local disk, so memory stays flat whatever the collection's size. At close, the
runs are merged in key order and walked beside the parent snapshot's index, which is in key
order too: a key the parent has keeps the parent's pack and line; any other document is
appended to a new document pack. A second pass cuts the entries into chunks where keys say so
and stores only chunks the parent does not already hold, then the list of its chunks, the
collection's *index*, which is also named by its content. docs/format.md, section 12, says why it
is built this way.
"""

from __future__ import annotations

import concurrent.futures
import functools
import gzip
import hashlib
import heapq
import re
import struct
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from airflow_provider_vectorbackup.snapshot.compression import SUFFIXES
from airflow_provider_vectorbackup.snapshot.encryption import ENCRYPTED_SUFFIX
from airflow_provider_vectorbackup.snapshot.errors import IntegrityError
from airflow_provider_vectorbackup.snapshot.files import Digests, HashingWriter
from airflow_provider_vectorbackup.snapshot.manifest import FileEntry
from airflow_provider_vectorbackup.snapshot.packs import (
    CHUNK_AVERAGE, FIRST_KEY_HEX, INDEX_PACK_SUFFIX, INDEX_SUFFIX, BlobFetcher, ChunkRef, DocumentKeys, IndexEntry,
    blob_path, encode_chunk, encode_entry, ends_chunk, index_entries, read_index_refs,
)
from airflow_provider_vectorbackup.snapshot.segment import SegmentFile

if TYPE_CHECKING:
    from airflow_provider_vectorbackup.snapshot.writer import SnapshotWriter

PACKING_DIR = ".packing"
"""The scratch folder, inside the snapshot's staging folder, where runs and packs are built."""
RUN_BYTES = 32 * 1024 * 1024
"""Documents held in memory before they are sorted and spilled to a run file."""
_RECORD_HEAD = struct.Struct(">32sI")
_ROW = msgspec.json.Decoder(tuple[str, str, int])
_PENDING_PACK = re.compile(rb'"pack":"#(\d+)"')
MERGE_FAN_IN = 64
"""Runs merged at once; more are first merged into fewer, larger runs, so open readers stay bounded."""


@dataclass(frozen=True)
class ParentIndex:
    """What a dump reuses from the newest earlier snapshot of the same collection."""

    snapshot_id: str
    index_name: str
    """The name of the parent's index in ``data/``."""
    index: Path
    """The parent's index (the list of its chunks), on local disk."""
    fetch: BlobFetcher
    packs: dict[str, FileEntry]
    """The parent's manifest entries of every file in ``data/`` that it uses, by name."""


@dataclass
class Deduplication:
    """How a snapshot writer stores documents once per store; given to :class:`~.writer.SnapshotWriter`."""

    keys: DocumentKeys
    put_blob: Callable[[str, Path], None]
    """Stores a finished local file as ``data/<name>`` (the caller then deletes the local file)."""
    parent_for: Callable[[str], ParentIndex | None] = lambda name: None
    retain: Callable[[list[str]], None] = lambda names: None
    """Called with the names of ``data/`` a collection reuses, before its manifest is sealed (S3 Object Lock
    extends their retention, so no pack a snapshot needs is unlocked before the snapshot is)."""

    def settings(self) -> dict[str, object]:
        return {**self.keys.settings(), "chunk_average": CHUNK_AVERAGE}


class SortedRuns:
    """An external sort of ``(key, line)`` records: sorted runs on disk, merged lazily."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._buffer: list[tuple[bytes, bytes]] = []
        self._buffered = 0
        self._runs: list[Path] = []
        self._written = 0

    def add(self, key: bytes, line: bytes) -> None:
        self._buffer.append((key, line))
        self._buffered += len(line) + 80
        if self._buffered >= RUN_BYTES:
            self._spill()

    def _spill(self) -> None:
        if not self._buffer:
            return
        self._buffer.sort(key=lambda record: record[0])
        self._write_run(self._buffer)
        self._buffer = []
        self._buffered = 0

    def _write_run(self, records: Iterable[tuple[bytes, bytes]]) -> None:
        path = self.folder / f"run-{self._written:05d}"
        self._written += 1
        with open(path, "wb", buffering=1 << 20) as file:
            for key, line in records:
                file.write(_RECORD_HEAD.pack(key, len(line)))
                file.write(line)
        self._runs.append(path)

    def merged(self) -> Iterator[tuple[bytes, bytes]]:
        """Every record in key order (records with equal keys in any order)."""
        self._spill()
        while len(self._runs) > MERGE_FAN_IN:  # one more pass over the data, instead of a reader per run
            runs, self._runs = self._runs, []
            for start in range(0, len(runs), MERGE_FAN_IN):
                self._write_run(heapq.merge(*(_read_run(path) for path in runs[start:start + MERGE_FAN_IN]),
                                            key=lambda record: record[0]))
        return heapq.merge(*(_read_run(path) for path in self._runs), key=lambda record: record[0])

    def discard(self) -> None:
        for path in self._runs:
            path.unlink(missing_ok=True)
        self._runs = []
        self._buffer = []


def _read_run(path: Path) -> Iterator[tuple[bytes, bytes]]:
    with open(path, "rb", buffering=1 << 16) as file:
        while head := file.read(_RECORD_HEAD.size):
            key, size = _RECORD_HEAD.unpack(head)
            yield key, file.read(size)
    path.unlink()


class PackedCollection:
    """The format-4 half of a collection writer: keys, sorted runs, and at close the packs and the index."""

    def __init__(self, snapshot: SnapshotWriter, name: str, dedup: Deduplication) -> None:
        self._snapshot = snapshot
        self.name = name
        self._dedup = dedup
        self.folder = snapshot.path / PACKING_DIR / name
        self.folder.mkdir(parents=True, exist_ok=True)
        self._runs = SortedRuns(self.folder)
        self.packs: dict[str, FileEntry] = {}
        self.index: FileEntry | None = None
        self.parent: str | None = None
        self.reused_documents = 0
        self.new_documents = 0
        self.bytes_stored = 0
        self._reused: set[str] = set()
        self._index_packs: list[str] = []
        self._guard = threading.Lock()  # packs are stored from the snapshot writer's hand-off threads

    def add(self, line: bytes) -> None:
        self._runs.add(self._dedup.keys(memoryview(line)[:-1]), line)  # the key of the text without its newline

    def discard(self) -> None:
        """Remove this collection's scratch files (its runs, entries, unfinished packs)."""
        self._runs.discard()
        if self.folder.exists():
            for path in self.folder.glob("*"):
                path.unlink(missing_ok=True)
            self.folder.rmdir()

    def close(self) -> None:
        """Store the new packs, the new chunks and the index; afterwards :attr:`packs` lists every file used."""
        parent = self._dedup.parent_for(self.name)
        self.parent = parent.snapshot_id if parent is not None else None
        entries_path = self.folder / "entries"
        new_packs = self._join(parent, entries_path)
        refs_path = self._chunks(parent, entries_path, new_packs)
        self._write_index(refs_path, parent)
        if self._reused:
            self._dedup.retain(sorted(self._reused))
        self.discard()

    def record(self) -> dict[str, object]:
        """What this dump did for the collection, for the manifest (informational): its parent and what it stored."""
        return {"parent": self.parent, "reused_documents": self.reused_documents,
                "new_documents": self.new_documents, "bytes_stored": self.bytes_stored}

    # -- pass 1: which documents are new --

    def _join(self, parent: ParentIndex | None, entries_path: Path) -> list[str]:
        snapshot = self._snapshot
        old: Iterator[IndexEntry] = (index_entries(parent.index, parent.fetch, f"parent {parent.snapshot_id}")
                                     if parent is not None else iter(()))
        previous = next(old, None)
        stored: list[concurrent.futures.Future[str]] = []  # one per new pack, in order; uploads overlap the join
        pack: SegmentFile | None = None
        with open(entries_path, "wb", buffering=1 << 20) as entries:
            for key, line in self._runs.merged():
                while previous is not None and previous.key < key:
                    previous = next(old, None)
                if previous is not None and previous.key == key:
                    entries.write(encode_entry(key, previous.pack, previous.line))
                    self._reuse(parent, previous.pack)
                    self.reused_documents += 1
                    previous = next(old, None)
                    continue
                if pack is not None and pack.uncompressed_bytes + len(line) > snapshot.segment_max_bytes and pack.documents:
                    stored.append(snapshot._handoff.submit(functools.partial(self._store_pack, pack)))
                    pack = None
                if pack is None:
                    local = self.folder / f"pack-{len(stored):05d}"
                    pack = SegmentFile(local, local.name, snapshot.compression, snapshot.compress_level)
                entries.write(encode_entry(key, f"#{len(stored)}", pack.documents))
                pack.write_line(line)
                self.new_documents += 1
            if pack is not None:
                stored.append(snapshot._handoff.submit(functools.partial(self._store_pack, pack)))
        concurrent.futures.wait(stored)
        return [future.result() for future in stored]

    def _reuse(self, parent: ParentIndex | None, name: str) -> None:
        if name not in self.packs:
            if parent is None or name not in parent.packs:
                raise IntegrityError(f"snapshot {parent.snapshot_id if parent else '?'}",
                                     f"its index points into data/{name}, which its manifest does not list; "
                                     f"verify that snapshot")
            with self._guard:
                self.packs[name] = parent.packs[name]
                self._reused.add(name)

    def _store_pack(self, pack: SegmentFile) -> str:
        """Close a document pack, encrypt it when asked, name it by its stored bytes, and store it."""
        snapshot = self._snapshot
        entry = pack.close()
        local = pack.path
        suffix = SUFFIXES[snapshot.compression]
        if snapshot.encryption is not None:
            encrypted = local.with_name(local.name + ENCRYPTED_SUFFIX)
            digests, size = snapshot.encryption.encrypt_file(local, encrypted)
            local.unlink()
            local, suffix = encrypted, suffix + ENCRYPTED_SUFFIX
            entry = FileEntry(entry.path, size, digests.sha256, entry.documents, entry.uncompressed_bytes,
                              sha1=digests.sha1)
        name = entry.sha256 + suffix
        stored = FileEntry(blob_path(name), entry.bytes, entry.sha256, entry.documents, entry.uncompressed_bytes,
                           sha1=entry.sha1)
        self._put(name, local, stored)
        return name

    def _put(self, name: str, local: Path, entry: FileEntry) -> None:
        try:
            self._dedup.put_blob(name, local)
        finally:
            local.unlink(missing_ok=True)
        with self._guard:
            self.packs[name] = entry
            self.bytes_stored += entry.bytes

    # -- pass 2: chunks, reused where the parent has the same one --

    def _chunks(self, parent: ParentIndex | None, entries_path: Path, new_packs: list[str]) -> Path:
        """Cut the entries into chunks and store the new ones; return a file of the chunk references, in order.

        A reference into an index pack still being written names it ``#<n>`` until :meth:`_write_index`.
        """
        old = read_index_refs(parent.index, f"parent {parent.snapshot_id}") if parent is not None else iter(())
        previous = next(old, None)
        index_packs: list[str] = []
        index_pack = _IndexPack(self.folder / "index-pack")
        chunk: list[bytes] = []
        first: str | None = None
        refs_path = self.folder / "chunks"
        refs = open(refs_path, "wb", buffering=1 << 20)

        def cut() -> None:
            nonlocal previous, index_pack, first
            stored = encode_chunk(chunk)
            name = hashlib.sha256(stored).hexdigest()
            while previous is not None and previous.first < first:
                previous = next(old, None)
            if previous is not None and previous.first == first and previous.chunk == name:
                refs.write(previous.to_json())
                self._reuse(parent, previous.pack)
            else:
                if index_pack.size + len(stored) > self._snapshot.segment_max_bytes and index_pack.size:
                    index_packs.append(self._finish_index_pack(index_pack))
                    index_pack = _IndexPack(self.folder / "index-pack")
                refs.write(ChunkRef(name, f"#{len(index_packs)}", index_pack.size, len(stored), len(chunk),
                                    first).to_json())
                index_pack.write(stored)
            chunk.clear()
            first = None

        with refs, open(entries_path, "rb", buffering=1 << 20) as entries:
            for row in entries:
                key, pack, line = _ROW.decode(row)
                if pack.startswith("#"):
                    pack = new_packs[int(pack[1:])]
                    row = encode_entry(bytes.fromhex(key), pack, line)
                if first is None:
                    first = key[:FIRST_KEY_HEX]
                chunk.append(row)
                if ends_chunk(bytes.fromhex(key[:8]), len(chunk)):
                    cut()
            if chunk:
                cut()
        if index_pack.size:
            index_packs.append(self._finish_index_pack(index_pack))
        else:
            index_pack.discard()
        self._index_packs = index_packs
        return refs_path

    def _finish_index_pack(self, index_pack: _IndexPack) -> str:
        digests, size = index_pack.close()
        name = digests.sha256 + INDEX_PACK_SUFFIX
        self._put(name, index_pack.path, FileEntry(blob_path(name), size, digests.sha256, sha1=digests.sha1))
        return name

    def _write_index(self, refs_path: Path, parent: ParentIndex | None) -> None:
        """Store the list of chunks in ``data/`` too: named by its content, an unchanged index is not stored again.

        Streamed from the references' file, so memory does not grow with the number of chunks.
        """
        local = self.folder / "index"
        raw = HashingWriter(local)
        with open(refs_path, "rb") as refs:
            with gzip.GzipFile(filename="", mode="wb", compresslevel=6, fileobj=raw, mtime=0) as index:
                for line in refs:
                    index.write(_PENDING_PACK.sub(
                        lambda m: b'"pack":"%s"' % self._index_packs[int(m[1])].encode(), line))
        digests, size = raw.close(), raw.size
        refs_path.unlink()
        name = digests.sha256 + INDEX_SUFFIX
        entries = self.reused_documents + self.new_documents  # one entry per document
        self.index = FileEntry(blob_path(name), size, digests.sha256, entries, sha1=digests.sha1)
        if parent is not None and parent.index_name == name:  # nothing changed: the parent's index is this one
            local.unlink()
            self._reused.add(name)
            return
        try:
            self._dedup.put_blob(name, local)
        finally:
            local.unlink(missing_ok=True)
        self.bytes_stored += size


class _IndexPack:
    """An index pack being written: chunks (gzip members) back to back."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer = HashingWriter(path)
        self.size = 0

    def write(self, stored: bytes) -> None:
        self._writer.write(stored)
        self.size += len(stored)

    def close(self) -> tuple[Digests, int]:
        return self._writer.close(), self.size

    def discard(self) -> None:
        self._writer.discard()
