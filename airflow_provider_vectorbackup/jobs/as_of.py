"""Restore as of a time: which snapshot stands for the state of the collections at a given moment.

A snapshot's time is its id's (``SnapshotRef.created_at``): when its dump started. The newest
snapshot taken at or before the moment that is complete and passes ``files`` verification is
chosen; every newer candidate passed over is named with its reason, so a user sees why an older
one was taken. Plain Python: the CLI (``--as-of``) and the operators (``as_of``) both call this.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_vectorbackup.check.stored import check_stored
from airflow_provider_vectorbackup.snapshot.errors import SnapshotStateError
from airflow_provider_vectorbackup.snapshot.layout import SnapshotState
from airflow_provider_vectorbackup.snapshot.signing import Verifiers
from airflow_provider_vectorbackup.stores.base import Store, StoredSnapshot

log = logging.getLogger(__name__)

AS_OF_EXAMPLE = "2026-11-30T02:00Z"

_ISO_TIME = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})(?:[Tt ](?P<hour>\d{2}):(?P<minute>\d{2})"
    r"(?::(?P<second>\d{2})(?:[.,](?P<fraction>\d{1,9}))?)?)?"
    r"(?P<zone>[Zz]|[+-]\d{2}(?::?\d{2})?)?")

_MAX_PROBLEMS_NAMED = 3
"""Verification problems quoted in a skip reason; the count of the rest follows."""


class NoSnapshotAsOf(SnapshotStateError):
    """No snapshot taken at or before the time is complete and passes verification; nothing was written."""

    def __init__(self, message: str, skipped: list[Skipped]) -> None:
        super().__init__(message)
        self.skipped = skipped


def parse_as_of(value: str | dt.datetime) -> dt.datetime:
    """The UTC moment ``value`` names: ISO 8601 with ``Z`` or an offset, seconds optional (``2026-11-30T02:00Z``).

    A time without a zone is refused: which 02:00 it means depends on where the task happens to run.

    :raises ValueError: not such a time, or no zone.
    """
    if isinstance(value, dt.datetime):
        moment = value
    else:
        text = str(value).strip()
        match = _ISO_TIME.fullmatch(text)
        if match is None or match["hour"] is None:
            raise ValueError(f"as_of {value!r} is not an ISO 8601 date and time: give one with a time zone, like "
                             f"{AS_OF_EXAMPLE} (UTC) or 2026-11-30T03:00+01:00")
        try:
            moment = dt.datetime.fromisoformat(
                f"{match['date']}T{match['hour']}:{match['minute']}:{match['second'] or '00'}"
                + (f".{match['fraction'][:6].ljust(6, '0')}" if match["fraction"] else ""))
        except ValueError as exc:
            raise ValueError(f"as_of {value!r} is not a valid time ({exc}): give one like {AS_OF_EXAMPLE}") from None
        zone = match["zone"]
        if zone:
            moment = moment.replace(tzinfo=_offset(zone, value))
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"as_of {str(value)!r} has no time zone, so the moment it names is ambiguous: add Z for "
                         f"UTC ({AS_OF_EXAMPLE}) or an offset (2026-11-30T03:00+01:00)")
    return moment.astimezone(dt.timezone.utc)


def _offset(zone: str, value: object) -> dt.timezone:
    if zone in ("Z", "z"):
        return dt.timezone.utc
    digits = zone[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:] or 0)
    if hours > 23 or minutes > 59:
        raise ValueError(f"as_of {value!r} has an offset {zone!r} out of range: give one like +01:00")
    delta = dt.timedelta(hours=hours, minutes=minutes)
    return dt.timezone(-delta if zone[0] == "-" else delta)


def iso(moment: dt.datetime) -> str:
    """``2026-11-30T02:00:00Z``: how reports and messages write a UTC moment."""
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Skipped:
    """A snapshot taken at or before the time, newer than the one chosen, and why it was not used."""

    snapshot_id: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"snapshot_id": self.snapshot_id, "reason": self.reason}


@dataclass(frozen=True)
class AsOfChoice:
    """The snapshot chosen for a time, and every newer candidate passed over on the way."""

    requested: dt.datetime
    chosen: StoredSnapshot
    skipped: list[Skipped] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The report's ``as_of``: ``requested``, ``chosen``, ``chosen_taken_at`` and ``skipped``."""
        return {"requested": iso(self.requested), "chosen": self.chosen.snapshot_id,
                "chosen_taken_at": iso(self.chosen.ref.created_at),
                "skipped": [skipped.to_dict() for skipped in self.skipped]}


def choose_as_of(store: Store, as_of: dt.datetime, *, verifier: Verifiers | None = None) -> AsOfChoice:
    """The newest snapshot taken at or before ``as_of`` that is complete and passes ``files`` verification.

    ``verifier`` is the restore's: with one, an unsigned or badly signed snapshot fails verification
    and is skipped. A store that fails while listing or checking raises: an older snapshot is never
    chosen because a newer one could not be read just then.

    :raises NoSnapshotAsOf: no such snapshot; the message names the time, what was skipped and the
        oldest complete snapshot in the store.
    """
    if as_of.tzinfo is None:
        raise ValueError("as_of must be an aware datetime (parse_as_of makes one)")
    snapshots = store.snapshots()
    sealed = {s.snapshot_id for s in snapshots if s.state is not SnapshotState.IN_PROGRESS}
    # A stale .inprogress folder beside its own sealed one is a crash's leftover, not a candidate.
    candidates = sorted((s for s in snapshots if s.ref.created_at <= as_of
                         and not (s.state is SnapshotState.IN_PROGRESS and s.snapshot_id in sealed)),
                        key=lambda s: s.ref, reverse=True)
    if as_of > dt.datetime.now(dt.timezone.utc):
        log.info("as_of %s is in the future: the newest usable snapshot is chosen", iso(as_of))
    skipped: list[Skipped] = []
    for snapshot in candidates:
        reason = _unusable(store, snapshot, verifier)
        if reason is None:
            choice = AsOfChoice(as_of, snapshot, skipped)
            log.info("As of %s: restoring snapshot %s (taken at %s)%s", iso(as_of), snapshot.snapshot_id,
                     iso(snapshot.ref.created_at),
                     f", after skipping {len(skipped)} newer one(s)" if skipped else "")
            return choice
        log.warning("As of %s: skipping snapshot %s: %s", iso(as_of), snapshot.ref.folder_name, reason)
        skipped.append(Skipped(snapshot.snapshot_id, reason))
    raise NoSnapshotAsOf(_none_message(store, as_of, snapshots, skipped), skipped)


def _unusable(store: Store, snapshot: StoredSnapshot, verifier: Verifiers | None) -> str | None:
    """Why ``snapshot`` cannot stand for its time, or ``None`` when it can."""
    if snapshot.state is SnapshotState.IN_PROGRESS:
        return "in progress: still being written, or abandoned by a crash"
    if snapshot.state is SnapshotState.INCOMPLETE:
        return "INCOMPLETE: a collection failed during the backup"
    report = check_stored(store, snapshot, "files", verifier=verifier)
    if report.ok:
        return None
    named = "; ".join(str(problem) for problem in report.problems[:_MAX_PROBLEMS_NAMED])
    more = len(report.problems) - _MAX_PROBLEMS_NAMED
    return f"fails files verification: {named}" + (f" (and {more} more problem(s))" if more > 0 else "")


def _none_message(store: Store, as_of: dt.datetime, snapshots: list[StoredSnapshot], skipped: list[Skipped]) -> str:
    complete = sorted(s.ref for s in snapshots if s.state is SnapshotState.COMPLETE)
    lines = [f"no snapshot in {store.describe()} taken at or before {iso(as_of)} is complete and passes "
             f"verification; nothing was written."]
    lines += [f"  skipped {s.snapshot_id}: {s.reason}" for s in skipped]
    if complete:
        oldest = complete[0]
        lines.append(f"The oldest complete snapshot there is {oldest.snapshot_id} (taken at {iso(oldest.created_at)}).")
        lines.append("Give a time at or after it, or restore a snapshot by its id." if oldest.created_at > as_of else
                     "Give a later time, or restore one of the snapshots above by its id (an INCOMPLETE one with "
                     "allow_incomplete, --allow-incomplete, for its complete collections).")
    else:
        lines.append("The store holds no complete snapshot: there is nothing to restore as of any time.")
    return "\n".join(lines)
