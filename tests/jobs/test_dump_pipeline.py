"""The dump's fast paths keep the snapshot exact: concurrent collections, parallel scans, uploads
that overlap writing, bounded staging, and failures that still leave an explained snapshot.

Real hooks and SDKs over HTTP against the stand-ins; a local-folder store where the test needs
to look inside the store's hand-off.
"""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import pytest

from airflow_provider_vectorbackup.check import check_stored
from airflow_provider_vectorbackup.hooks.astra import AstraDBHook
from airflow_provider_vectorbackup.sources.astra.retry import RetryPolicy
from airflow_provider_vectorbackup.hooks.box import BoxHook
from airflow_provider_vectorbackup.jobs.dump import DumpOptions, dump_snapshot
from airflow_provider_vectorbackup.snapshot.digest import ContentDigest
from airflow_provider_vectorbackup.snapshot.handoff import FileHandoff
from airflow_provider_vectorbackup.snapshot.reader import open_snapshot
from airflow_provider_vectorbackup.check.verify import verify
from airflow_provider_vectorbackup.stores.box.store import BoxStore
from airflow_provider_vectorbackup.stores.local import LocalStore
from airflow_provider_vectorbackup.testing.sample_data import KEYSPACE, unit_vector
from airflow_provider_vectorbackup.snapshot.vectors import floats_to_binary

SNAPSHOT = "20260401T000000Z-pipeline"
FAST = RetryPolicy(max_attempts=2, initial_wait=0.001, max_wait=0.01)
SMALL_SEGMENTS = 8_000  # bytes of JSON: a few dozen documents per segment, so hand-offs overlap writing


def seed_uuid_collections(astra_stand_in, sizes: dict[str, int]) -> dict[str, str]:
    """Collections with Astra-style UUID string ids; returns each one's content digest as read back from the source."""
    import random

    rng = random.Random(11)
    digests = {}
    for name, count in sizes.items():
        astra_stand_in.create_collection(KEYSPACE, name, {"vector": {"dimension": 8, "metric": "cosine"}})
        docs = [{"_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "n": i, "text": f"{name} {i} é",
                 "$vector": {"$binary": floats_to_binary(unit_vector(rng, 8))}} for i in range(count)]
        astra_stand_in.seed(KEYSPACE, name, docs)
        digest = ContentDigest()
        for document in docs:
            digest.add(document)
        digests[name] = digest.hexdigest()
    return digests


def test_concurrent_collections_parallel_scans_and_overlapped_uploads_make_an_exact_snapshot(
        astra_stand_in, astra_connection, box_stand_in, box_connection, tmp_path) -> None:
    expected = seed_uuid_collections(astra_stand_in, {"alpha": 700, "beta": 450, "gamma": 15})
    store = BoxStore.at_path(BoxHook().get_conn(), "backups/pipeline", create=True)
    tuning = dict(scan_streams=4, collections_at_once=3, uploads_at_once=2)
    outcome = dump_snapshot(AstraDBHook(retry_policy=FAST).get_conn(), store, SNAPSHOT,
                            DumpOptions(segment_max_bytes=SMALL_SEGMENTS, **tuning))
    assert outcome.manifest.status == "complete" and not outcome.failures
    for name, digest in expected.items():
        entry = outcome.manifest.collection(name)
        assert entry.content_digest == digest, f"{name}: the snapshot holds exactly the source's documents"
        assert [s.path.rsplit("/", 1)[1] for s in entry.segments] == [
            f"part-{i:05d}.jsonl.gz" for i in range(len(entry.segments))], "segments listed in order, without gaps"
    assert outcome.manifest.collection("alpha").scan["mode"] == "id-ranges"
    assert outcome.manifest.collection("alpha").scan["streams"] == 4
    assert len(outcome.manifest.collection("alpha").segments) > 5
    assert outcome.manifest.collection("gamma").scan["mode"] == "single"  # one page: the probe read it all
    report = check_stored(store, store.get(SNAPSHOT))
    assert report.ok, report.summary()
    local = store.download(store.get(SNAPSHOT), tmp_path)
    assert verify(local, "records").ok


class RecordingPending:
    """Wraps a local store's pending snapshot: counts staged segments at each hand-off, fails chosen ones."""

    def __init__(self, pending, staging: Path, fail_segment: str | None = None) -> None:
        self.pending, self.staging, self.fail_segment = pending, staging, fail_segment
        self.location = pending.location
        self.most_staged = 0
        self._lock = threading.Lock()

    def put(self, entry, local) -> None:
        with self._lock:
            staged = len(list(self.staging.rglob("part-*")))
            self.most_staged = max(self.most_staged, staged)
        if self.fail_segment and entry.path.endswith(self.fail_segment):
            raise OSError(f"injected: the store refused {entry.path}")
        self.pending.put(entry, local)

    def seal(self, result):
        return self.pending.seal(result)


class RecordingStore(LocalStore):
    def __init__(self, root, staging: Path, fail_segment: str | None = None) -> None:
        super().__init__(root)
        self.staging, self.fail_segment, self.recorder = staging, fail_segment, None

    def begin(self, snapshot_id):
        self.recorder = RecordingPending(super().begin(snapshot_id), self.staging, self.fail_segment)
        return self.recorder


def test_staged_segments_leave_staging_as_the_store_takes_them(astra_stand_in, astra_connection, tmp_path) -> None:
    """End to end, staging never grows with the collection and ends empty. The bound itself (a hand-off
    waits for a free slot) is proven by test_the_hand_off_blocks_while_every_slot_is_busy: with a
    local store each hand-off is a quick move, so this run cannot show a missing bound."""
    seed_uuid_collections(astra_stand_in, {"alpha": 600})
    staging = tmp_path / "staging"
    staging.mkdir()
    store = RecordingStore(tmp_path / "store", staging)
    outcome = dump_snapshot(AstraDBHook(retry_policy=FAST).get_conn(), store, SNAPSHOT, DumpOptions(
        staging_dir=str(staging), segment_max_bytes=SMALL_SEGMENTS, uploads_at_once=2, collections_at_once=1))
    assert outcome.manifest.status == "complete"
    assert len(outcome.manifest.collection("alpha").segments) > 10
    assert 1 <= store.recorder.most_staged <= 2 + 1
    assert not list(staging.rglob("part-*")), "every staged segment was handed to the store"


def test_a_failed_hand_off_fails_its_collection_and_lists_exactly_what_was_stored(
        astra_stand_in, astra_connection, tmp_path) -> None:
    seed_uuid_collections(astra_stand_in, {"alpha": 600, "beta": 200})
    staging = tmp_path / "staging"
    staging.mkdir()
    store = RecordingStore(tmp_path / "store", staging, fail_segment="alpha/part-00003.jsonl.gz")
    outcome = dump_snapshot(AstraDBHook(retry_policy=FAST).get_conn(), store, SNAPSHOT, DumpOptions(
        staging_dir=str(staging), segment_max_bytes=SMALL_SEGMENTS, uploads_at_once=2))
    assert outcome.manifest.status == "incomplete" and set(outcome.failures) == {"alpha"}
    alpha = outcome.manifest.collection("alpha")
    assert alpha.status == "failed" and "injected" in alpha.error
    assert "part-00003.jsonl.gz" not in {s.path.rsplit("/", 1)[1] for s in alpha.segments}
    assert alpha.document_count == sum(s.documents for s in alpha.segments), "counts describe the listed files"
    assert outcome.manifest.collection("beta").status == "complete"
    sealed = store.get(SNAPSHOT)
    report = verify(sealed.location, "records", allow_incomplete=True)
    assert report.ok, report.summary()  # every listed file is there and right; nothing unlisted was left behind
    assert sum(1 for _ in open_snapshot(sealed.location, allow_incomplete=True).documents("beta")) == 200
    assert not list(staging.rglob("part-*")), "no staged segment is left behind"


def test_a_scan_that_fails_mid_way_fails_only_its_collection(astra_stand_in, astra_connection, tmp_path) -> None:
    seed_uuid_collections(astra_stand_in, {"alpha": 300, "beta": 300})
    hook = AstraDBHook(retry_policy=RetryPolicy(max_attempts=1)).get_conn()
    hook.list_collections()
    astra_stand_in.faults.configure(server_error_every=9)
    outcome = dump_snapshot(hook, LocalStore(tmp_path), SNAPSHOT, DumpOptions(collections_at_once=1))
    assert outcome.manifest.status == "incomplete" and outcome.failures
    for name in outcome.failures:
        entry = outcome.manifest.collection(name)
        assert entry.status == "failed" and entry.scan is not None, "the manifest says how far the scan got"
    assert verify(outcome.snapshot.location, "records", allow_incomplete=True).ok


def test_a_scan_that_cannot_start_fails_its_collection_in_the_manifest(astra_stand_in, astra_connection,
                                                                       tmp_path, monkeypatch) -> None:
    seed_uuid_collections(astra_stand_in, {"alpha": 30, "beta": 30})
    hook = AstraDBHook().get_conn()
    scan = type(hook).scan

    def refuse_beta(self, name, *args, **kwargs):
        if name == "beta":
            raise ConnectionError("the database went away before the first page")
        return scan(self, name, *args, **kwargs)

    monkeypatch.setattr(type(hook), "scan", refuse_beta)
    outcome = dump_snapshot(hook, LocalStore(tmp_path), SNAPSHOT, DumpOptions(collections_at_once=1))
    assert outcome.manifest.status == "incomplete", "a snapshot missing a collection is never sealed complete"
    assert outcome.manifest.collection("beta").status == "failed"
    assert outcome.manifest.collection("alpha").status != "failed"


def test_the_hand_off_blocks_while_every_slot_is_busy() -> None:
    handoff = FileHandoff(2)
    release = threading.Event()
    busy = [handoff.submit(release.wait) for _ in range(2)]
    third_submitted = threading.Event()

    def submit_third() -> None:
        handoff.submit(lambda: True)
        third_submitted.set()

    submitter = threading.Thread(target=submit_third)
    submitter.start()
    submitter.join(timeout=0.2)  # a correct hand-off stays blocked however long this waits
    assert not third_submitted.is_set(), "a third segment must wait for a free slot"
    release.set()
    submitter.join()
    assert third_submitted.is_set() and all(f.result() for f in busy)
    handoff.shutdown()


def test_an_inline_hand_off_keeps_the_error_in_its_future() -> None:
    future = FileHandoff(0).submit(lambda: 1 / 0)
    assert isinstance(future.exception(), ZeroDivisionError)
    with pytest.raises(ValueError):
        FileHandoff(-1)


def test_a_zstd_snapshot_dumps_verifies_and_restores(astra_stand_in, astra_connection, tmp_path) -> None:
    from airflow_provider_vectorbackup.jobs.restore import RestoreOptions, restore_snapshot

    expected = seed_uuid_collections(astra_stand_in, {"alpha": 250})
    store = LocalStore(tmp_path)
    hook = AstraDBHook(retry_policy=FAST).get_conn()
    outcome = dump_snapshot(hook, store, SNAPSHOT, DumpOptions(compression="zstd", segment_max_bytes=SMALL_SEGMENTS))
    assert outcome.manifest.format_version == 2 and outcome.manifest.settings["compression"] == "zstd"
    assert outcome.manifest.collection("alpha").content_digest == expected["alpha"]
    assert all(s.path.endswith(".jsonl.zst") for s in outcome.manifest.collection("alpha").segments)
    report = restore_snapshot(store, SNAPSHOT, hook, RestoreOptions(target_prefix="back_"))
    assert report["ok"] and report["collections"]["alpha"]["digest_restored"] == expected["alpha"]


def test_a_dump_stopped_from_the_main_thread_stops_its_collections_and_seals_incomplete(
        astra_stand_in, astra_connection, tmp_path) -> None:
    """Airflow stops a task (execution_timeout, SIGTERM) by raising in its main thread: collections running on
    other threads must stop at their next page instead of being waited for to the end."""
    import signal

    seed_uuid_collections(astra_stand_in, {"alpha": 2000, "beta": 2000, "gamma": 2000})
    main = threading.main_thread().ident

    class Stopped(Exception):
        pass

    def on_signal(signum, frame):
        raise Stopped("the task was told to stop")

    previous = signal.signal(signal.SIGUSR1, on_signal)
    sent = threading.Event()

    def after_first_page(progress) -> None:  # runs on a collection thread; the main thread is waiting
        if not sent.is_set():
            sent.set()
            signal.pthread_kill(main, signal.SIGUSR1)

    try:
        with pytest.raises(Stopped):
            dump_snapshot(AstraDBHook(retry_policy=FAST).get_conn(), LocalStore(tmp_path), SNAPSHOT,
                          DumpOptions(collections_at_once=2, scan_streams=2), on_progress=after_first_page)
    finally:
        signal.signal(signal.SIGUSR1, previous)
    sealed = LocalStore(tmp_path).get(SNAPSHOT)
    assert sealed.state.name == "INCOMPLETE"
    manifest = LocalStore(tmp_path).read_manifest(sealed)
    assert "the task was told to stop" in manifest.error
    assert "gamma" not in {c.name for c in manifest.collections}, "a collection not yet started never starts"
    for entry in manifest.collections:
        assert entry.status == "failed" and entry.document_count < 2000, f"{entry.name} was read to the end"
    assert not [t for t in threading.enumerate() if t.name.startswith(("dump", "scan-"))], "no thread left running"


def test_each_collections_progress_counts_its_own_stored_bytes(astra_stand_in, astra_connection, tmp_path) -> None:
    """Two collections dumped at once, their segments stored by one shared hand-off pool: each progress
    line counts only its own collection's files, and the last one reported is exactly what the manifest lists."""
    seed_uuid_collections(astra_stand_in, {"alpha": 500, "beta": 300})
    reported: list[tuple[str, int]] = []
    lock = threading.Lock()

    def on_progress(progress) -> None:  # the same object is updated later: keep the values seen now
        with lock:
            reported.append((progress.what, progress.bytes))

    outcome = dump_snapshot(AstraDBHook(retry_policy=FAST).get_conn(), LocalStore(tmp_path), SNAPSHOT,
                            DumpOptions(segment_max_bytes=SMALL_SEGMENTS, collections_at_once=2, uploads_at_once=2),
                            on_progress=on_progress)
    assert outcome.manifest.status == "complete"
    for name in ("alpha", "beta"):
        entry = outcome.manifest.collection(name)
        stored = sum(f.bytes for f in entry.files)
        assert len(entry.segments) > 3
        seen = [count for what, count in reported if what == name]
        assert seen == sorted(seen) and seen[-1] == stored, f"{name}: its own bytes, up to all of them"
