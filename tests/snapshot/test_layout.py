from __future__ import annotations

import datetime as dt

import pytest

from airflow_provider_vectorbackup.snapshot.layout import (
    SnapshotState, folder_name, new_snapshot_id, parse_folder_name, snapshot_time,
)


def test_ids_are_sortable_utc_timestamps() -> None:
    when = dt.datetime(2026, 11, 21, 23, 54, 0, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    assert new_snapshot_id(when) == "20261122T045400Z"
    assert new_snapshot_id(when, label="nightly") == "20261122T045400Z-nightly"
    assert snapshot_time("20261122T045400Z-nightly") == when
    ids = [new_snapshot_id(dt.datetime(2026, m, d, tzinfo=dt.timezone.utc)) for m, d in [(1, 2), (12, 1), (3, 10)]]
    assert sorted(ids) == [ids[0], ids[2], ids[1]]


def test_naive_times_and_bad_labels_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        new_snapshot_id(dt.datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="invalid snapshot id"):
        new_snapshot_id(dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc), label="a.b")


@pytest.mark.parametrize("state, name", [
    (SnapshotState.COMPLETE, "20260101T000000Z"),
    (SnapshotState.IN_PROGRESS, ".20260101T000000Z.inprogress"),
    (SnapshotState.INCOMPLETE, "20260101T000000Z.INCOMPLETE"),
])
def test_folder_names_round_trip(state: SnapshotState, name: str) -> None:
    assert folder_name("20260101T000000Z", state) == name
    ref = parse_folder_name(name)
    assert ref.snapshot_id == "20260101T000000Z" and ref.state is state


@pytest.mark.parametrize("name", ["20260101T000000Z.inprogress", ".20260101T000000Z", "2026-01-01", "x.INCOMPLETE"])
def test_other_folders_are_not_snapshots(name: str) -> None:
    assert parse_folder_name(name) is None


def test_ids_with_trailing_newlines_are_refused() -> None:
    with pytest.raises(ValueError):
        from airflow_provider_vectorbackup.snapshot.layout import check_snapshot_id
        check_snapshot_id("20261121T000000Z\n")
    assert parse_folder_name("20261121T000000Z\n") is None


@pytest.mark.parametrize(("name", "allowed"), [
    ("articles", True), ("config.ip", True), ("my-table_2", True), ("a" * 255, True), ("_private", True),
    ("a" * 256, False), ("a..b", False), (".hidden", False), ("-dash", False), ("a/b", False), ("..", False),
    ("with space", False), ("café", False), ("", False)])
def test_collection_names_are_what_any_folder_can_hold(name: str, allowed: bool) -> None:
    from airflow_provider_vectorbackup.snapshot.layout import is_collection_name

    assert is_collection_name(name) is allowed
