"""The scale-out jobs (plan, one collection per worker, commit) against the Astra stand-in and a local or Box store."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from pyrage import x25519

from airflow_provider_vectorbackup.check import check_stored
from airflow_provider_vectorbackup.hooks.astra import AstraDBHook
from airflow_provider_vectorbackup.jobs.collection import UnknownCollectionsError
from airflow_provider_vectorbackup.jobs.dump import DumpOptions, dump_snapshot
from airflow_provider_vectorbackup.jobs.scale_out import (
    CollectionOutcome, SnapshotPlan, commit_snapshot, dump_collection, plan_snapshot,
)
from airflow_provider_vectorbackup.check import verify
from airflow_provider_vectorbackup.snapshot import AgeEncryption, AgeIdentities
from airflow_provider_vectorbackup.snapshot.errors import SnapshotStateError
from airflow_provider_vectorbackup.snapshot.layout import SnapshotState
from airflow_provider_vectorbackup.snapshot.manifest import Manifest
from airflow_provider_vectorbackup.stores.base import SnapshotSealedError
from airflow_provider_vectorbackup.stores.box.store import BoxStore
from airflow_provider_vectorbackup.stores.local import LocalStore
from airflow_provider_vectorbackup.hooks.box import BoxHook
from airflow_provider_vectorbackup.testing import sample_data

SID = "20260301T120000Z-mapped"
SEGMENT = 40_000  # several segments per collection
PRODUCER = {"dag_id": "vector_backup_mapped", "task_id": "commit", "run_id": "r1"}


@pytest.fixture
def astra(astra_stand_in, astra_connection):
    sample_data.seed(astra_stand_in, {"articles": 120, "products": 60, "faq": 10})
    return astra_stand_in


def plan(store, **kwargs: Any) -> SnapshotPlan:
    kwargs.setdefault("segment_max_bytes", SEGMENT)
    return plan_snapshot(AstraDBHook().get_conn(), store, SID, DumpOptions(producer=PRODUCER, **kwargs))


def dump(store, snapshot_plan: SnapshotPlan, name: str, on_progress=None, **kwargs: Any) -> CollectionOutcome:
    outcome = dump_collection(AstraDBHook().get_conn(), store, snapshot_plan, name, DumpOptions(**kwargs), on_progress=on_progress)
    json.dumps(outcome.result)  # what travels between workers is JSON-safe
    return outcome


def pending_files(root: Path, name: str) -> list[str]:
    folder = root / f".{SID}.inprogress" / "collections" / name
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def single_task_manifest(tmp_path: Path) -> Manifest:
    outcome = dump_snapshot(AstraDBHook().get_conn(), LocalStore(tmp_path / "single"), "20260301T120000Z-single",
                            DumpOptions(segment_max_bytes=SEGMENT))
    return outcome.manifest


def by_name(manifest: Manifest) -> dict[str, dict]:
    """What a collection's entry promises a reader, by name: everything but the segments' cut and scan timing.

    (With a parallel scan, the order of documents, hence the cut into segments, may differ between runs.)
    """
    content = {}
    for c in manifest.collections:
        entry = c.to_dict()
        entry["segments"] = sum(s["documents"] for s in entry["segments"])
        entry["scan"] = {k: v for k, v in (entry["scan"] or {}).items() if k in ("mode", "documents")}
        content[c.name] = entry
    return content


def test_collections_dumped_separately_seal_the_same_snapshot_as_a_single_task_dump(astra, tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "share")
    planned = plan(store)
    assert planned.collections == ["articles", "faq", "products"] and not planned.sealed
    assert [s.state for s in store.snapshots()] == [SnapshotState.IN_PROGRESS]
    # Each "worker" joins with its own store object and plan copy, in any order.
    results = [dump(LocalStore(tmp_path / "share"), SnapshotPlan.from_dict(planned.to_dict()), name).result
               for name in reversed(planned.collections)]
    assert [s.state for s in store.snapshots()] == [SnapshotState.IN_PROGRESS], "nothing visible before the commit"
    outcome = commit_snapshot(store, planned, results, DumpOptions(producer=PRODUCER))

    assert outcome.failures == {} and outcome.manifest.status == "complete"
    assert outcome.snapshot.ref.folder_name == SID
    assert verify(outcome.snapshot.location, "records").ok
    single = single_task_manifest(tmp_path)
    assert by_name(outcome.manifest) == by_name(single), "same definitions, counts and digests as one task"
    assert outcome.manifest.settings == single.settings
    assert outcome.manifest.source == single.source and outcome.manifest.producer == PRODUCER
    assert outcome.manifest.started_at == planned.started_at, "the run is dated from its plan"
    assert any(len(c.segments) > 1 for c in outcome.manifest.collections)


def test_a_retried_collection_first_removes_what_its_earlier_attempt_stored(astra, tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "share")
    planned = plan(store)

    def die_after_two_pages(progress) -> None:
        if progress.documents >= 40:
            raise ConnectionError("worker lost its network")

    first = dump(store, planned, "articles", on_progress=die_after_two_pages)
    assert isinstance(first.error, ConnectionError) and first.entry.status == "failed"
    left = pending_files(tmp_path / "share", "articles")
    assert "definition.json" in left and "part-00000.jsonl.gz" in left, "the first attempt stored files"
    stale = tmp_path / "share" / f".{SID}.inprogress" / "collections" / "articles" / "part-00042.jsonl.gz"
    stale.write_bytes(b"left by an attempt that was killed mid-upload")

    second = dump(store, planned, "articles")  # the retry; the first attempt's XCom is gone
    assert second.error is None and second.entry.status == "complete"
    assert "part-00042.jsonl.gz" not in pending_files(tmp_path / "share", "articles")
    results = [second.result] + [dump(store, planned, name).result for name in ("faq", "products")]
    outcome = commit_snapshot(store, planned, results, DumpOptions(producer=PRODUCER))
    assert outcome.manifest.status == "complete"
    assert verify(outcome.snapshot.location, "records").ok, "no file of the first attempt is left or listed"
    assert by_name(outcome.manifest)["articles"] == by_name(single_task_manifest(tmp_path))["articles"]


def test_a_collection_whose_task_left_no_result_is_failed_and_its_files_removed(astra, tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "share")
    planned = plan(store)
    dump(store, planned, "articles")  # stored everything, then the worker was killed before reporting
    results = [dump(store, planned, name).result for name in ("faq", "products")]
    outcome = commit_snapshot(store, planned, results + [None], DumpOptions(producer=PRODUCER))

    assert outcome.manifest.status == "incomplete" and outcome.snapshot.ref.folder_name == f"{SID}.INCOMPLETE"
    articles = outcome.manifest.collection("articles")
    assert articles.status == "failed" and articles.files == [] and articles.document_count == 0
    assert articles.error.startswith("CollectionNotReported: its dump task reported no result")
    assert set(outcome.failures) == {"articles"}
    assert not (Path(outcome.snapshot.location) / "collections" / "articles").exists()
    assert outcome.manifest.collection("products").status == "complete"
    report = verify(outcome.snapshot.location, "records", allow_incomplete=True)
    assert report.ok, report.problems
    assert by_name(outcome.manifest)["products"] == by_name(single_task_manifest(tmp_path))["products"]


def test_a_collection_that_fails_the_guard_is_failed_with_its_finished_segments(astra, tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "share")
    planned = plan(store)
    astra.regression_mode = True  # the server stops returning $vector
    outcomes = {name: dump(store, planned, name) for name in planned.collections}
    assert type(outcomes["articles"].error).__name__ == "VectorLossError"
    assert outcomes["faq"].error is None, "a $vectorize collection only warns"
    outcome = commit_snapshot(store, planned, [o.result for o in outcomes.values()], DumpOptions(producer=PRODUCER))

    assert outcome.manifest.status == "incomplete" and set(outcome.failures) == {"articles", "products"}
    articles = outcome.manifest.collection("articles")
    assert articles.error.startswith("VectorLossError: Vector loss in collection 'articles'")
    assert articles.segments and articles.document_count == 120, "finished segments stay listed"
    assert outcome.manifest.collection("faq").warnings
    assert verify(outcome.snapshot.location, "records", allow_incomplete=True).ok


def test_the_commit_checks_entries_against_the_store(astra, tmp_path: Path) -> None:
    root = tmp_path / "share"
    store = LocalStore(root)
    planned = plan(store)
    results = {name: dump(store, planned, name).result for name in planned.collections}
    pending = root / f".{SID}.inprogress" / "collections"
    with open(pending / "articles" / "part-00001.jsonl.gz", "ab") as segment:
        segment.write(b"x")  # changed after its task reported it
    (pending / "faq" / "part-00007.jsonl.gz").write_bytes(b"written by a second, concurrent attempt")
    (pending / "dropped_collection").mkdir()
    (pending / "dropped_collection" / "definition.json").write_text("{}")
    results["products"] = {**results["products"],
                           "written_with": {**results["products"]["written_with"], "segment_max_bytes": 1}}
    outcome = commit_snapshot(store, planned, list(results.values()), DumpOptions(producer=PRODUCER))

    assert set(outcome.failures) == {"articles", "faq", "products"}
    errors = {c.name: c.error for c in outcome.manifest.collections}
    assert re.search(r"collections/articles/part-00001\.jsonl\.gz: file has \d+ bytes, the manifest says \d+ "
                     r"\[size_mismatch\]", errors["articles"]), "the checker's words for the file"
    assert "collections/faq/part-00007.jsonl.gz: not one of its files [unlisted_file]" in errors["faq"]
    assert "other settings" in errors["products"] and "segment_max_bytes" in errors["products"]
    sealed = Path(outcome.snapshot.location)
    assert sorted(p.name for p in (sealed / "collections").iterdir()) == [], "every unusable collection was removed"
    report = verify(sealed, "files", allow_incomplete=True)
    assert report.ok, report.problems


def test_a_sealed_snapshot_is_never_reopened_and_a_rerun_reports_it(astra, tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "share")
    planned = plan(store)
    results = [dump(store, planned, name).result for name in planned.collections]
    first = commit_snapshot(store, planned, results, DumpOptions(producer=PRODUCER))
    with pytest.raises(SnapshotSealedError, match="already sealed"):
        dump(store, planned, "articles")
    again = commit_snapshot(store, planned, results, DumpOptions(producer=PRODUCER))  # a retried commit
    assert again.already_complete and again.snapshot == first.snapshot and again.manifest == first.manifest
    replanned = plan(store)  # the whole run again, after a success whose report was lost
    assert replanned.sealed and replanned.collections == []
    assert commit_snapshot(store, replanned, [], DumpOptions(producer=PRODUCER)).manifest == first.manifest
    with pytest.raises(Exception, match="was made by vector_backup_mapped, not someone_else"):
        commit_snapshot(store, planned, results, DumpOptions(producer={**PRODUCER, "dag_id": "someone_else"}))


def test_a_worker_cannot_join_a_snapshot_that_was_never_planned(astra, tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "share")
    phantom = SnapshotPlan(SID, "2026-03-01T12:00:00.000+00:00", {"kind": "astra"}, ["articles"])
    with pytest.raises(SnapshotStateError, match="no snapshot .* in progress"):
        dump(store, phantom, "articles")
    planned = plan(store)
    with pytest.raises(ValueError, match="not in the plan"):
        dump(store, planned, "not_planned")


def test_a_plan_that_fails_seals_an_explained_incomplete_snapshot(astra, tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "share")
    with pytest.raises(UnknownCollectionsError, match=r"\['nope'\]"):
        plan(store, collections=["articles", "nope"])
    (sealed,) = store.snapshots()
    assert sealed.state is SnapshotState.INCOMPLETE
    manifest = store.read_manifest(sealed)
    assert manifest.collections == [] and "UnknownCollectionsError" in manifest.error
    assert plan(store, collections=["articles"]).collections == ["articles"], "a retry starts over"


def test_an_encrypted_scale_out_snapshot_verifies_and_reads_back(astra, tmp_path: Path) -> None:
    identity = x25519.Identity.generate()
    encryption = AgeEncryption.from_recipients([str(identity.to_public())])
    store = LocalStore(tmp_path / "share")
    planned = plan(store)
    results = [dump(store, planned, name, encryption=encryption).result for name in planned.collections]
    outcome = commit_snapshot(store, planned, results, DumpOptions(producer=PRODUCER, encryption=encryption))
    assert outcome.manifest.status == "complete" and outcome.manifest.encryption == encryption.manifest_entry()
    assert verify(outcome.snapshot.location, "files").ok
    report = verify(outcome.snapshot.location, "records",
                    identities=AgeIdentities.from_text(f"{identity}\n"))
    assert report.ok, report.problems
    # A worker that ran without the encryption connection cannot slip plaintext into an encrypted snapshot.
    store2 = LocalStore(tmp_path / "mixed")
    planned2 = plan(store2)
    mixed = [dump(store2, planned2, name, encryption=encryption if name != "faq" else None).result
             for name in planned2.collections]
    sealed = commit_snapshot(store2, planned2, mixed, DumpOptions(producer=PRODUCER, encryption=encryption))
    assert set(sealed.failures) == {"faq"} and "encryption" in sealed.manifest.collection("faq").error


def test_box_store_joins_discards_and_seals(astra, box_stand_in, box_connection, tmp_path: Path) -> None:
    store = BoxStore.at_path(BoxHook().get_conn(), "scale-out", create=True)
    planned = plan(store)

    def die_after_two_pages(progress) -> None:
        if progress.documents >= 40:
            raise ConnectionError("worker lost its network")

    worker = BoxStore.at_path(BoxHook().get_conn(), "scale-out")  # another worker's view of the same folder
    first = dump(worker, planned, "articles", on_progress=die_after_two_pages)
    assert first.error is not None
    stored = [row["path"] for row in box_stand_in.tree() if "/collections/articles/" in row["path"]]
    assert any(path.endswith("part-00000.jsonl.gz") for path in stored)
    hook = BoxHook().get_conn()
    folder = hook.ensure_folder(f".{SID}.inprogress/collections/articles", store.root_folder_id)
    stale = tmp_path / "stale"
    stale.write_bytes(b"left by an attempt that was killed mid-collection")
    hook.upload(stale, folder, "part-00042.jsonl.gz")
    results = [dump(worker, planned, name).result for name in planned.collections]  # articles retried
    assert not any(row["path"].endswith("articles/part-00042.jsonl.gz") for row in box_stand_in.tree())
    died = tmp_path / "manifest.json"
    died.write_bytes(b'{"uploaded by": "a commit attempt that died before the rename"}')
    hook.upload(died, hook.ensure_folder(f".{SID}.inprogress", store.root_folder_id), "manifest.json")
    outcome = commit_snapshot(store, planned, results, DumpOptions(producer=PRODUCER))  # the retried commit
    assert outcome.manifest.status == "complete"
    report = check_stored(store, store.get(SID))
    assert report.ok, report.problems
    assert store.read_manifest(store.get(SID)) == outcome.manifest, "the dead attempt's manifest was replaced"
    assert by_name(outcome.manifest) == by_name(single_task_manifest(tmp_path))
    with pytest.raises(SnapshotSealedError):
        store.resume(SID)


def test_the_commit_signs_the_manifest_it_seals(astra, tmp_path: Path) -> None:
    from airflow_provider_vectorbackup.snapshot import HmacKey, SIGNATURE_NAME

    key = HmacKey("a shared secret of sufficient length")
    store = LocalStore(tmp_path / "share")
    planned = plan(store)
    results = [dump(store, planned, name).result for name in planned.collections]
    outcome = commit_snapshot(store, planned, results, DumpOptions(producer=PRODUCER, signer=key))
    assert outcome.result.signature_key_id == key.key_id
    assert (Path(outcome.snapshot.location) / SIGNATURE_NAME).exists()
    report = verify(outcome.snapshot.location, "records", verifier=key)
    assert report.ok, report.problems
    wrong = verify(outcome.snapshot.location, "files", verifier=HmacKey("another secret, also long enough"))
    assert {p.code for p in wrong.problems} == {"signature_key_mismatch"}


def test_a_zstd_plan_makes_every_worker_and_the_commit_write_format_version_2(astra, tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "share")
    planned = plan(store, compression="zstd")
    results = [dump(store, SnapshotPlan.from_dict(planned.to_dict()), name).result for name in planned.collections]
    outcome = commit_snapshot(store, planned, results, DumpOptions(producer=PRODUCER))
    assert outcome.manifest.status == "complete" and outcome.manifest.format_version == 2
    assert outcome.manifest.settings["compression"] == "zstd"
    assert all(s.path.endswith(".jsonl.zst") for c in outcome.manifest.collections for s in c.segments)
    assert verify(outcome.snapshot.location, "records").ok
    with pytest.raises(ValueError, match="compression must be one of"):
        plan(LocalStore(tmp_path / "other"), compression="lz4")
