"""Each side of the engine benchmarks, run in a child process of its own: its time and memory are its alone.

The parent calls :func:`run_child`; the child (``python benchmarks/engines/sides.py SIDE ARGUMENTS_JSON``)
opens the engine through its adapter (``benchmarks/engines/<engine>.py``: ``start`` is not timed), does
its work under ``perf_counter`` and prints one JSON line of figures. Every child also reports its
memory: ``rss_at_start_mib`` once the engine is open (an embedded engine keeps its data in this
process), ``peak_rss_mib`` (``VmHWM``, the whole process) and ``work_peak_rss_mib``, the peak of the
work alone (``VmHWM`` reset after the engine opened, where Linux allows it).
"""

from __future__ import annotations

import collections
import importlib
import inspect
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
if __name__ == "__main__":
    # Run as a script, this folder would come first on sys.path, and its adapter ``pgvector.py``
    # would shadow the ``pgvector`` package our pgvector source imports.
    sys.path[0] = str(REPO)

SNAPSHOT_ID = "20260101T000000Z-engines"
CHILD_TIMEOUT_SECONDS = 4 * 3600
MIB = 1 << 20

SIDES: dict[str, Callable[..., dict[str, Any]]] = {}


class ChildFailed(RuntimeError):
    """A side exited with an error; the message ends with its stderr."""


def run_child(side_name: str, env: dict[str, str], **arguments: Any) -> dict[str, Any]:
    """Run one side in a fresh interpreter and return its figures."""
    result = subprocess.run([sys.executable, __file__, side_name, json.dumps(arguments)], capture_output=True,
                            text=True, env=env, timeout=CHILD_TIMEOUT_SECONDS)
    if result.returncode:
        raise ChildFailed(f"{side_name} exited with {result.returncode}:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def side(function: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    SIDES[function.__name__.replace("_", "-")] = function
    return function


def adapter(engine: str) -> Any:
    return importlib.import_module(f"benchmarks.engines.{engine}")


# -- memory ----------------------------------------------------------------------------------------

def _status_mib(key: str) -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError(f"no {key} in /proc/self/status: memory figures need Linux")


class Memory:
    """The process's resident set once the engine is open, and the peaks of the whole process and of the work."""

    def __init__(self) -> None:
        self.at_start = _status_mib("VmRSS")
        self.peak_before_work = _status_mib("VmHWM")
        try:  # "5" resets VmHWM to the current RSS (Linux >= 4.0): the work's own peak from here
            with open("/proc/self/clear_refs", "w") as clear:
                clear.write("5")
            self.reset = True
        except OSError:
            self.reset = False

    def figures(self) -> dict[str, Any]:
        peak = _status_mib("VmHWM")
        return {"rss_at_start_mib": self.at_start, "peak_rss_mib": max(peak, self.peak_before_work),
                "work_peak_rss_mib": peak if self.reset else None}


# -- opening the engine and our source -------------------------------------------------------------

class Engine:
    """The engine opened by its adapter for the length of a side; ``memory`` is taken once it is open."""

    def __init__(self, engine: str, workdir: str) -> None:
        self.adapter = adapter(engine)
        Path(workdir).mkdir(parents=True, exist_ok=True)
        self.ctx = self.adapter.start(Path(workdir))
        self.memory = Memory()

    def source(self) -> tuple[Any, str]:
        """Our source for the engine, sharing the adapter's client where the source accepts one.

        Embedded engines allow one client per folder per process, and the baselines' client was
        opened before their clock started too.
        """
        from airflow_provider_vectorbackup.sources.registry import engine_for, open_source

        settings = self.adapter.connection(self.ctx)
        client = getattr(self.ctx, "client", None)
        accepts_client = "client" in inspect.signature(engine_for(settings.conn_type).load().from_connection).parameters
        if client is not None and accepts_client:
            return open_source(settings, client=client), "the adapter's client, shared"
        return open_source(settings), "its own client, from the connection"

    def close(self, source: Any = None) -> None:
        if source is not None and hasattr(source, "close"):
            source.close()
        self.adapter.stop(self.ctx)


# -- baselines -------------------------------------------------------------------------------------

class TimedIterator:
    """Wraps the generated records: the time spent making them is taken out of the baseline's time."""

    def __init__(self, items: Iterable[Any]) -> None:
        self._items = iter(items)
        self.seconds = 0.0
        self.count = 0

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        started = time.perf_counter()
        try:
            item = next(self._items)
        finally:
            self.seconds += time.perf_counter() - started
        self.count += 1
        return item


@side
def bulk_insert(engine: str, workdir: str, collection: str, documents: int, dimension: int) -> dict[str, Any]:
    """The engine's documented bulk-insert loop into a fresh collection: the restore baseline, and the seeding."""
    from benchmarks.engines.data import records

    opened = Engine(engine, workdir)
    generated = TimedIterator(records(documents, dimension))
    started = time.perf_counter()
    opened.adapter.bulk_insert(opened.ctx, collection, generated, dimension)
    seconds = time.perf_counter() - started
    opened.close()
    return {"documents": generated.count, "seconds": seconds - generated.seconds,
            "generation_seconds": generated.seconds, **opened.memory.figures()}


@side
def raw_scan(engine: str, workdir: str, collection: str) -> dict[str, Any]:
    """The engine's own full scan, results discarded: the raw read limit."""
    opened = Engine(engine, workdir)
    started = time.perf_counter()
    seen = opened.adapter.raw_scan(opened.ctx, collection)
    seconds = time.perf_counter() - started
    opened.close()
    return {"documents": seen, "seconds": seconds, **opened.memory.figures()}


@side
def naive_export(engine: str, workdir: str, collection: str, out: str) -> dict[str, Any]:
    """The docs' export loop: page through the scan API, json.dumps each record, write through gzip."""
    opened = Engine(engine, workdir)
    started = time.perf_counter()
    written = opened.adapter.naive_export(opened.ctx, collection, Path(out))
    seconds = time.perf_counter() - started
    opened.close()
    return {"documents": written, "seconds": seconds, "output_bytes": os.path.getsize(out),
            **opened.memory.figures()}


# -- ours ------------------------------------------------------------------------------------------

@side
def scan_ours(engine: str, workdir: str, collection: str) -> dict[str, Any]:
    """Our source's scan alone, as the dump runs it (same streams), pages discarded: the dump minus our writer."""
    from airflow_provider_vectorbackup.jobs.dump import DumpOptions

    opened = Engine(engine, workdir)
    source, client = opened.source()
    started = time.perf_counter()
    definition = source.collection_definition(collection)
    scan = source.scan(collection, definition, streams=DumpOptions().scan_streams)
    seen = sum(len(page) for page in scan.pages())
    seconds = time.perf_counter() - started
    record = scan.record.to_dict() if scan.record is not None else {}
    opened.close(source)
    return {"documents": seen, "seconds": seconds, "scan": record, "client": client, **opened.memory.figures()}


@side
def dump_ours(engine: str, workdir: str, collection: str, out: str, profile: bool = False) -> dict[str, Any]:
    """``jobs.dump.dump_snapshot`` of one collection into a ``LocalStore``, default options.

    With ``profile``, a sampler records where the dump's threads are (see :class:`Sampler`); that
    run's time is not the one judged.
    """
    from airflow_provider_vectorbackup.jobs.dump import DumpOptions, dump_snapshot
    from airflow_provider_vectorbackup.stores.local import LocalStore

    opened = Engine(engine, workdir)
    source, client = opened.source()
    sampler = Sampler() if profile else None
    cpu_started, started = os.times(), time.perf_counter()
    if sampler is not None:
        sampler.start()
    outcome = dump_snapshot(source, LocalStore(out), SNAPSHOT_ID, DumpOptions(collections=[collection]))
    seconds = time.perf_counter() - started
    cpu_finished = os.times()
    if sampler is not None:
        sampler.stop()
    opened.close(source)
    if outcome.failures or outcome.manifest.status != "complete":
        raise RuntimeError(f"our dump did not complete: {outcome.manifest.status}, {outcome.failures}")
    entry = next(c for c in json.loads(outcome.manifest.to_json())["collections"] if c["name"] == collection)
    cpu = (cpu_finished.user - cpu_started.user) + (cpu_finished.system - cpu_started.system)
    figures = {"documents": entry["document_count"], "seconds": seconds, "cpu_seconds": cpu,
               "output_bytes": sum(f["bytes"] for f in entry["segments"]), "segments": len(entry["segments"]),
               "scan": entry.get("scan") or {}, "client": client, **opened.memory.figures()}
    if sampler is not None:
        figures["profile"] = sampler.summary()
    return figures


@side
def restore_ours(engine: str, workdir: str, store: str, collection: str, target_prefix: str,
                 chunk_size: int | None = None) -> dict[str, Any]:
    """``jobs.restore.restore_snapshot`` into a new collection, default options (or ``chunk_size``), every check on.

    Phases, timed by wrapping the source's ``insert_documents`` on this instance: ``prepare`` (the
    snapshot verified record by record, the target checked and created), ``insert`` (records read
    from the snapshot and written) and ``validate`` (the target read back for count, content digest
    and exact neighbours, while the engine answers the recall@10 queries).
    """
    from airflow_provider_vectorbackup.jobs.restore import RestoreNotValidated, RestoreOptions, restore_snapshot
    from airflow_provider_vectorbackup.stores.local import LocalStore

    opened = Engine(engine, workdir)
    source, client = opened.source()
    marks: dict[str, float] = {}
    insert = source.insert_documents

    def timed_insert(*args: Any, **kwargs: Any) -> Any:
        marks["insert_started"] = time.perf_counter()
        try:
            return insert(*args, **kwargs)
        finally:
            marks["insert_finished"] = time.perf_counter()

    source.insert_documents = timed_insert
    chosen = {"chunk_size": chunk_size} if chunk_size is not None else {}
    options = RestoreOptions(collections=[collection], target_prefix=target_prefix, **chosen)
    started = time.perf_counter()
    try:
        report, validated = restore_snapshot(LocalStore(store), SNAPSHOT_ID, source, options), True
    except RestoreNotValidated as failed:  # a result to report (e.g. recall under the minimum), not a crash
        report, validated = failed.report, False
    finished = time.perf_counter()
    opened.close(source)
    result = report["collections"][collection]
    return {
        "documents": result["documents_restored"], "seconds": finished - started, "client": client,
        "chunk_size": options.chunk_size, "concurrency": options.concurrency,
        "phases": {"prepare": marks["insert_started"] - started,
                   "insert": marks["insert_finished"] - marks["insert_started"],
                   "validate": finished - marks["insert_finished"]},
        "checks": {"validated": validated, "inserted": result["inserted"],
                   "already_present": result["already_present"], "failures": result["failures"][:3],
                   "digest_matches": result["digest_restored"] == result["digest_expected"],
                   "digest_matches_manifest": result["digest_matches_manifest"],
                   "recall_at_10": result["recall_at_10"], "recall_queries": result["queries"],
                   "min_recall": options.min_recall, "digest_scope": result.get("digest_scope", "exact"),
                   "most_ulps_apart": result.get("most_ulps_apart")},
        **opened.memory.figures(),
    }


# -- where the dump's time goes --------------------------------------------------------------------

IDLE_FILES = ("threading.py", "queue.py", "selectors.py", os.path.join("concurrent", "futures"))
CLIENT_PACKAGES = ("qdrant_client", "chromadb", "pymilvus", "milvus_lite", "grpc", "psycopg", "pgvector")
OURS = "airflow_provider_vectorbackup" + os.sep


class Sampler:
    """Samples every thread's stack every ``interval`` seconds and tallies who each busy sample belongs to.

    A sample whose innermost frame waits (threading, queue, selectors, futures) is idle. Any other
    goes to the nearest frame, innermost first, that is either ours (by sub-package: our engine
    source turning records into the stored form, the snapshot writer encoding, hashing and
    compressing, the dump job) or the engine's client library: so json or zlib called by our
    writer count as the writer, numpy called by the client as the client, and a client blocked in
    a socket read as the client. Only the dump's threads are sampled (the main one and those
    started after the sampler), not the client's own background threads.
    cProfile would see only the thread that started it; the dump works in several.
    """

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.busy: collections.Counter[str] = collections.Counter()
        self.innermost: collections.Counter[str] = collections.Counter()
        self.idle = 0
        self._before: set[int | None] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)

    def start(self) -> None:
        # Threads the engine's client already runs (background pollers and the like) are not the dump's.
        self._before = {t.ident for t in threading.enumerate()} - {threading.main_thread().ident}
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        skipped = self._before | {threading.get_ident()}
        while not self._stop.wait(self.interval):
            for ident, frame in sys._current_frames().items():
                if ident not in skipped:
                    self._tally(frame)

    def _tally(self, frame: Any) -> None:
        code = frame.f_code
        if any(part in code.co_filename for part in IDLE_FILES):
            self.idle += 1
            return
        self.innermost[f"{_short(code.co_filename)}:{code.co_name}"] += 1
        while frame is not None:
            owner = _owner(frame.f_code.co_filename)
            if owner is not None:
                self.busy[owner] += 1
                return
            frame = frame.f_back
        self.busy["other"] += 1

    def summary(self) -> dict[str, Any]:
        total = sum(self.busy.values())
        return {"interval_seconds": self.interval, "busy_samples": total, "idle_samples": self.idle,
                "busy_share": {name: round(count / total, 3) for name, count in self.busy.most_common()} if total else {},
                "top_innermost": [[name, count] for name, count in self.innermost.most_common(12)]}


def _owner(filename: str) -> str | None:
    if OURS in filename:
        inside = filename.split(OURS, 1)[1]
        if inside.startswith("sources" + os.sep):
            return "ours: source (engine reads, stored form)"
        if inside.startswith("snapshot" + os.sep):
            return "ours: snapshot writer (encode, digest, compress, write)"
        return "ours: " + inside.split(os.sep, 1)[0].removesuffix(".py")
    if "site-packages" in filename:
        package = filename.split("site-packages" + os.sep, 1)[1].split(os.sep, 1)[0]
        if package.startswith(CLIENT_PACKAGES):
            return f"engine client ({package})"
    return None


def _short(filename: str) -> str:
    for marker in (OURS, "site-packages" + os.sep):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return os.path.basename(filename)


def main() -> None:
    name, arguments = sys.argv[1], json.loads(sys.argv[2])
    figures = SIDES[name](**arguments)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
