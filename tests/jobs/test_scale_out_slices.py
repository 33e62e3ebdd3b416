"""One collection dumped as slices by several workers (issue 18), against the Astra stand-in and a local store.

The slices are groups of the source's ``_id``-range partitions; each "worker" here is a call with its
own store object and a JSON copy of the plan, as a mapped task would have.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_vectorbackup.check import verify
from airflow_provider_vectorbackup.hooks.astra import AstraDBHook
from airflow_provider_vectorbackup.jobs.dump import DumpOptions, dump_snapshot
from airflow_provider_vectorbackup.jobs.restore import RestoreNotValidated, RestoreOptions, TargetConflict, restore_snapshot
from airflow_provider_vectorbackup.jobs.restore_scale_out import (
    RestorePlan, commit_restore, plan_restore, restore_slice, split_segments,
)
from airflow_provider_vectorbackup.jobs.scale_out import (
    SnapshotPlan, commit_snapshot, dump_work_item, parse_work_item, plan_snapshot, slice_files,
)
from airflow_provider_vectorbackup.snapshot.guard import VectorLossPolicy
from airflow_provider_vectorbackup.snapshot.layout import segment_index, slice_segments
from airflow_provider_vectorbackup.snapshot.vectors import floats_to_binary
from airflow_provider_vectorbackup.stores.local import LocalStore
from airflow_provider_vectorbackup.testing import sample_data

SID = "20260301T120000Z-sliced"
SEGMENT = 20_000  # several segments per slice
PRODUCER = {"dag_id": "vector_backup_mapped", "task_id": "commit", "run_id": "r1"}
KEYSPACE = sample_data.KEYSPACE
DEFINITION = {"vector": {"dimension": 16, "metric": "cosine", "sourceModel": "other"}}


def spread_documents(count: int, seed: int = 7, without_vector: set[int] = frozenset()) -> list[dict[str, Any]]:
    """Documents whose string ids start with every hex digit, so each ``_id``-range partition holds some."""
    rng = random.Random(seed)
    documents = []
    for i in range(count):
        document = {"_id": f"{(i * 2654435761) % 2 ** 32:08x}-{i}", "title": f"document {i}", "n": i,
                    "$vector": {"$binary": floats_to_binary(sample_data.unit_vector(rng, 16))}}
        if i in without_vector:
            del document["$vector"]
        documents.append(document)
    return documents


@pytest.fixture
def astra(astra_stand_in, astra_connection):
    astra_stand_in.create_collection(KEYSPACE, "docs", DEFINITION)
    astra_stand_in.seed(KEYSPACE, "docs", spread_documents(600))
    sample_data.seed(astra_stand_in, {"articles": 0, "products": 0, "faq": 0})  # faq: int ids, cannot be sliced
    astra_stand_in.seed(KEYSPACE, "faq", [{"_id": i, "answer": f"see {i}"} for i in range(30)])
    return astra_stand_in


def plan(store, slices: int = 4, **kwargs: Any) -> SnapshotPlan:
    kwargs.setdefault("segment_max_bytes", SEGMENT)
    kwargs.setdefault("collections", ["docs", "faq"])
    return plan_snapshot(AstraDBHook().get_conn(), store, SID, DumpOptions(producer=PRODUCER, **kwargs),
                         slices_per_collection=slices)


def work(root: Path, planned: SnapshotPlan, item: str, **kwargs: Any):
    """One mapped task: its own store object, a JSON round trip of the plan, a JSON-safe result."""
    outcome = dump_work_item(AstraDBHook().get_conn(), LocalStore(root), SnapshotPlan.from_dict(
        json.loads(json.dumps(planned.to_dict()))), item, DumpOptions(**kwargs))
    json.dumps(outcome.result)
    return outcome


def test_a_collection_in_four_slices_seals_the_same_documents_as_one_task_and_restores(astra, tmp_path: Path) -> None:
    root = tmp_path / "share"
    planned = plan(LocalStore(root))
    assert planned.work_items == ["docs[0/4]", "docs[1/4]", "docs[2/4]", "docs[3/4]", "faq"]
    assert [parse_work_item(i) for i in planned.work_items[:2]] == [("docs", 0), ("docs", 1)]
    results = [work(root, planned, item).result for item in reversed(planned.work_items)]
    outcome = commit_snapshot(LocalStore(root), planned, results, DumpOptions(producer=PRODUCER))
    assert outcome.failures == {} and outcome.manifest.status == "complete"

    single = dump_snapshot(AstraDBHook().get_conn(), LocalStore(tmp_path / "single"), "20260301T120000Z-single",
                           DumpOptions(collections=["docs", "faq"], segment_max_bytes=SEGMENT)).manifest
    for name in ("docs", "faq"):
        sliced, whole = outcome.manifest.collection(name), single.collection(name)
        assert (sliced.document_count, sliced.content_digest, sliced.vectors, sliced.definition) == \
               (whole.document_count, whole.content_digest, whole.vectors, whole.definition)
    docs = outcome.manifest.collection("docs")
    assert docs.document_count == 600
    assert docs.scan["mode"] == "slices" and [s["slice"] for s in docs.scan["slices"]] == [0, 1, 2, 3]
    blocks = {segment_index(s.path) // len(slice_segments(0)) for s in docs.segments}
    assert blocks == {0, 1, 2, 3}, "every slice wrote segments of its own block"
    assert [segment_index(s.path) for s in docs.segments] == sorted(segment_index(s.path) for s in docs.segments)
    assert outcome.manifest.collection("faq").scan["mode"] != "slices", "int ids: the source cannot split it"

    assert verify(outcome.snapshot.location, "records").ok, "the existing verifier reads it unchanged"
    report = restore_snapshot(LocalStore(root), SID, AstraDBHook().get_conn(),
                              RestoreOptions(collections=["docs"], target_prefix="restored_"))
    restored = report["collections"]["docs"]
    assert restored["ok"] and restored["inserted"] == 600 and restored["digest_matches_manifest"]


def test_the_retry_of_one_slice_removes_only_its_own_files(astra, tmp_path: Path) -> None:
    root = tmp_path / "share"
    planned = plan(LocalStore(root))
    results = {item: work(root, planned, item).result for item in planned.work_items}
    folder = root / f".{SID}.inprogress" / "collections" / "docs"
    listing = [f"collections/docs/{p.name}" for p in folder.iterdir()]
    others = {p: (root / f".{SID}.inprogress" / p).stat().st_mtime_ns for p in listing
              if p not in slice_files(listing, "docs", 2)}
    stale = folder / f"part-{slice_segments(2).start + 57:05d}.jsonl.gz"
    stale.write_bytes(b"left by an attempt that was killed mid-upload")

    source = AstraDBHook().get_conn()
    real = source.read_partition

    def failing(name, partition):
        pages = real(name, partition)
        yield next(pages)
        raise ConnectionError("worker lost its network")

    source.read_partition = failing
    failed = dump_work_item(source, LocalStore(root), planned, "docs[2/4]", DumpOptions())
    assert isinstance(failed.error, ConnectionError) and failed.entry.status == "failed"
    assert not stale.exists(), "the attempt removed what an earlier one left in its block"

    retried = work(root, planned, "docs[2/4]")  # the retry of map index 2 alone
    assert retried.error is None and retried.entry.status == "complete"
    assert {p: (root / f".{SID}.inprogress" / p).stat().st_mtime_ns for p in others} == others, \
        "no file of another slice was touched"
    results["docs[2/4]"] = retried.result
    outcome = commit_snapshot(LocalStore(root), planned, list(results.values()), DumpOptions(producer=PRODUCER))
    assert outcome.manifest.status == "complete" and outcome.manifest.collection("docs").document_count == 600
    assert verify(outcome.snapshot.location, "records").ok


def test_a_slice_that_reported_nothing_fails_the_collection_and_its_files_are_removed(astra, tmp_path: Path) -> None:
    root = tmp_path / "share"
    planned = plan(LocalStore(root))
    results = [work(root, planned, item).result for item in planned.work_items if item != "docs[1/4]"]
    outcome = commit_snapshot(LocalStore(root), planned, results + [None], DumpOptions(producer=PRODUCER))
    assert outcome.manifest.status == "incomplete"
    error = outcome.manifest.collection("docs").error
    assert "docs[1/4]" in error and "reported no result" in error
    assert not (Path(outcome.snapshot.location) / "collections" / "docs").exists()
    assert outcome.manifest.collection("faq").status == "complete"
    assert verify(outcome.snapshot.location, "files", allow_incomplete=True).ok


def test_a_slice_reporting_files_outside_its_block_is_refused(astra, tmp_path: Path) -> None:
    root = tmp_path / "share"
    planned = plan(LocalStore(root))
    results = [work(root, planned, item).result for item in planned.work_items]
    results[1]["collection"]["segments"].append(results[2]["collection"]["segments"][0])  # claims slice 2's file
    outcome = commit_snapshot(LocalStore(root), planned, results, DumpOptions(producer=PRODUCER))
    assert "docs[1/4] reported files outside its own" in outcome.manifest.collection("docs").error


def test_the_guard_runs_on_each_slice(astra_stand_in, astra_connection, tmp_path: Path) -> None:
    astra_stand_in.create_collection(KEYSPACE, "docs", DEFINITION)
    astra_stand_in.seed(KEYSPACE, "docs", spread_documents(200, without_vector={5}))
    root = tmp_path / "share"
    planned = plan(LocalStore(root), collections=["docs"])
    outcomes = [work(root, planned, item) for item in planned.work_items]
    lost = [o for o in outcomes if o.error is not None]
    assert len(lost) == 1 and type(lost[0].error).__name__ == "VectorLossError"
    outcome = commit_snapshot(LocalStore(root), planned, [o.result for o in outcomes], DumpOptions(producer=PRODUCER))
    assert outcome.manifest.status == "incomplete"
    assert "VectorLossError" in outcome.manifest.collection("docs").error

    # With a threshold that the whole collection meets, every slice passes too.
    planned = plan(LocalStore(tmp_path / "other"), collections=["docs"],
                   vector_policy=VectorLossPolicy(max_missing_fraction=0.05))
    results = [work(tmp_path / "other", planned, item).result for item in planned.work_items]
    outcome = commit_snapshot(LocalStore(tmp_path / "other"), planned, results, DumpOptions(producer=PRODUCER))
    assert outcome.manifest.status == "complete"


# -- restore over mapped slices ----------------------------------------------------------------------


@pytest.fixture
def sealed(astra, tmp_path: Path) -> LocalStore:
    """A complete snapshot of ``docs`` in a local store, dumped by one task (any snapshot restores in slices)."""
    store = LocalStore(tmp_path / "store")
    dump_snapshot(AstraDBHook().get_conn(), store, SID, DumpOptions(collections=["docs"], segment_max_bytes=SEGMENT))
    return store


def restore_work(store: LocalStore, restore_plan: RestorePlan, item: str) -> dict[str, Any]:
    report = restore_slice(store, RestorePlan.from_dict(json.loads(json.dumps(restore_plan.to_dict()))), item,
                           AstraDBHook().get_conn(), RestoreOptions())
    json.dumps(report)
    return report


def test_a_collection_restored_in_four_slices_validates_and_a_retried_slice_counts_present(sealed) -> None:
    restore_plan = plan_restore(sealed, SID, AstraDBHook().get_conn(), RestoreOptions(target_prefix="back_"),
                                slices_per_collection=4)
    assert restore_plan.work_items == ["docs[0/4]", "docs[1/4]", "docs[2/4]", "docs[3/4]"]
    assert restore_plan.targets == {"docs": "back_docs"}
    reports = [restore_work(sealed, restore_plan, item) for item in restore_plan.work_items]
    assert sum(r["inserted"] for r in reports) == 600
    again = restore_work(sealed, restore_plan, "docs[2/4]")  # a retried map index re-inserts
    assert again["inserted"] == 0 and again["already_present"] == reports[2]["documents"] > 0
    reports[2] = again

    summary = commit_restore(sealed, restore_plan, reports, AstraDBHook().get_conn(), RestoreOptions())
    result = summary["collections"]["docs"]
    assert summary["ok"] and result["documents_restored"] == 600 and result["digest_restored"] == result["digest_expected"]
    assert result["recall_at_10"] == 1.0 and result["queries"] >= 10


def test_the_restore_commit_refuses_a_missing_or_tampered_slice_report(sealed) -> None:
    restore_plan = plan_restore(sealed, SID, AstraDBHook().get_conn(), RestoreOptions(target_prefix="back_"),
                                slices_per_collection=3)
    reports = [restore_work(sealed, restore_plan, item) for item in restore_plan.work_items]

    with pytest.raises(RestoreNotValidated, match=r"docs\[1/3\] reported nothing"):
        commit_restore(sealed, restore_plan, [reports[0], None, reports[2]], AstraDBHook().get_conn())
    tampered = dict(reports[1], content_digest="0" * 64)
    with pytest.raises(RestoreNotValidated, match="add up to content digest .* the manifest says") as refused:
        commit_restore(sealed, restore_plan, [reports[0], tampered, reports[2]], AstraDBHook().get_conn())
    assert refused.value.report["ok"] is False
    short = dict(reports[1], segments=reports[1]["segments"][:-1])
    with pytest.raises(RestoreNotValidated, match=r"docs\[1/3\] reports segments"):
        commit_restore(sealed, restore_plan, [reports[0], short, reports[2]], AstraDBHook().get_conn())


def test_the_restore_plan_refuses_an_existing_target_before_writing(sealed, astra) -> None:
    with pytest.raises(TargetConflict, match="already exists"):
        plan_restore(sealed, SID, AstraDBHook().get_conn(), RestoreOptions(), slices_per_collection=2)


def test_segments_are_split_into_runs_of_about_equal_documents() -> None:
    from airflow_provider_vectorbackup.snapshot.manifest import CollectionEntry, FileEntry, VectorSummary

    def entry(counts: list[int]) -> CollectionEntry:
        return CollectionEntry("c", "complete", {}, None, sum(counts), VectorSummary(), "0" * 64, "sha256-sum/v1",
                               segments=[FileEntry(f"collections/c/part-{i:05d}.jsonl.gz", 1, "", n)
                                         for i, n in enumerate(counts)])

    def sizes(counts: list[int], slices: int) -> list[int]:
        return [len(group) for group in split_segments(entry(counts), slices)]

    assert sizes([249_823, 250_100, 250_474, 249_603], 4) == [1, 1, 1, 1]
    assert sizes([100] * 10, 4) == [2, 3, 2, 3]
    assert sizes([100] * 3, 4) == [1, 1, 1], "never more slices than segments"
    assert split_segments(entry([]), 4) == [[]], "an empty collection is one empty slice"
