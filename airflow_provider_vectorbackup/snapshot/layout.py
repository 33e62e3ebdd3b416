"""Names on disk: snapshot ids, the three folder states, and paths inside a snapshot."""

from __future__ import annotations

import datetime as dt
import enum
import re
from dataclasses import dataclass

from airflow_provider_vectorbackup.snapshot.compression import SUFFIXES

MANIFEST_NAME = "manifest.json"
DEFINITION_NAME = "definition.json"
COLLECTIONS_DIR = "collections"

_ID_TIME_FORMAT = "%Y%m%dT%H%M%SZ"
_ID = r"\d{8}T\d{6}Z(?:-[A-Za-z0-9_-]{1,64})?"
_ID_RE = re.compile(_ID)
_COLLECTION_NAME_RE = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]|\.(?!\.)){0,254}")
COLLECTION_NAME_RULE = ("1-255 letters, digits, '_', '-' or '.', starting with a letter, digit or '_', with no '..' "
                        "(names any folder can hold; Chroma allows '.', the Data API only letters, digits and '_')")
_KEYSPACE_NAME_RE = re.compile(r"[A-Za-z0-9_]{1,48}")
KEYSPACE_NAME_RULE = "1-48 letters, digits or '_' (the Data API's rule for keyspace names)"
_ENCRYPTED = r"(?:\.age)?"


class SnapshotState(str, enum.Enum):
    COMPLETE = "complete"
    IN_PROGRESS = "inprogress"
    INCOMPLETE = "incomplete"


_STATE_PATTERNS = (
    (re.compile(rf"({_ID})"), SnapshotState.COMPLETE),
    (re.compile(rf"\.({_ID})\.inprogress"), SnapshotState.IN_PROGRESS),
    (re.compile(rf"({_ID})\.INCOMPLETE"), SnapshotState.INCOMPLETE),
)


@dataclass(frozen=True, order=True)
class SnapshotRef:
    """A snapshot folder found in a store: its id, state and folder name."""

    snapshot_id: str
    state: SnapshotState
    folder_name: str

    @property
    def created_at(self) -> dt.datetime:
        return snapshot_time(self.snapshot_id)


def new_snapshot_id(now: dt.datetime | None = None, label: str | None = None) -> str:
    """A sortable UTC id like ``20261121T235400Z`` (or ``20261121T235400Z-nightly`` with a label)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    if now.tzinfo is None:
        raise ValueError("snapshot ids are UTC: pass an aware datetime")
    snapshot_id = now.astimezone(dt.timezone.utc).strftime(_ID_TIME_FORMAT)
    if label:
        snapshot_id += f"-{label}"
    check_snapshot_id(snapshot_id)
    return snapshot_id


def is_snapshot_id(name: object) -> bool:
    return isinstance(name, str) and _ID_RE.fullmatch(name) is not None


def check_snapshot_id(snapshot_id: str) -> str:
    if not is_snapshot_id(snapshot_id):
        raise ValueError(
            f"invalid snapshot id {snapshot_id!r}: expected YYYYMMDDTHHMMSSZ with an optional "
            f"'-label' of letters, digits, '_' or '-' (for example 20261121T235400Z-nightly)")
    return snapshot_id


def snapshot_time(snapshot_id: str) -> dt.datetime:
    check_snapshot_id(snapshot_id)
    return dt.datetime.strptime(snapshot_id[:16], _ID_TIME_FORMAT).replace(tzinfo=dt.timezone.utc)


def folder_name(snapshot_id: str, state: SnapshotState) -> str:
    check_snapshot_id(snapshot_id)
    if state is SnapshotState.IN_PROGRESS:
        return f".{snapshot_id}.inprogress"
    if state is SnapshotState.INCOMPLETE:
        return f"{snapshot_id}.INCOMPLETE"
    return snapshot_id


def parse_folder_name(name: str) -> SnapshotRef | None:
    """The snapshot a folder name denotes, or ``None`` for anything else in the store."""
    for pattern, state in _STATE_PATTERNS:
        match = pattern.fullmatch(name)
        if match:
            return SnapshotRef(match.group(1), state, name)
    return None


def is_collection_name(name: object) -> bool:
    return isinstance(name, str) and _COLLECTION_NAME_RE.fullmatch(name) is not None


def is_keyspace_name(name: object) -> bool:
    return isinstance(name, str) and _KEYSPACE_NAME_RE.fullmatch(name) is not None


def check_collection_name(name: str) -> str:
    """Collection names become folder names, so only safe characters are allowed."""
    if not is_collection_name(name):
        raise ValueError(f"collection name {name!r} cannot be stored: use {COLLECTION_NAME_RULE}")
    return name


def is_definition_path(collection: str, path: object) -> bool:
    """``collections/<collection>/definition.json``, or ``….age`` when encrypted (docs/format.md, 4)."""
    return isinstance(path, str) and re.fullmatch(rf"{re.escape(definition_path(collection))}{_ENCRYPTED}", path) is not None


def is_segment_path(collection: str, path: object) -> bool:
    """``collections/<collection>/part-NNNNN.jsonl[.gz|.zst]``, or ``….age`` when encrypted (docs/format.md, 4.2)."""
    suffixes = "|".join(re.escape(suffix) for suffix in SUFFIXES.values())
    pattern = rf"{re.escape(collection_dir(collection))}/part-\d{{5,}}(?:{suffixes}){_ENCRYPTED}"
    return isinstance(path, str) and re.fullmatch(pattern, path) is not None


def check_relative_path(path: str) -> str:
    """A path inside a snapshot folder: relative, ``/``-separated, with no empty or ``..`` step (docs/format.md, 4)."""
    steps = path.split("/")
    if path.startswith("/") or any(step in ("", ".", "..") for step in steps):
        raise ValueError(f"{path!r} is not a relative path inside a snapshot folder")
    return path


def collection_dir(name: str) -> str:
    return f"{COLLECTIONS_DIR}/{check_collection_name(name)}"


def definition_path(collection: str) -> str:
    return f"{collection_dir(collection)}/{DEFINITION_NAME}"


def segment_path(collection: str, index: int, compression: str) -> str:
    return f"{collection_dir(collection)}/part-{index:05d}{SUFFIXES[compression]}"


SLICE_SEGMENT_BLOCK = 100_000
"""Segment indices each slice of a collection owns (docs/format.md, 4.2): slice ``k`` numbers its segments from
``k * SLICE_SEGMENT_BLOCK``, so workers writing one collection's slices at once never pick the same name."""


def slice_segments(slice_index: int) -> range:
    """The segment indices that slice ``slice_index`` of a collection writes (slice 0: from ``part-00000``)."""
    if slice_index < 0:
        raise ValueError(f"a slice index is 0 or more, not {slice_index}")
    return range(slice_index * SLICE_SEGMENT_BLOCK, (slice_index + 1) * SLICE_SEGMENT_BLOCK)


_SEGMENT_INDEX = re.compile(r"/part-(\d{5,})\.")


def segment_index(path: str) -> int | None:
    """The index in a segment's path (``…/part-00012.jsonl.gz`` → 12), ``None`` for any other file."""
    match = _SEGMENT_INDEX.search(path)
    return int(match.group(1)) if match else None
