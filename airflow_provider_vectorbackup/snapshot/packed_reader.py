"""Reading a deduplicated (format 4) collection: which lines of which packs are its documents.

The index is read whole first, into one bit per line of every document pack it uses, so that
a damaged index is refused before any document is used, and memory stays at a bit per document
(10 million documents: 1.2 MiB). The packs are then read one by one, in name order, each checked
against its manifest entry like a segment; documents come out in that order, not the dump's.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from airflow_provider_vectorbackup.snapshot.errors import IntegrityError
from airflow_provider_vectorbackup.snapshot.files import digests_of_file
from airflow_provider_vectorbackup.snapshot.manifest import CollectionEntry, FileEntry
from airflow_provider_vectorbackup.snapshot.packs import BLOB_DIR, blob_name, index_entries, is_index_pack


def uses_line(wanted: bytearray, line: int) -> bool:
    """Whether bit ``line`` (zero-based) of a pack's line map, as :func:`packed_plan` gives it, is set."""
    return bool(wanted[line >> 3] & (1 << (line & 7)))


def blob_folder(snapshot_folder: Path) -> Path:
    """Where a snapshot's shared files are: ``data/`` beside the snapshot folder, in a store or in a download."""
    return snapshot_folder.parent / BLOB_DIR


def packed_plan(folder: Path, entry: CollectionEntry) -> Iterator[tuple[Path, FileEntry, bytearray]]:
    """For each document pack the collection uses: its local path, its manifest entry, and the lines it uses.

    :raises IntegrityError: the index or an index pack is missing, damaged or inconsistent with the
        manifest (a pack it does not list, a line past a pack's end, a line used twice, a wrong count).
    """
    index = entry.index
    if index is None:
        raise ValueError(f"collection {entry.name!r} is not deduplicated")
    data = blob_folder(folder)
    local_index = data / blob_name(index.path)
    if not local_index.is_file():
        raise IntegrityError(index.path, "listed in the manifest but not in the store's data area")
    digests, size = digests_of_file(local_index)
    if size != index.bytes or digests.sha256 != index.sha256:
        raise IntegrityError(index.path, "the index's size or SHA-256 differs from the manifest: it was damaged or "
                             "altered after the backup")
    packs = {blob_name(pack.path): pack for pack in entry.packs}

    def fetch(name: str) -> Path:
        if name not in packs:
            raise IntegrityError(index.path, f"the index uses data/{name}, which the manifest does not list")
        path = data / name
        if not path.is_file():
            raise IntegrityError(f"{BLOB_DIR}/{name}", "listed in the manifest but not in the store's data area")
        return path

    wanted: dict[str, bytearray] = {}
    count = 0
    for item in index_entries(local_index, fetch, index.path):
        pack = packs.get(item.pack)
        if pack is None or is_index_pack(item.pack):
            raise IntegrityError(index.path, f"the index uses data/{item.pack} for a document, which the manifest "
                                 f"does not list as a document pack")
        lines = pack.documents or 0
        if item.line >= lines:
            raise IntegrityError(index.path, f"the index uses line {item.line} of data/{item.pack}, which holds "
                                 f"{lines} line(s)")
        bits = wanted.get(item.pack)
        if bits is None:
            bits = wanted[item.pack] = bytearray((lines + 7) // 8)
        byte, bit = item.line >> 3, 1 << (item.line & 7)
        if bits[byte] & bit:
            raise IntegrityError(index.path, f"the index uses line {item.line} of data/{item.pack} twice")
        bits[byte] |= bit
        count += 1
    if count != entry.document_count or count != (index.documents or 0):
        raise IntegrityError(index.path, f"the index lists {count} document(s), the manifest says "
                             f"{entry.document_count}")
    for name in sorted(wanted):
        yield fetch(name), packs[name], wanted[name]
