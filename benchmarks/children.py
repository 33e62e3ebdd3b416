"""Each side of each scenario, run in a child process of its own so that its time and peak RSS are its alone.

The parent calls :func:`run_child`. The child (``python benchmarks/children.py SIDE ARGUMENTS_JSON``)
imports only what its side needs, so the baseline never pays for importing Airflow; it times
the work alone (client set-up included, imports excluded) and prints one JSON line of figures
ending with ``peak_rss_mib``, the process's high-water resident set (``VmHWM`` in /proc/self/status).

Our sides reach the stand-ins through Airflow connections ``bench_astra`` and ``bench_box``,
which the parent passes as ``AIRFLOW_CONN_*`` environment variables.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ASTRA_CONN_ID = "bench_astra"
BOX_CONN_ID = "bench_box"
KEYSPACE = "default_keyspace"
BASELINE_RESTORE_BATCH = 1000
CHILD_TIMEOUT_SECONDS = 4 * 3600

SIDES: dict[str, Callable[..., dict[str, Any]]] = {}


class ChildFailed(RuntimeError):
    """A side exited with an error; the message ends with its stderr."""


def run_child(side: str, env: dict[str, str], **arguments: Any) -> dict[str, Any]:
    """Run one side in a fresh interpreter and return its figures."""
    result = subprocess.run([sys.executable, __file__, side, json.dumps(arguments)], capture_output=True, text=True,
                            env=env, timeout=CHILD_TIMEOUT_SECONDS)
    if result.returncode:
        raise ChildFailed(f"{side} exited with {result.returncode}:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def side(function: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    SIDES[function.__name__.replace("_", "-")] = function
    return function


def cpu_seconds() -> float:
    """CPU time (user and system, every thread) this process has used so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError("no VmHWM in /proc/self/status: peak RSS needs Linux")


# -- dump ------------------------------------------------------------------------------------------

@side
def dump_baseline(url: str, token: str, collection: str, out: str) -> dict[str, Any]:
    """The seed article's loop: astrapy's cursor with custom datatypes off, json.dumps, gzip.open(..., "wt")."""
    import base64
    import datetime as dt
    import decimal
    import gzip
    import uuid

    from astrapy import DataAPIClient
    from astrapy.api_options import APIOptions, SerdesOptions

    def envelope(value: Any) -> Any:  # the article's json default: non-JSON values in typed envelopes
        if isinstance(value, dt.datetime):
            return {"$backupType": "datetime", "value": value.isoformat()}
        if isinstance(value, dt.date):
            return {"$backupType": "date", "value": value.isoformat()}
        if isinstance(value, (bytes, bytearray)):
            return {"$backupType": "bytes_b64", "value": base64.b64encode(bytes(value)).decode("ascii")}
        if isinstance(value, decimal.Decimal):
            return {"$backupType": "decimal", "value": str(value)}
        if isinstance(value, uuid.UUID):
            return {"$backupType": "uuid", "value": str(value)}
        if isinstance(value, (set, frozenset)):
            return {"$backupType": "set", "value": sorted(value, key=repr)}
        if hasattr(value, "__iter__") and not isinstance(value, (str, bytes, dict)):
            return list(value)
        raise TypeError(f"refusing to write a lossy backup: cannot serialize {type(value).__name__}")

    started = time.perf_counter()
    options = APIOptions(serdes_options=SerdesOptions(custom_datatypes_in_reading=False,
                                                      unroll_iterables_to_lists=True))
    database = DataAPIClient(environment="other", api_options=options).get_database(url, token=token,
                                                                                    keyspace=KEYSPACE)
    written = 0
    with gzip.open(out, "wt", encoding="utf-8") as handle:
        for document in database.get_collection(collection).find({}, projection={"*": True}):
            handle.write(json.dumps(document, ensure_ascii=False, default=envelope))
            handle.write("\n")
            written += 1
    return {"documents": written, "seconds": time.perf_counter() - started, "output_bytes": os.path.getsize(out),
            "streams": 1}


class StagingWatch:
    """Counts the segment files (``part-*``) in a dump's staging folder, and keeps the maximum.

    It counts at every hand-off of a finished file to the store (the moment a finished segment
    and the next one being written can both be on disk) and, from a thread, every
    ``interval`` seconds in between, so segments piling up while an upload is in flight are
    seen too.
    """

    def __init__(self, folder: Path, interval: float = 0.002) -> None:
        self.folder = folder
        self.interval = interval
        self.maximum = 0
        self.samples = 0
        self.handoffs = 0
        self._lock = threading.Lock()  # counted from the sampler and from the dump's hand-off threads at once
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="staging-watch", daemon=True)

    def count(self, *, handoff: bool = False) -> None:
        present = sum(name.startswith("part-") for _, _, names in os.walk(self.folder) for name in names)
        with self._lock:
            self.maximum = max(self.maximum, present)
            self.handoffs += handoff

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self.count()
            self.samples += 1

    def __enter__(self) -> StagingWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def watching(self, store: Any) -> Any:
        """``store``, with every file it is handed counted first."""
        watch = self

        class Pending:
            def __init__(self, pending: Any) -> None:
                self.pending = pending

            def __getattr__(self, name: str) -> Any:
                return getattr(self.pending, name)

            def put(self, entry: Any, local: Path) -> None:
                watch.count(handoff=True)
                self.pending.put(entry, local)

        class Store:
            def __getattr__(self, name: str) -> Any:
                return getattr(store, name)

            def begin(self, snapshot_id: str) -> Pending:
                return Pending(store.begin(snapshot_id))

        return Store()


@side
def dump_ours(collection: str, snapshot_id: str, out: str | None = None, box_folder: str | None = None,
              staging_dir: str | None = None, segment_max_bytes: int | None = None,
              compression: str = "gzip", scan_mode: str = "auto", deduplicate: bool = False) -> dict[str, Any]:
    """``jobs.dump.dump_snapshot`` into a local folder (``out``) or a Box folder (``box_folder``).

    With ``staging_dir`` the segment files in it are watched (see :class:`StagingWatch`). With
    ``deduplicate`` the snapshot is format 4: its documents go to the store's shared ``data/``, so
    ``output_bytes`` (the snapshot's own segments) is 0 and the caller measures the store instead.
    """
    import contextlib

    from airflow_provider_vectorbackup.hooks.astra import AstraDBHook
    from airflow_provider_vectorbackup.jobs import dump

    started = time.perf_counter()
    if box_folder is not None:
        from airflow_provider_vectorbackup.hooks.box import BoxHook
        from airflow_provider_vectorbackup.stores.box.store import BoxStore

        store: Any = BoxStore.at_path(BoxHook(BOX_CONN_ID).get_conn(), box_folder, create=True)
    else:
        from airflow_provider_vectorbackup.stores.local import LocalStore

        store = LocalStore(out)
    options: dict[str, Any] = {"compression": compression, "scan_mode": scan_mode}
    if deduplicate:  # nothing else uses the store: a lock held elsewhere is an error, not something to wait for
        options.update(deduplicate=True, lock_wait=0)
    if segment_max_bytes is not None:
        options["segment_max_bytes"] = segment_max_bytes
    watch = StagingWatch(Path(staging_dir)) if staging_dir is not None else None
    if watch is not None:
        options["staging_dir"] = staging_dir
        store = watch.watching(store)
    with watch if watch is not None else contextlib.nullcontext():
        outcome = dump.dump_snapshot(AstraDBHook(ASTRA_CONN_ID).get_conn(), store, snapshot_id,
                                     dump.DumpOptions(collections=[collection], **options))
    seconds = time.perf_counter() - started
    if outcome.failures or outcome.manifest.status != "complete":
        raise RuntimeError(f"our dump did not complete: {outcome.manifest.status}, {outcome.failures}")
    # Read through the manifest's JSON, not its dataclass, so that fields newer than this
    # harness (the per-collection "scan" record) are seen whenever the writer records them.
    entry = next(c for c in json.loads(outcome.manifest.to_json())["collections"] if c["name"] == collection)
    scan = entry.get("scan") or {}
    figures = {"documents": entry["document_count"], "seconds": seconds,
               "output_bytes": sum(f["bytes"] for f in entry["segments"]),
               "segments": len(entry["segments"]), "streams": int(scan.get("streams") or 1), "scan": scan,
               "content_digest": entry["content_digest"], "format_version": outcome.manifest.format_version}
    if watch is not None:
        figures["staging"] = {"max_segments": watch.maximum, "handoffs": watch.handoffs, "samples": watch.samples}
        figures["uploads_at_once"] = dump.DumpOptions().uploads_at_once  # finished files handed to the store at once
    return figures


# -- restore ---------------------------------------------------------------------------------------

@side
def restore_baseline(url: str, token: str, source: str, target: str, definition: dict[str, Any]) -> dict[str, Any]:
    """The baseline's JSONL.gz read line by line, inserted with astrapy's defaults in batches of 1,000."""
    import gzip

    from astrapy import DataAPIClient
    from astrapy.info import CollectionDefinition
    from astrapy.settings.defaults import DEFAULT_INSERT_MANY_CHUNK_SIZE, DEFAULT_INSERT_MANY_CONCURRENCY

    started, cpu_started = time.perf_counter(), cpu_seconds()
    database = DataAPIClient(environment="other").get_database(url, token=token, keyspace=KEYSPACE)
    collection = database.create_collection(target, definition=CollectionDefinition.coerce(definition))
    inserted, batch = 0, []
    with gzip.open(source, "rt", encoding="utf-8") as handle:
        for line in handle:
            batch.append(json.loads(line))
            if len(batch) == BASELINE_RESTORE_BATCH:
                inserted += len(collection.insert_many(batch).inserted_ids)
                batch = []
    if batch:
        inserted += len(collection.insert_many(batch).inserted_ids)
    return {"documents": inserted, "seconds": time.perf_counter() - started,
            "cpu_seconds": cpu_seconds() - cpu_started, "streams": DEFAULT_INSERT_MANY_CONCURRENCY,
            "documents_per_request": DEFAULT_INSERT_MANY_CHUNK_SIZE}


@side
def restore_ours(store: str, snapshot_id: str, collection: str, target_prefix: str) -> dict[str, Any]:
    """``jobs.restore.restore_snapshot`` with its default options and every post-restore check on.

    The phases are the restore report's own: ``prepare`` (snapshot verified record by record, target
    checked and created), ``write`` (records read from the snapshot and inserted) and ``validate``
    (the whole target read back for its count, content digest and exact neighbours, while the store
    answers the recall@10 queries).
    """
    from airflow_provider_vectorbackup.hooks.astra import AstraDBHook
    from airflow_provider_vectorbackup.jobs.restore import RestoreOptions, restore_snapshot
    from airflow_provider_vectorbackup.stores.local import LocalStore

    hook = AstraDBHook(ASTRA_CONN_ID).get_conn()
    options = RestoreOptions(collections=[collection], target_prefix=target_prefix)
    started, cpu_started = time.perf_counter(), cpu_seconds()
    report = restore_snapshot(LocalStore(store), snapshot_id, hook, options)
    finished, cpu_finished = time.perf_counter(), cpu_seconds()
    result = report["collections"][collection]
    return {
        "documents": result["documents_restored"], "seconds": finished - started,
        "cpu_seconds": cpu_finished - cpu_started,
        "streams": options.concurrency, "documents_per_request": options.chunk_size,
        "phases": report["phases"],
        "scan": result["scan"],
        "checks": {"snapshot_verified": "records", "documents_restored": result["documents_restored"],
                   "digest_matches": result["digest_restored"] == result["digest_expected"],
                   "digest_matches_manifest": result["digest_matches_manifest"],
                   "recall_at_10": result["recall_at_10"], "recall_queries": result["queries"],
                   "min_recall": options.min_recall},
    }


# -- one collection over mapped tasks (issue 18) ------------------------------------------------------
# Each step is its own process, as each Airflow task is; the plan and the results travel as JSON files
# (XCom's part). The parent runs the slice steps at once, as parallel workers would.

@side
def scale_out_plan(collection: str, snapshot_id: str, out: str, slices: int, scan_mode: str,
                   plan_file: str) -> dict[str, Any]:
    """``jobs.scale_out.plan_snapshot`` with ``slices_per_collection``: begins the snapshot, splits the collection."""
    from airflow_provider_vectorbackup.hooks.astra import AstraDBHook
    from airflow_provider_vectorbackup.jobs.dump import DumpOptions
    from airflow_provider_vectorbackup.jobs.scale_out import plan_snapshot
    from airflow_provider_vectorbackup.stores.local import LocalStore

    started = time.perf_counter()
    plan = plan_snapshot(AstraDBHook(ASTRA_CONN_ID).get_conn(), LocalStore(out), snapshot_id,
                         DumpOptions(collections=[collection], scan_mode=scan_mode), slices_per_collection=slices)
    Path(plan_file).write_text(json.dumps(plan.to_dict()))
    return {"seconds": time.perf_counter() - started, "work_items": plan.work_items,
            "partitions": sum(len(group) for group in plan.slices.get(collection, []))}


@side
def scale_out_slice(out: str, plan_file: str, item: str, scan_mode: str, result_file: str) -> dict[str, Any]:
    """``jobs.scale_out.dump_work_item`` for one slice, as one mapped task."""
    from airflow_provider_vectorbackup.hooks.astra import AstraDBHook
    from airflow_provider_vectorbackup.jobs.dump import DumpOptions
    from airflow_provider_vectorbackup.jobs.scale_out import SnapshotPlan, dump_work_item
    from airflow_provider_vectorbackup.stores.local import LocalStore

    started = time.perf_counter()
    plan = SnapshotPlan.from_dict(json.loads(Path(plan_file).read_text()))
    outcome = dump_work_item(AstraDBHook(ASTRA_CONN_ID).get_conn(), LocalStore(out), plan, item,
                             DumpOptions(scan_mode=scan_mode))
    if outcome.error is not None:
        raise RuntimeError(f"slice {item} failed: {outcome.error!r}")
    Path(result_file).write_text(json.dumps(outcome.result))
    entry = outcome.entry
    return {"seconds": time.perf_counter() - started, "documents": entry.document_count,
            "segments": len(entry.segments), "streams": DumpOptions().scan_streams}


@side
def scale_out_commit(out: str, plan_file: str, result_files: list[str]) -> dict[str, Any]:
    """``jobs.scale_out.commit_snapshot``: joins the slices and seals the snapshot."""
    from airflow_provider_vectorbackup.jobs.dump import DumpOptions
    from airflow_provider_vectorbackup.jobs.scale_out import SnapshotPlan, commit_snapshot
    from airflow_provider_vectorbackup.stores.local import LocalStore

    started = time.perf_counter()
    plan = SnapshotPlan.from_dict(json.loads(Path(plan_file).read_text()))
    results = [json.loads(Path(f).read_text()) for f in result_files]
    outcome = commit_snapshot(LocalStore(out), plan, results, DumpOptions())
    if outcome.failures or outcome.manifest.status != "complete":
        raise RuntimeError(f"the commit did not seal a complete snapshot: {outcome.failures}")
    entry = outcome.manifest.collections[0]
    return {"seconds": time.perf_counter() - started, "documents": entry.document_count,
            "content_digest": entry.content_digest, "output_bytes": sum(f.bytes for f in entry.segments)}


@side
def restore_plan(store: str, snapshot_id: str, collection: str, target_prefix: str, slices: int,
                 plan_file: str) -> dict[str, Any]:
    """``jobs.restore_scale_out.plan_restore``: verifies the snapshot record by record, creates the target."""
    from airflow_provider_vectorbackup.hooks.astra import AstraDBHook
    from airflow_provider_vectorbackup.jobs.restore import RestoreOptions
    from airflow_provider_vectorbackup.jobs.restore_scale_out import plan_restore
    from airflow_provider_vectorbackup.stores.local import LocalStore

    started = time.perf_counter()
    plan = plan_restore(LocalStore(store), snapshot_id, AstraDBHook(ASTRA_CONN_ID).get_conn(),
                        RestoreOptions(collections=[collection], target_prefix=target_prefix),
                        slices_per_collection=slices)
    Path(plan_file).write_text(json.dumps(plan.to_dict()))
    return {"seconds": time.perf_counter() - started, "work_items": plan.work_items}


@side
def restore_slice(store: str, plan_file: str, item: str, result_file: str) -> dict[str, Any]:
    """``jobs.restore_scale_out.restore_slice``: inserts one slice's segments, as one mapped task."""
    from airflow_provider_vectorbackup.hooks.astra import AstraDBHook
    from airflow_provider_vectorbackup.jobs.restore import RestoreOptions
    from airflow_provider_vectorbackup.jobs.restore_scale_out import RestorePlan, restore_slice as restore_one
    from airflow_provider_vectorbackup.stores.local import LocalStore

    started = time.perf_counter()
    plan = RestorePlan.from_dict(json.loads(Path(plan_file).read_text()))
    report = restore_one(LocalStore(store), plan, item, AstraDBHook(ASTRA_CONN_ID).get_conn(), RestoreOptions())
    if not report["ok"]:
        raise RuntimeError(f"slice {item} failed: {report['failures'][:3]}")
    Path(result_file).write_text(json.dumps(report))
    return {"seconds": time.perf_counter() - started, "documents": report["documents"],
            "streams": RestoreOptions().concurrency}


@side
def restore_commit(store: str, plan_file: str, result_files: list[str]) -> dict[str, Any]:
    """``jobs.restore_scale_out.commit_restore``: reconciles the slices and validates the target."""
    from airflow_provider_vectorbackup.hooks.astra import AstraDBHook
    from airflow_provider_vectorbackup.jobs.restore_scale_out import RestorePlan, commit_restore
    from airflow_provider_vectorbackup.stores.local import LocalStore

    started = time.perf_counter()
    plan = RestorePlan.from_dict(json.loads(Path(plan_file).read_text()))
    reports = [json.loads(Path(f).read_text()) for f in result_files]
    summary = commit_restore(LocalStore(store), plan, reports, AstraDBHook(ASTRA_CONN_ID).get_conn())
    result = next(iter(summary["collections"].values()))
    return {"seconds": time.perf_counter() - started, "documents": result["documents_restored"],
            "recall_at_10": result["recall_at_10"], "validated": result["validated"]}


# -- upload ----------------------------------------------------------------------------------------

@side
def upload_baseline(box: dict[str, str], path: str, name: str) -> dict[str, Any]:
    """boxsdk's ``chunked_uploads.upload_big_file`` into the root folder."""
    from box_sdk_gen import BaseUrls, BoxCCGAuth, BoxClient, CCGConfig, NetworkSession

    started, cpu = time.perf_counter(), time.process_time()
    auth = BoxCCGAuth(CCGConfig(box["client_id"], box["client_secret"], enterprise_id=box["enterprise_id"]))
    urls = BaseUrls(base_url=box["base_url"], upload_url=box["upload_url"], oauth_2_url=box["oauth2_url"])
    client = BoxClient(auth, network_session=NetworkSession(base_urls=urls))
    size = os.path.getsize(path)
    with open(path, "rb") as stream:
        file = client.chunked_uploads.upload_big_file(stream, name, size, "0")
    return {"bytes": size, "seconds": time.perf_counter() - started, "cpu_seconds": time.process_time() - cpu,
            "sha1": file.sha_1, "streams": 1}


@side
def upload_ours(path: str, name: str, chunk_threshold: int, sha1: str | None = None) -> dict[str, Any]:
    """``BoxApi.upload``: its own chunked upload with parts in parallel, computing the file's SHA-1 from the
    parts it reads unless ``sha1`` is handed over (as the snapshot writer does)."""
    from airflow_provider_vectorbackup.hooks.connections import connection_settings
    from airflow_provider_vectorbackup.stores.box.client import BoxApi

    # Looked up before the clock starts, as the baseline's connection is: the lookup imports Airflow (seconds).
    api = BoxApi.from_connection(connection_settings(BOX_CONN_ID), chunk_threshold=chunk_threshold)
    started, cpu = time.perf_counter(), time.process_time()
    item = api.upload(path, "0", name, sha1=sha1)
    return {"bytes": os.path.getsize(path), "seconds": time.perf_counter() - started,
            "cpu_seconds": time.process_time() - cpu, "sha1": item.sha1, "streams": api.upload_concurrency}


# -- S3 upload -------------------------------------------------------------------------------------

def s3_filesystem(s3: dict[str, str]) -> Any:
    """An ``s3fs.S3FileSystem`` on the server (the class Airflow's ``ObjectStoragePath`` yields for ``s3://``),
    with its session opened, so that neither side's clock includes setting the client up; every S3 request it
    makes is counted by operation in ``fs.requests``."""
    import collections

    import s3fs

    fs = s3fs.S3FileSystem(key=s3["access_key"], secret=s3["secret_key"], endpoint_url=s3["endpoint_url"],
                           client_kwargs={"region_name": s3["region"]}, skip_instance_cache=True)
    fs.connect()
    fs.requests = collections.Counter()
    call = fs._call_s3

    async def counted(method: str, *args: Any, **kwargs: Any) -> Any:
        fs.requests[method] += 1
        return await call(method, *args, **kwargs)

    fs._call_s3 = counted
    return fs


@side
def s3_upload_baseline(s3: dict[str, str], path: str, key: str) -> dict[str, Any]:
    """s3fs's own ``put_file``: what a user of ``ObjectStoragePath`` gets by default (its chunk size, its
    concurrency, botocore's default request checksums)."""
    fs = s3_filesystem(s3)
    started, cpu = time.perf_counter(), time.process_time()
    fs.put_file(path, key)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {"bytes": os.path.getsize(path), "seconds": seconds, "cpu_seconds": cpu, "requests": dict(fs.requests),
            "streams": fs.max_concurrency}


@side
def s3_upload_ours(s3: dict[str, str], path: str, key: str, sha256: str, part_size: int,
                   upload_streams: int) -> dict[str, Any]:
    """``S3Access.upload``: parts of ``part_size`` with their SHA-256, ``upload_streams`` at a time, each
    acknowledged checksum compared, then a HEAD for the stored checksum and size. ``sha256`` is the file's, as
    the snapshot writer hands it over (computed while the file was written, so not timed here)."""
    from airflow_provider_vectorbackup.stores.object.s3 import S3Access

    fs = s3_filesystem(s3)
    access = S3Access(fs, part_size=part_size, upload_streams=upload_streams)
    size = os.path.getsize(path)
    started, cpu = time.perf_counter(), time.process_time()
    access.upload(Path(path), key, sha256=sha256, size=size, locked=False)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {"bytes": size, "seconds": seconds, "cpu_seconds": cpu, "requests": dict(fs.requests), "streams": upload_streams}


def main() -> None:
    name, arguments = sys.argv[1], json.loads(sys.argv[2])
    figures = SIDES[name](**arguments)
    figures["peak_rss_mib"] = peak_rss_mib()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
