"""Which snapshots to keep and which to delete, in the spirit of restic ``forget``, and deleting them.

Two halves. The policy (:func:`plan_retention`) is pure on purpose: no I/O, no clock, no
Airflow, so it is testable over thousands of generated histories, which is where retention bugs
hide. The execution (:func:`prune`) is the one place that decides which snapshots are owned and
which are verified, for both ``RetentionOperator`` and ``vectorbackup prune``: it lists the
store, applies the ownership rule, asks the checker, plans, and deletes what the plan says (or
only reports it, on a dry run). See docs/retention.md.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_provider_vectorbackup.jobs.garbage import GarbageReport, collect_garbage
from airflow_provider_vectorbackup.check.stored import check_stored
from airflow_provider_vectorbackup.snapshot.errors import SnapshotError
from airflow_provider_vectorbackup.snapshot.layout import SnapshotRef, SnapshotState, check_snapshot_id
from airflow_provider_vectorbackup.snapshot.signing import Verifiers
from airflow_provider_vectorbackup.stores.base import SnapshotLockedError

if TYPE_CHECKING:
    from airflow_provider_vectorbackup.stores.base import Store, StoredSnapshot

log = logging.getLogger(__name__)

UNVERIFIED_RUN_HOLD = "current run's snapshot is not verified: nothing is deleted"
NOT_OURS = "not produced by this DAG"
NEWEST_VERIFIED = "newest verified complete snapshot"
CURRENT_SNAPSHOT = "current run's snapshot"

_KEEP_FIELDS = ("keep_last", "keep_daily", "keep_weekly", "keep_monthly")
_STATE_WORDS = {
    SnapshotState.COMPLETE: "complete",
    SnapshotState.INCOMPLETE: "incomplete",
    SnapshotState.IN_PROGRESS: "in progress",
}
_DURATION_UNITS = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))


def _day(when: dt.datetime) -> str:
    return when.date().isoformat()


def _iso_week(when: dt.datetime) -> str:
    year, week, _ = when.isocalendar()
    return f"{year:04d}-W{week:02d}"


def _month(when: dt.datetime) -> str:
    return f"{when.year:04d}-{when.month:02d}"


# (reason prefix, policy field, the UTC period a snapshot time falls in)
_PERIOD_RULES: tuple[tuple[str, str, Callable[[dt.datetime], str]], ...] = (
    ("daily", "keep_daily", _day),
    ("weekly", "keep_weekly", _iso_week),
    ("monthly", "keep_monthly", _month),
)


@dataclass(frozen=True)
class RetentionPolicy:
    """How many complete snapshots to keep, and how long failed or abandoned folders may linger.

    The keep rules count complete snapshots only; a snapshot kept by several rules is kept once.
    """

    keep_last: int = 7
    keep_daily: int = 0
    keep_weekly: int = 0
    keep_monthly: int = 0
    incomplete_grace: dt.timedelta = dt.timedelta(days=7)

    def __post_init__(self) -> None:
        for name in _KEEP_FIELDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"retention {name} must be a whole number >= 0, got {value!r}")
        if not any(getattr(self, name) for name in _KEEP_FIELDS):
            raise ValueError(
                "a retention policy must keep something: set keep_last, keep_daily, keep_weekly or keep_monthly "
                "above 0 (with all of them at 0 every complete snapshot but the newest verified one would be deleted)")
        if not isinstance(self.incomplete_grace, dt.timedelta) or self.incomplete_grace < dt.timedelta(0):
            raise ValueError(f"retention incomplete_grace must be a timedelta >= 0, got {self.incomplete_grace!r}")

    def describe(self) -> str:
        """``keep-last 7, daily 7, weekly 4``: the keep rules in force, for reasons and logs."""
        rules = [f"keep-last {self.keep_last}"] if self.keep_last else []
        rules += [f"{name} {getattr(self, field)}" for name, field, _ in _PERIOD_RULES if getattr(self, field)]
        return ", ".join(rules)

    def lock_days(self) -> int:
        """Days to lock each snapshot for (S3 Object Lock): ``keep_daily`` days, else 7 x ``keep_weekly``, else
        31 x ``keep_monthly``.

        The finest calendar rule keeps one snapshot per period for that span, so every snapshot is locked for
        as long as that rule may still keep it. A snapshot that a coarser rule keeps longer (a weekly or monthly
        one) is not locked past that span: a lock cannot be shortened later, and locking every snapshot for the
        longest span would stop prune from deleting the dailies it was meant to drop. Snapshots taken more often
        than that rule's period stay until their lock ends: prune reports them and deletes them in a later run.

        :raises ValueError: the policy has only ``keep_last``, a count with no time span to derive a period from.
        """
        if self.keep_daily:
            return self.keep_daily
        if self.keep_weekly:
            return 7 * self.keep_weekly
        if self.keep_monthly:
            return 31 * self.keep_monthly
        raise ValueError(f"a lock period cannot be derived from {self.describe()}: keep-last counts snapshots and "
                         f"has no time span. Give object_lock_days explicitly, or add keep_daily, keep_weekly or "
                         f"keep_monthly to the policy")

    def to_dict(self) -> dict[str, Any]:
        return {**{name: getattr(self, name) for name in _KEEP_FIELDS},
                "incomplete_grace_seconds": self.incomplete_grace.total_seconds()}


@dataclass(frozen=True)
class SnapshotRecord:
    """A snapshot folder in the store, with what the caller knows about it."""

    ref: SnapshotRef
    ours: bool  # owned by the caller: see prune() for the one rule
    verified: bool  # the checker's files-level report on this snapshot passed


@dataclass(frozen=True)
class Decision:
    """Keep or delete one folder, with every reason in words, so a dry-run log can be audited."""

    record: SnapshotRecord
    delete: bool
    reasons: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        ref = self.record.ref
        return {
            "snapshot_id": ref.snapshot_id, "folder_name": ref.folder_name, "state": ref.state.value,
            "created_at": ref.created_at.isoformat(), "ours": self.record.ours, "verified": self.record.verified,
            "delete": self.delete, "reasons": list(self.reasons),
        }


@dataclass(frozen=True)
class RetentionPlan:
    """One decision per snapshot folder, oldest first; ``hold`` says why nothing is deleted, if so."""

    decisions: tuple[Decision, ...]
    policy: RetentionPolicy
    now: dt.datetime
    current_snapshot_id: str | None
    current_run_verified: bool
    hold: str | None
    locked: tuple[LockedDeletion, ...] = ()
    """Deletions the store refused because a lock still retains the snapshot (S3 Object Lock): kept for now."""
    garbage: GarbageReport | None = None
    """What garbage collection of the shared ``data/`` area did after the deletions (deduplicated snapshots)."""

    @property
    def keep(self) -> list[Decision]:
        return [decision for decision in self.decisions if not decision.delete]

    @property
    def delete(self) -> list[Decision]:
        return [decision for decision in self.decisions if decision.delete]

    @property
    def counts(self) -> dict[str, dict[str, int]]:
        """Keeps and deletions per folder state, so failed and abandoned folders are not lost in the totals."""
        tally = Counter((d.record.ref.state, d.delete) for d in self.decisions)
        return {state.value: {"keep": tally[state, False], "delete": tally[state, True]} for state in _STATE_WORDS}

    def summary(self) -> str:
        counts = self.counts
        per_state = "; ".join(
            f"{word}: keep {counts[state.value]['keep']}, delete {counts[state.value]['delete']}"
            for state, word in _STATE_WORDS.items())
        foreign = sum(not d.record.ours for d in self.decisions)
        text = f"retention: keep {len(self.keep)}, delete {len(self.delete)} ({per_state})"
        if foreign:
            text += f"; {foreign} kept as {NOT_OURS}"
        if self.hold:
            text += f"; {self.hold}"
        if self.locked:
            text += f"; {len(self.locked)} of the deletions refused by the store's lock, left for a later run"
        if self.garbage is not None:
            text += f"; {self.garbage.summary()}"
        return text

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe, for XCom and logs."""
        return {
            "policy": self.policy.to_dict(), "now": self.now.isoformat(),
            "current_snapshot_id": self.current_snapshot_id, "current_run_verified": self.current_run_verified,
            "hold": self.hold, "counts": self.counts, "summary": self.summary(),
            "decisions": [decision.to_dict() for decision in self.decisions],
            "locked": [locked.to_dict() for locked in self.locked],
            "garbage": self.garbage.to_dict() if self.garbage is not None else None,
        }


@dataclass(frozen=True)
class LockedDeletion:
    """A snapshot the plan deletes but the store still locks; nothing of it was deleted."""

    snapshot_id: str
    locked_until: dt.datetime | None
    """When the lock expires (``None``: a legal hold, which has no date)."""
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"snapshot_id": self.snapshot_id, "message": self.message,
                "locked_until": self.locked_until.isoformat() if self.locked_until else None}


def plan_retention(records: Iterable[SnapshotRecord], policy: RetentionPolicy, *, now: dt.datetime,
                   current_snapshot_id: str | None, current_run_verified: bool) -> RetentionPlan:
    """Decide, for every snapshot folder, whether to keep or delete it; see docs/retention.md for the rules."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("retention needs an aware 'now' (snapshot ids are UTC): pass datetime.now(timezone.utc)")
    now = now.astimezone(dt.timezone.utc)
    if current_snapshot_id is not None:
        check_snapshot_id(current_snapshot_id)
    oldest_first = _oldest_first(records)
    complete_ours_newest_first = [record for record in reversed(oldest_first)
                                  if record.ours and record.ref.state is SnapshotState.COMPLETE]
    rule_reasons = _keep_rule_reasons(complete_ours_newest_first, policy)
    newest_verified = next((record.ref for record in complete_ours_newest_first if record.verified), None)
    hold = _hold(complete_ours_newest_first, current_snapshot_id, current_run_verified)

    def decide(record: SnapshotRecord) -> Decision:
        if not record.ours:
            delete, reasons = False, [NOT_OURS]
        else:
            reasons = [CURRENT_SNAPSHOT] if record.ref.snapshot_id == current_snapshot_id else []
            if record.ref == newest_verified:
                reasons.append(NEWEST_VERIFIED)
            if record.ref.state is SnapshotState.COMPLETE:
                reasons += rule_reasons.get(record.ref, [])
                delete = not reasons
                if delete:
                    reasons = [f"selected by no keep rule ({policy.describe()})"]
            else:
                within_grace, age_reason = _age_reason(record.ref, now, policy.incomplete_grace)
                delete = not reasons and not within_grace
                reasons.append(age_reason)
        if hold is None:
            return Decision(record, delete, tuple(reasons))
        if delete:
            return Decision(record, False, (hold, f"would otherwise be deleted: {'; '.join(reasons)}"))
        return Decision(record, False, (hold, *reasons))

    return RetentionPlan(tuple(decide(record) for record in oldest_first), policy, now, current_snapshot_id,
                         current_run_verified, hold)


def _oldest_first(records: Iterable[SnapshotRecord]) -> list[SnapshotRecord]:
    """Sort by folder (ids sort by time, then label), so input order never changes the plan."""
    ordered = sorted(records, key=lambda record: record.ref)
    for earlier, later in zip(ordered, ordered[1:]):
        if earlier.ref.folder_name == later.ref.folder_name:
            raise ValueError(f"snapshot folder {later.ref.folder_name!r} is listed twice: "
                             f"a store holds each folder once, so the listing given to retention is wrong")
    return ordered


def _keep_rule_reasons(complete_ours_newest_first: list[SnapshotRecord],
                       policy: RetentionPolicy) -> dict[SnapshotRef, list[str]]:
    """Which keep rules select each complete snapshot, walking newest first as restic does."""
    reasons: dict[SnapshotRef, list[str]] = {}
    for position, record in enumerate(complete_ours_newest_first[:policy.keep_last], start=1):
        reasons.setdefault(record.ref, []).append(f"keep-last {position} of {policy.keep_last}")
    for name, setting, period_of in _PERIOD_RULES:
        periods_left = getattr(policy, setting)
        previous_period = None
        for record in complete_ours_newest_first:
            if periods_left == 0:
                break
            period = period_of(record.ref.created_at)
            if period != previous_period:  # the first seen in a period is its newest
                reasons.setdefault(record.ref, []).append(f"{name} {period}")
                previous_period = period
                periods_left -= 1
    return reasons


def _hold(complete_ours_newest_first: list[SnapshotRecord], current_snapshot_id: str | None,
          current_run_verified: bool) -> str | None:
    """Why nothing may be deleted this run: deleting is only safe once a fresh, proven snapshot exists."""
    if not current_run_verified:
        return UNVERIFIED_RUN_HOLD
    if current_snapshot_id is not None and not any(
            record.ref.snapshot_id == current_snapshot_id for record in complete_ours_newest_first):
        return (f"current run's snapshot {current_snapshot_id} is not in the store as a complete snapshot "
                f"of this DAG: nothing is deleted")
    return None


def _age_reason(ref: SnapshotRef, now: dt.datetime, grace: dt.timedelta) -> tuple[bool, str]:
    """Whether an incomplete or in-progress folder is within its grace period, and the words saying so."""
    age = now - ref.created_at
    age_text = f"{_duration(age)} old" if age >= dt.timedelta(0) else f"dated {_duration(-age)} in the future"
    grace_text = f"the {_duration(grace, hyphenated=True)} grace period" if grace else "a grace period of zero"
    state_word = _STATE_WORDS[ref.state]
    if age <= grace:
        still_running = " (the dump may still be running)" if ref.state is SnapshotState.IN_PROGRESS else ""
        return True, f"{state_word}, {age_text}, within {grace_text}{still_running}"
    return False, f"{state_word}, {age_text}, past {grace_text}"


def _duration(span: dt.timedelta, *, hyphenated: bool = False) -> str:
    """``2 days 3 hours``: the largest unit and the next one, rounded down; ``7-day`` for a whole-unit grace."""
    seconds = int(span.total_seconds())
    for index, (unit, size) in enumerate(_DURATION_UNITS):
        if seconds >= size or size == 1:
            break
    amount, rest = divmod(seconds, size)
    if hyphenated and not rest:
        return f"{amount}-{unit}"
    text = _plural(amount, unit)
    if index + 1 < len(_DURATION_UNITS):
        smaller_unit, smaller_size = _DURATION_UNITS[index + 1]
        if rest // smaller_size:
            text += f" {_plural(rest // smaller_size, smaller_unit)}"
    return text


def _plural(amount: int, unit: str) -> str:
    return f"{amount} {unit}{'' if amount == 1 else 's'}"


# -- execution ------------------------------------------------------------------------------------

LATEST = "latest"


@dataclass(frozen=True)
class RetentionOptions:
    """What to prune and how; shared by ``RetentionOperator`` and ``vectorbackup prune``. See docs/retention.md."""

    policy: RetentionPolicy = field(default_factory=RetentionPolicy)
    owner: str | None = None
    """Only snapshots whose manifest's producer names this DAG id are owned; ``None``: snapshots of any producer."""
    made: frozenset[str] | None = None
    """The ids the caller knows it made (the operator's ledger). When given, no other snapshot is owned, and a
    folder whose manifest cannot be read (in progress, or damaged) is owned if it is listed here."""
    current_snapshot_id: str | None = LATEST
    """The snapshot that must verify before anything is deleted: this run's; ``"latest"``, the newest complete
    owned one; ``None``, the run made none, so nothing is deleted."""
    failed_checks: frozenset[str] = frozenset()
    """Snapshots a check the caller already ran found bad (the operator: its DAG's verify task, at whichever level
    it ran): never counted as verified, whatever the files-level check here finds."""
    verifier: Verifiers | None = None
    """Manifest signature keys: when given, a snapshot verifies only with a valid signature."""
    dry_run: bool = False
    collect_garbage: bool = True
    """After deleting, free the files of the shared ``data/`` area that no remaining snapshot uses."""


def prune(store: Store, options: RetentionOptions, *, now: dt.datetime | None = None) -> RetentionPlan:
    """Apply ``options.policy`` to ``store``: plan, log, and delete what the plan says unless it is a dry run.

    The one rule, for every caller: a snapshot is **owned** when :func:`owns` says so; it is
    **verified** only when the checker's files-level report on it passes (and no check the caller
    ran found it bad), checked newest first until one passes, that one being the last good backup,
    which is never deleted; nothing is deleted unless the current snapshot verifies.
    """
    now = now or dt.datetime.now(dt.timezone.utc)
    stored = sorted(store.snapshots(), key=lambda s: s.ref)
    owned = {s.ref: owns(store, s, options) for s in stored}
    complete = [s for s in reversed(stored) if owned[s.ref] and s.state is SnapshotState.COMPLETE]
    current = options.current_snapshot_id
    if current == LATEST:
        current = complete[0].snapshot_id if complete else None
    verified: dict[SnapshotRef, bool] = {}

    def check(snapshot: StoredSnapshot) -> bool:
        if snapshot.ref not in verified:
            verified[snapshot.ref] = snapshot.snapshot_id not in options.failed_checks and check_stored(
                store, snapshot, "files", verifier=options.verifier).ok
        return verified[snapshot.ref]

    for snapshot in complete:  # newest first, until the last good backup is found
        if check(snapshot):
            break
    current_verified = any(check(s) for s in complete if s.snapshot_id == current)
    records = [SnapshotRecord(s.ref, ours=owned[s.ref], verified=verified.get(s.ref, False)) for s in stored]
    plan = plan_retention(records, options.policy, now=now, current_snapshot_id=current,
                          current_run_verified=current_verified)
    log.info("Retention plan for %s%s:\n%s", store.describe(), " (dry run)" if options.dry_run else "",
             plan.summary())
    by_ref = {s.ref: s for s in stored}
    if options.dry_run:
        if options.collect_garbage:
            deleting = [d.record.ref.snapshot_id for d in plan.delete]
            plan = dataclasses.replace(plan, garbage=collect_garbage(store, dry_run=True, deleting=deleting))
        return plan
    locked = []
    for decision in plan.delete:
        try:
            store.delete(by_ref[decision.record.ref])
        except SnapshotLockedError as exc:
            log.warning("Not deleted yet: %s", exc)
            locked.append(LockedDeletion(decision.record.ref.snapshot_id, exc.locked_until, str(exc)))
    garbage = collect_garbage(store) if options.collect_garbage else None
    return dataclasses.replace(plan, locked=tuple(locked), garbage=garbage)


def owns(store: Store, snapshot: StoredSnapshot, options: RetentionOptions) -> bool:
    """Whether ``snapshot`` is the caller's to delete: the one ownership rule (docs/retention.md).

    Outside ``options.made`` (when given), nothing is owned. With no ``owner``, everything else
    is. With one, a sealed snapshot is owned when its manifest's producer names that DAG id, and a
    folder without a readable manifest only when ``options.made`` lists it.
    """
    if options.made is not None and snapshot.snapshot_id not in options.made:
        return False
    if options.owner is None:
        return True
    if snapshot.state is SnapshotState.IN_PROGRESS:
        return options.made is not None  # no manifest yet: only the caller's own record says whose it is
    try:
        producer = store.read_manifest(snapshot).producer or {}
    except SnapshotError:
        return options.made is not None  # a damaged snapshot the caller made is still its own to clean up
    return producer.get("dag_id") == options.owner
