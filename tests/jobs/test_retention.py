"""Retention: readable examples first, then properties over generated snapshot histories.

The properties compare the plan with a deliberately different reference (sort by id, group
with ``itertools.groupby``) instead of re-running the implementation's newest-first walk.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import random
from collections.abc import Iterable
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_vectorbackup.snapshot.layout import (
    SnapshotState, folder_name, new_snapshot_id, parse_folder_name,
)
from airflow_provider_vectorbackup.jobs.retention import (
    NEWEST_VERIFIED, NOT_OURS, UNVERIFIED_RUN_HOLD, Decision, RetentionPlan, RetentionPolicy, SnapshotRecord,
    plan_retention,
)

UTC = dt.timezone.utc
COMPLETE, INCOMPLETE, IN_PROGRESS = SnapshotState.COMPLETE, SnapshotState.INCOMPLETE, SnapshotState.IN_PROGRESS


def record(name: str, *, ours: bool = True, verified: bool = True) -> SnapshotRecord:
    return SnapshotRecord(parse_folder_name(name), ours=ours, verified=verified)


def nightly(first: dt.datetime, nights: int) -> list[str]:
    return [new_snapshot_id(first + dt.timedelta(days=night)) for night in range(nights)]


def kept_ids(plan: RetentionPlan) -> list[str]:
    return [decision.record.ref.folder_name for decision in plan.keep]


def decision_for(plan: RetentionPlan, folder: str) -> Decision:
    return next(decision for decision in plan.decisions if decision.record.ref.folder_name == folder)


# --- examples ---------------------------------------------------------------------------------------------

def test_thirty_nightly_snapshots_keep_last_daily_and_weekly() -> None:
    ids = nightly(dt.datetime(2026, 10, 23, 23, 54, tzinfo=UTC), 30)  # 2026-10-23 (Fri) .. 2026-11-21 (Sat)
    plan = plan_retention([record(i) for i in ids], RetentionPolicy(keep_last=3, keep_daily=7, keep_weekly=4),
                          now=dt.datetime(2026, 11, 22, 6, 0, tzinfo=UTC), current_snapshot_id=ids[-1],
                          current_run_verified=True)

    assert kept_ids(plan) == [
        "20261101T235400Z",  # weekly 2026-W44 (its Sunday)
        "20261108T235400Z",  # weekly 2026-W45
        "20261115T235400Z", "20261116T235400Z", "20261117T235400Z", "20261118T235400Z",  # daily; 15th is W46 too
        "20261119T235400Z", "20261120T235400Z", "20261121T235400Z",  # daily and keep-last 3
    ]
    assert decision_for(plan, "20261115T235400Z").reasons == ("daily 2026-11-15", "weekly 2026-W46")
    assert decision_for(plan, "20261120T235400Z").reasons == ("keep-last 2 of 3", "daily 2026-11-20")
    assert decision_for(plan, "20261121T235400Z").reasons == (
        "current run's snapshot", NEWEST_VERIFIED, "keep-last 1 of 3", "daily 2026-11-21", "weekly 2026-W47")
    assert decision_for(plan, "20261023T235400Z").reasons == (
        "selected by no keep rule (keep-last 3, daily 7, weekly 4)",)
    assert plan.counts["complete"] == {"keep": 9, "delete": 21}


def test_monthly_keeps_the_newest_of_each_month_that_has_a_snapshot() -> None:
    ids = ["20260115T000000Z", "20260131T235959Z", "20260301T000000Z", "20260320T000000Z", "20260402T000000Z"]
    plan = plan_retention([record(i) for i in ids], RetentionPolicy(keep_last=0, keep_monthly=3),
                          now=dt.datetime(2026, 5, 1, tzinfo=UTC), current_snapshot_id=None, current_run_verified=True)
    # February has no snapshot, so "the last 3 months" reach back to January.
    assert kept_ids(plan) == ["20260131T235959Z", "20260320T000000Z", "20260402T000000Z"]


def test_foreign_snapshots_incomplete_folders_and_the_newest_verified_one() -> None:
    records = [
        record("20261101T000000Z", verified=True),
        record("20261110T000000Z", verified=False),
        record("20261115T000000Z", verified=False),
        record("20260101T000000Z-manual", ours=False),
        record("20261112T000000Z.INCOMPLETE", verified=False),
        record("20261119T000000Z.INCOMPLETE", verified=False),
        record(".20261105T000000Z.inprogress", verified=False),
        record(".20261121T220000Z.inprogress", verified=False),
    ]
    plan = plan_retention(records, RetentionPolicy(keep_last=1, incomplete_grace=dt.timedelta(days=7)),
                          now=dt.datetime(2026, 11, 22, tzinfo=UTC), current_snapshot_id=None,
                          current_run_verified=True)

    assert [d.record.ref.folder_name for d in plan.delete] == [
        ".20261105T000000Z.inprogress", "20261110T000000Z", "20261112T000000Z.INCOMPLETE"]
    assert decision_for(plan, "20261101T000000Z").reasons == (NEWEST_VERIFIED,)
    assert decision_for(plan, "20260101T000000Z-manual").reasons == (NOT_OURS,)
    assert decision_for(plan, "20261119T000000Z.INCOMPLETE").reasons == (
        "incomplete, 3 days old, within the 7-day grace period",)
    assert decision_for(plan, ".20261121T220000Z.inprogress").reasons == (
        "in progress, 2 hours old, within the 7-day grace period (the dump may still be running)",)
    assert decision_for(plan, "20261112T000000Z.INCOMPLETE").reasons == (
        "incomplete, 10 days old, past the 7-day grace period",)
    assert plan.counts == {"complete": {"keep": 3, "delete": 1}, "incomplete": {"keep": 1, "delete": 1},
                           "inprogress": {"keep": 1, "delete": 1}}
    assert plan.summary() == (
        "retention: keep 5, delete 3 (complete: keep 3, delete 1; incomplete: keep 1, delete 1; "
        "in progress: keep 1, delete 1); 1 kept as not produced by this DAG")


def test_an_unverified_run_deletes_nothing_and_says_what_it_would_have_done() -> None:
    ids = nightly(dt.datetime(2026, 11, 1, tzinfo=UTC), 10)
    records = [record(i) for i in ids] + [record("20261001T000000Z.INCOMPLETE", verified=False)]
    plan = plan_retention(records, RetentionPolicy(keep_last=2), now=dt.datetime(2026, 11, 22, tzinfo=UTC),
                          current_snapshot_id=ids[-1], current_run_verified=False)

    assert plan.delete == []
    assert plan.hold == UNVERIFIED_RUN_HOLD
    assert all(decision.reasons[0] == UNVERIFIED_RUN_HOLD for decision in plan.decisions)
    assert decision_for(plan, ids[0]).reasons == (
        UNVERIFIED_RUN_HOLD, "would otherwise be deleted: selected by no keep rule (keep-last 2)")
    assert plan.summary().endswith(UNVERIFIED_RUN_HOLD)


def test_a_current_snapshot_missing_from_the_store_holds_every_deletion() -> None:
    ids = nightly(dt.datetime(2026, 11, 1, tzinfo=UTC), 5)
    plan = plan_retention([record(i) for i in ids] + [record("20261121T000000Z.INCOMPLETE", verified=False)],
                          RetentionPolicy(keep_last=1), now=dt.datetime(2026, 11, 22, tzinfo=UTC),
                          current_snapshot_id="20261121T000000Z", current_run_verified=True)
    assert plan.delete == []
    assert plan.hold == ("current run's snapshot 20261121T000000Z is not in the store as a complete snapshot "
                         "of this DAG: nothing is deleted")


def test_plan_is_json_safe_for_xcom() -> None:
    plan = plan_retention([record("20261120T000000Z"), record("20261121T000000Z")], RetentionPolicy(keep_last=1),
                          now=dt.datetime(2026, 11, 22, 1, 0, tzinfo=dt.timezone(dt.timedelta(hours=1))),
                          current_snapshot_id="20261121T000000Z", current_run_verified=True)
    data = json.loads(json.dumps(plan.to_dict()))
    assert data["now"] == "2026-11-22T00:00:00+00:00"
    assert data["policy"] == {"keep_last": 1, "keep_daily": 0, "keep_weekly": 0, "keep_monthly": 0,
                              "incomplete_grace_seconds": 604800.0}
    assert [(d["snapshot_id"], d["delete"]) for d in data["decisions"]] == [
        ("20261120T000000Z", True), ("20261121T000000Z", False)]
    assert data["decisions"][0] == {
        "snapshot_id": "20261120T000000Z", "folder_name": "20261120T000000Z", "state": "complete",
        "created_at": "2026-11-20T00:00:00+00:00", "ours": True, "verified": True, "delete": True,
        "reasons": ["selected by no keep rule (keep-last 1)"]}


@pytest.mark.parametrize("options, message", [
    ({"keep_last": -1}, "keep_last must be a whole number >= 0"),
    ({"keep_daily": 1.5}, "keep_daily must be a whole number >= 0"),
    ({"keep_weekly": True}, "keep_weekly must be a whole number >= 0"),
    ({"keep_last": 0}, "must keep something"),
    ({"incomplete_grace": dt.timedelta(seconds=-1)}, "incomplete_grace must be a timedelta >= 0"),
    ({"incomplete_grace": 3600}, "incomplete_grace must be a timedelta >= 0"),
])
def test_invalid_policies_are_refused(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RetentionPolicy(**options)


def test_naive_now_duplicate_folders_and_bad_current_ids_are_refused() -> None:
    records = [record("20261120T000000Z")]
    with pytest.raises(ValueError, match="aware 'now'"):
        plan_retention(records, RetentionPolicy(), now=dt.datetime(2026, 11, 22), current_snapshot_id=None,
                       current_run_verified=True)
    with pytest.raises(ValueError, match="listed twice"):
        plan_retention(records * 2, RetentionPolicy(), now=dt.datetime(2026, 11, 22, tzinfo=UTC),
                       current_snapshot_id=None, current_run_verified=True)
    with pytest.raises(ValueError, match="invalid snapshot id"):
        plan_retention(records, RetentionPolicy(), now=dt.datetime(2026, 11, 22, tzinfo=UTC),
                       current_snapshot_id="latest", current_run_verified=True)


# --- properties over generated histories ----------------------------------------------------------------

EPOCH = dt.datetime(2025, 1, 1, tzinfo=UTC)
DAY = 86400
MISSING_ID = "20991231T235959Z"


@dataclass(frozen=True)
class Case:
    records: tuple[SnapshotRecord, ...]
    policy: RetentionPolicy
    now: dt.datetime
    current_snapshot_id: str | None
    current_run_verified: bool

    def plan(self, records: Iterable[SnapshotRecord] | None = None) -> RetentionPlan:
        return plan_retention(self.records if records is None else records, self.policy, now=self.now,
                              current_snapshot_id=self.current_snapshot_id,
                              current_run_verified=self.current_run_verified)


# Every combination a folder can come in; drawing one of these is a single, cheap choice.
KINDS = list(itertools.product(
    [COMPLETE, COMPLETE, INCOMPLETE, IN_PROGRESS],  # state
    [True, True, False],  # ours
    [True, False],  # verified
    [None, "a", "nightly"],  # label: same-second snapshots need distinct ids
))
policies = st.tuples(
    st.integers(0, 6), st.integers(0, 6), st.integers(0, 4), st.integers(0, 4), st.integers(0, 30 * DAY),
).filter(lambda t: any(t[:4])).map(lambda t: RetentionPolicy(*t[:4], incomplete_grace=dt.timedelta(seconds=t[4])))


@st.composite
def cases(draw) -> Case:
    # Histories spread over days to ~400 days; hypothesis favours boundary seconds, so same-second and
    # day-edge snapshots are common.
    spread_days = draw(st.sampled_from([3, 40, 400]))
    entries = draw(st.lists(
        st.tuples(st.integers(0, spread_days), st.integers(0, DAY - 1), st.sampled_from(KINDS)),
        min_size=draw(st.sampled_from([0, 8])), max_size=24))
    by_folder = {}
    for day, second, (state, ours, verified, label) in entries:
        snapshot_id = new_snapshot_id(EPOCH + dt.timedelta(days=day, seconds=second), label=label)
        name = folder_name(snapshot_id, state)
        by_folder[name] = SnapshotRecord(parse_folder_name(name), ours=ours, verified=verified)
    records = tuple(by_folder.values())
    latest = max((r.ref.created_at for r in records), default=EPOCH)
    now = latest + dt.timedelta(seconds=draw(st.integers(-2 * 3600, 60 * DAY)))  # a little clock skew too
    ids = sorted({r.ref.snapshot_id for r in records})
    current = draw(st.one_of(st.none(), st.just(MISSING_ID), *([st.sampled_from(ids)] if ids else [])))
    return Case(records, draw(policies), now, current, draw(st.sampled_from([True, True, True, False])))


def complete_ours_newest_first(records: Iterable[SnapshotRecord]) -> list[SnapshotRecord]:
    return sorted((r for r in records if r.ours and r.ref.state is COMPLETE),
                  key=lambda r: r.ref.snapshot_id, reverse=True)


def newest_verified_id(records: Iterable[SnapshotRecord]) -> str | None:
    return next((r.ref.snapshot_id for r in complete_ours_newest_first(records) if r.verified), None)


def expect_hold(case: Case) -> bool:
    complete_ids = {r.ref.snapshot_id for r in complete_ours_newest_first(case.records)}
    return not case.current_run_verified or (
        case.current_snapshot_id is not None and case.current_snapshot_id not in complete_ids)


def reference_kept_complete_ours(case: Case) -> set[str]:
    """What the policy promises, computed by grouping rather than by the implementation's single walk."""
    newest_first = complete_ours_newest_first(case.records)
    policy = case.policy
    kept = {r.ref.snapshot_id for r in newest_first[:policy.keep_last]}
    for count, period in ((policy.keep_daily, lambda t: t.date()),
                          (policy.keep_weekly, lambda t: tuple(t.isocalendar())[:2]),
                          (policy.keep_monthly, lambda t: (t.year, t.month))):
        groups = itertools.groupby(newest_first, key=lambda r: period(r.ref.created_at))
        kept |= {next(group).ref.snapshot_id for _, group in itertools.islice(groups, count)}
    kept |= {newest_verified_id(case.records)} - {None}
    kept |= {case.current_snapshot_id} & {r.ref.snapshot_id for r in newest_first}
    return kept


def check_foreign_snapshots_are_never_deleted(case: Case, plan: RetentionPlan) -> None:
    assert all(d.record.ours for d in plan.delete)


def check_newest_verified_and_current_snapshots_are_never_deleted(case: Case, plan: RetentionPlan) -> None:
    deleted = {d.record.ref for d in plan.delete}
    newest_verified = newest_verified_id(case.records)
    assert not any(ref.snapshot_id == newest_verified and ref.state is COMPLETE for ref in deleted)
    assert not any(ref.snapshot_id == case.current_snapshot_id for ref in deleted)  # in whatever state


def check_nothing_is_deleted_unless_the_current_run_is_verified_and_stored(case: Case, plan: RetentionPlan) -> None:
    assert (plan.hold is not None) == expect_hold(case)
    if plan.hold is not None:
        assert plan.delete == []
        assert all(d.reasons[0] == plan.hold for d in plan.decisions)


def check_incomplete_folders_are_deleted_exactly_after_the_grace(case: Case, plan: RetentionPlan) -> None:
    for decision in plan.decisions:
        ref = decision.record.ref
        if ref.state is not COMPLETE:
            past_grace = case.now - ref.created_at > case.policy.incomplete_grace
            deletable = decision.record.ours and ref.snapshot_id != case.current_snapshot_id and not expect_hold(case)
            assert decision.delete == (past_grace and deletable), decision


def check_plan_is_json_safe_and_counted(case: Case, plan: RetentionPlan) -> None:
    data = json.loads(json.dumps(plan.to_dict()))
    assert len(data["decisions"]) == len(case.records)
    assert sum(c["keep"] + c["delete"] for c in data["counts"].values()) == len(case.records)
    created = [d["created_at"] for d in data["decisions"]]
    assert created == sorted(created)  # oldest first


property_settings = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@property_settings
@given(cases())
def test_safety_rules_hold_over_generated_histories(case: Case) -> None:
    plan = case.plan()
    check_foreign_snapshots_are_never_deleted(case, plan)
    check_newest_verified_and_current_snapshots_are_never_deleted(case, plan)
    check_nothing_is_deleted_unless_the_current_run_is_verified_and_stored(case, plan)
    check_incomplete_folders_are_deleted_exactly_after_the_grace(case, plan)
    check_plan_is_json_safe_and_counted(case, plan)


@property_settings
@given(cases())
def test_complete_snapshots_are_kept_exactly_as_the_policy_promises(case: Case) -> None:
    plan = case.plan()
    complete_ours = {r.ref.snapshot_id for r in complete_ours_newest_first(case.records)}
    kept = {d.record.ref.snapshot_id for d in plan.keep if d.record.ours and d.record.ref.state is COMPLETE}
    deleted = {d.record.ref.snapshot_id for d in plan.delete if d.record.ref.state is COMPLETE}
    expected = complete_ours if expect_hold(case) else reference_kept_complete_ours(case)
    assert kept == expected
    assert deleted == complete_ours - expected


@property_settings
@given(cases(), st.randoms(use_true_random=False))
def test_plans_ignore_input_order_and_applying_one_leaves_nothing_more_to_delete(case: Case,
                                                                                 rng: random.Random) -> None:
    plan = case.plan()
    shuffled = list(case.records)
    rng.shuffle(shuffled)
    assert case.plan(shuffled) == plan

    survivors = [d.record for d in plan.keep]
    again = case.plan(survivors)
    assert again.delete == []
    assert [d.record for d in again.decisions] == survivors


# --- the Object Lock period -------------------------------------------------------------------------------

@pytest.mark.parametrize(("policy", "days"), [
    (RetentionPolicy(keep_last=3, keep_daily=7, keep_weekly=4, keep_monthly=12), 7),
    (RetentionPolicy(keep_last=3, keep_weekly=4, keep_monthly=12), 28),
    (RetentionPolicy(keep_last=0, keep_monthly=6), 186),
])
def test_the_lock_period_follows_the_finest_calendar_rule(policy: RetentionPolicy, days: int) -> None:
    assert policy.lock_days() == days


def test_keep_last_alone_gives_no_lock_period_and_says_what_to_do() -> None:
    with pytest.raises(ValueError, match="keep-last 7.*object_lock_days explicitly.*keep_daily, keep_weekly"):
        RetentionPolicy(keep_last=7).lock_days()


@pytest.mark.parametrize(("policy", "every"), [
    (RetentionPolicy(keep_last=0, keep_daily=7), dt.timedelta(days=1)),
    (RetentionPolicy(keep_last=0, keep_weekly=4), dt.timedelta(weeks=1)),
    (RetentionPolicy(keep_last=0, keep_monthly=3), None),  # on the 1st of every month
])
def test_every_snapshot_the_finest_rule_keeps_is_still_locked(policy: RetentionPolicy,
                                                              every: dt.timedelta | None) -> None:
    """The lock covers the whole time the rule keeps a snapshot taken once per period: a compromised worker
    cannot delete any snapshot retention still counts on."""
    start = dt.datetime(2025, 1, 1, 23, 54, tzinfo=UTC)
    times = [start + n * every for n in range(120)] if every else [start.replace(month=m) for m in range(1, 13)]
    now = times[-1] + dt.timedelta(hours=6)
    plan = plan_retention([record(new_snapshot_id(t)) for t in times], policy, now=now, current_snapshot_id=None,
                          current_run_verified=True)
    kept_ages = [now - parse_folder_name(folder).created_at for folder in kept_ids(plan)]

    assert len(kept_ages) == max(policy.keep_daily, policy.keep_weekly, policy.keep_monthly)
    assert max(kept_ages) < dt.timedelta(days=policy.lock_days())
