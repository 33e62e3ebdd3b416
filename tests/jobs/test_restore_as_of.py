"""Restore as of a time: the newest usable snapshot at or before it, with every newer one passed over named."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from airflow_provider_vectorbackup.hooks.astra import AstraDBHook
from airflow_provider_vectorbackup.jobs.as_of import NoSnapshotAsOf, choose_as_of, parse_as_of
from airflow_provider_vectorbackup.jobs.dump import dump_snapshot
from airflow_provider_vectorbackup.jobs.restore import RestoreOptions, restore_snapshot
from airflow_provider_vectorbackup.jobs.restore_scale_out import commit_restore, plan_restore, restore_slice
from airflow_provider_vectorbackup.snapshot import HmacKey, SnapshotWriter
from airflow_provider_vectorbackup.stores.local import LocalStore
from tests.jobs.test_dedup import DAYS, DEDUP, FAST, churn, seed, source_digest

DEFINITION = {"vector": {"dimension": 2, "metric": "cosine"}}
AS_OF = "2026-11-30T02:00Z"
OLDEST = "20261129T020000Z"        # complete, 11 documents: the one a restore as of 02:00 must reach
TAMPERED = "20261130T010000Z"      # complete, but a segment changed in the store
INCOMPLETE = "20261130T013000Z"    # a collection failed
IN_PROGRESS = "20261130T015000Z"   # still being written
AT_THE_TIME = "20261130T020000Z-x"  # complete, taken exactly at 02:00 but with a bad signature under a verifier
LATER = "20261130T030000Z"         # complete, after the time


def write(root: Path, snapshot_id: str, documents: int, *, signer: HmacKey | None = None,
          seal: bool = True, fail: bool = False) -> None:
    writer = SnapshotWriter(root, source={"kind": "astra"}, snapshot_id=snapshot_id, signer=signer).open()
    with writer.collection("articles", DEFINITION) as collection:
        collection.write_many([{"_id": f"{snapshot_id}-{i}", "$vector": [1.0, float(i)]} for i in range(documents)])
    if fail:
        writer.abort("the source became unreachable")
    elif seal:
        writer.finish()


@pytest.fixture
def history(tmp_path: Path) -> LocalStore:
    """Snapshots around 2026-11-30T02:00Z, each with its own number of documents so a restore shows which it read."""
    key = HmacKey("the signing key of this history")
    write(tmp_path, OLDEST, 11, signer=key)
    write(tmp_path, TAMPERED, 12, signer=key)
    segment = tmp_path / TAMPERED / "collections/articles/part-00000.jsonl.gz"
    segment.write_bytes(segment.read_bytes()[:-4] + b"\0\0\0\0")
    write(tmp_path, INCOMPLETE, 13, signer=key, fail=True)
    write(tmp_path, IN_PROGRESS, 14, signer=key, seal=False)
    write(tmp_path, AT_THE_TIME, 15, signer=HmacKey("a key nobody trusts, long enough"))
    write(tmp_path, LATER, 16, signer=key)
    return LocalStore(tmp_path)


def test_the_newest_usable_snapshot_before_the_time_is_restored_and_the_newer_ones_are_named(
        astra_stand_in, astra_connection, history: LocalStore) -> None:
    source = AstraDBHook().get_conn()
    options = RestoreOptions(as_of=parse_as_of(AS_OF), target_prefix="asof_", validation_queries=2,
                             verifier=HmacKey("the signing key of this history"))
    report = restore_snapshot(history, None, source, options)
    assert report["ok"] and report["snapshot_id"] == OLDEST
    assert report["collections"]["articles"]["documents_restored"] == 11
    assert source.count_documents("asof_articles").count == 11
    as_of = report["as_of"]
    assert (as_of["requested"], as_of["chosen"], as_of["chosen_taken_at"]) == (
        "2026-11-30T02:00:00Z", OLDEST, "2026-11-29T02:00:00Z")
    reasons = {skipped["snapshot_id"]: skipped["reason"] for skipped in as_of["skipped"]}
    assert [skipped["snapshot_id"] for skipped in as_of["skipped"]] == [AT_THE_TIME, IN_PROGRESS, INCOMPLETE,
                                                                         TAMPERED], "newest first, none after 02:00"
    assert "fails files verification" in reasons[AT_THE_TIME] and "signature" in reasons[AT_THE_TIME]
    assert reasons[IN_PROGRESS].startswith("in progress")
    assert reasons[INCOMPLETE].startswith("INCOMPLETE")
    assert "fails files verification" in reasons[TAMPERED] and "part-00000.jsonl.gz" in reasons[TAMPERED]


def test_a_snapshot_taken_exactly_at_the_time_counts_and_a_future_time_means_the_newest(history: LocalStore) -> None:
    assert choose_as_of(history, parse_as_of(AS_OF)).chosen.snapshot_id == AT_THE_TIME  # no verifier: unsigned is fine
    assert choose_as_of(history, parse_as_of("2026-11-30T01:59:59Z")).chosen.snapshot_id == OLDEST
    future = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=365)
    choice = choose_as_of(history, future)
    assert choice.chosen.snapshot_id == LATER and choice.skipped == []
    assert choose_as_of(history, parse_as_of("2026-11-30T03:00+01:00")).chosen.snapshot_id == AT_THE_TIME  # 02:00Z


def test_no_usable_snapshot_at_the_time_is_refused_naming_it_and_the_oldest_there_is_with_nothing_written(
        astra_stand_in, astra_connection, history: LocalStore) -> None:
    source = AstraDBHook().get_conn()
    options = RestoreOptions(as_of=parse_as_of("2026-11-28T00:00Z"), target_prefix="none_")
    with pytest.raises(NoSnapshotAsOf, match=r"(?s)taken at or before 2026-11-28T00:00:00Z.*nothing was written.*"
                                             rf"oldest complete snapshot there is {OLDEST} \(taken at "
                                             r"2026-11-29T02:00:00Z\).*Give a time at or after it"):
        restore_snapshot(history, None, source, options)
    assert source.collection_definition("none_articles") is None

    (history.root / OLDEST / "collections/articles/part-00000.jsonl.gz").write_bytes(b"rotted")
    with pytest.raises(NoSnapshotAsOf, match=rf"(?s)skipped {TAMPERED}: fails.*skipped {OLDEST}: fails.*"
                                             r"Give a later time") as refused:
        restore_snapshot(history, None, source, RestoreOptions(as_of=parse_as_of("2026-11-30T01:00Z"),
                                                               target_prefix="none_"))
    assert [s.snapshot_id for s in refused.value.skipped] == [TAMPERED, OLDEST]
    assert source.collection_definition("none_articles") is None


@pytest.mark.parametrize("given", ["2026-11-30T02:00", "2026-11-30T02:00:00", "2026-11-30 02:00:00"])
def test_a_time_without_a_zone_is_refused_as_ambiguous(given: str) -> None:
    with pytest.raises(ValueError, match="no time zone, so the moment it names is ambiguous: add Z"):
        parse_as_of(given)
    with pytest.raises(ValueError, match="as_of needs a time zone"):
        RestoreOptions(as_of=dt.datetime.fromisoformat(given.replace(" ", "T")))


@pytest.mark.parametrize("given, moment", [
    ("2026-11-30T02:00Z", "2026-11-30T02:00:00+00:00"),
    ("2026-11-30t02:00:30z", "2026-11-30T02:00:30+00:00"),
    ("2026-11-30T03:00+01:00", "2026-11-30T02:00:00+00:00"),
    ("2026-11-29T21:30-0430", "2026-11-30T02:00:00+00:00"),
    ("2026-11-30 02:00:00.250+00:00", "2026-11-30T02:00:00.250000+00:00"),  # how {{ data_interval_end }} renders
])
def test_iso_8601_times_with_z_or_an_offset_are_read_as_utc(given: str, moment: str) -> None:
    assert parse_as_of(given) == dt.datetime.fromisoformat(moment)
    assert parse_as_of(given).tzinfo is dt.timezone.utc


@pytest.mark.parametrize("given", ["yesterday", "2026-11-30", "2026-11-31T02:00Z", "2026-11-30T02:00+24:00", ""])
def test_what_is_not_a_time_is_refused_with_an_example(given: str) -> None:
    with pytest.raises(ValueError, match="2026-11-30T02:00Z|like \\+01:00"):
        parse_as_of(given)


def test_an_id_and_a_time_together_or_neither_are_refused(history: LocalStore) -> None:
    with pytest.raises(ValueError, match="not both"):
        restore_snapshot(history, "latest", None, RestoreOptions(as_of=parse_as_of(AS_OF)))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="give a snapshot id"):
        restore_snapshot(history, None, None, RestoreOptions())  # type: ignore[arg-type]


def test_the_sliced_restore_chooses_the_same_way_and_its_commit_reports_the_choice(
        astra_stand_in, astra_connection, history: LocalStore) -> None:
    source = AstraDBHook().get_conn()
    options = RestoreOptions(as_of=parse_as_of(AS_OF), target_prefix="sliced_", validation_queries=2,
                             verifier=HmacKey("the signing key of this history"))
    plan = plan_restore(history, None, source, options, slices_per_collection=2)
    assert plan.snapshot_id == OLDEST and plan.as_of is not None
    assert [s["snapshot_id"] for s in plan.as_of["skipped"]] == [AT_THE_TIME, IN_PROGRESS, INCOMPLETE, TAMPERED]
    reports = [restore_slice(history, plan, item, source, options) for item in plan.work_items]
    report = commit_restore(history, plan, reports, source, options)
    assert report["ok"] and report["as_of"] == plan.as_of and source.count_documents("sliced_articles").count == 11


def test_deduplicated_snapshots_a_damaged_pack_skips_exactly_the_snapshots_that_use_it(
        astra_stand_in, astra_connection, tmp_path: Path) -> None:
    rng = seed(astra_stand_in, 300)
    store = LocalStore(tmp_path / "store")
    source = AstraDBHook(retry_policy=FAST).get_conn()
    dump_snapshot(source, store, DAYS[0], DEDUP)
    first = source_digest(astra_stand_in)
    churn(astra_stand_in, rng, 30)
    dump_snapshot(source, store, DAYS[1], DEDUP)

    def packs(day: str) -> set[str]:
        return {p.path for p in store.read_manifest(store.get(day)).collection("docs").packs}

    only_second, shared = sorted(packs(DAYS[1]) - packs(DAYS[0])), sorted(packs(DAYS[0]) & packs(DAYS[1]))
    assert only_second and shared, "the churn left some packs shared and made new ones"
    for path in (only_second[0], shared[0]):
        damaged = bytearray((store.root / path).read_bytes())
        damaged[len(damaged) // 2] ^= 0xFF
        (store.root / path).write_bytes(bytes(damaged))
        if path == only_second[0]:
            report = restore_snapshot(store, None, source, RestoreOptions(
                as_of=parse_as_of("2026-11-02T12:00Z"), target_prefix="dedup_", validation_queries=2))
            assert report["snapshot_id"] == DAYS[0] and report["collections"]["docs"]["digest_restored"] == first
            assert [(s["snapshot_id"], only_second[0] in s["reason"]) for s in report["as_of"]["skipped"]] == [
                (DAYS[1], True)]
    with pytest.raises(NoSnapshotAsOf) as refused:
        choose_as_of(store, parse_as_of("2026-11-02T12:00Z"))
    assert [(s.snapshot_id, shared[0] in s.reason) for s in refused.value.skipped] == [(DAYS[1], True), (DAYS[0], True)]
