"""The scenarios of issue 7: each starts its stand-ins, seeds them, runs its sides and judges its targets.

Every scenario returns the same shape: ``settings``, ``sides`` (the figures of each side),
``headline`` (the two numbers the table and the chart compare), ``targets`` (each with
``pass``) and ``notes`` (what a reader needs to interpret the figures).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import datetime as dt
import hashlib
import importlib.metadata
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from children import ASTRA_CONN_ID, BOX_CONN_ID, run_child, s3_filesystem
from data import COLLECTION, churn, definition, random_file, seed_collection
from report import headline, round_or_none, target

from airflow_provider_vectorbackup.testing.astra import AstraStandIn
from airflow_provider_vectorbackup.testing.box.standin import BoxStandIn
from airflow_provider_vectorbackup.testing.faults import FaultPlan
from airflow_provider_vectorbackup.testing.sample_data import KEYSPACE

MB = 1_000_000
MIB = 1 << 20
BOX_CHUNK_MINIMUM = 20 * MIB
SNAPSHOT_ID = "20260101T000000Z-bench"
BOX_UNTHROTTLED = {"max_uploads_per_minute": 0, "max_requests_per_minute": 0}
"""The stand-in has no rate limits and the baseline no throttle: ours' Box-safe pacing is switched off too."""


class ScenarioFailed(RuntimeError):
    """The sides did not do the same work (e.g. different document counts): the figures would not compare."""


@dataclass(frozen=True)
class Workspace:
    """Scratch space of one scenario and the environment its children start from."""

    folder: Path
    env: dict[str, str]

    def child_env(self, astra: AstraStandIn | None = None, box: BoxStandIn | None = None) -> dict[str, str]:
        """The children's environment, with Airflow connections to the stand-ins given."""
        env = dict(self.env)
        if astra is not None:
            env[f"AIRFLOW_CONN_{ASTRA_CONN_ID.upper()}"] = json.dumps({
                "conn_type": "astra_db", "host": astra.url, "password": astra.token,
                "extra": {"keyspace": KEYSPACE, "environment": "other"}})
        if box is not None:
            env[f"AIRFLOW_CONN_{BOX_CONN_ID.upper()}"] = json.dumps({
                "conn_type": "box", "login": box.client_id, "password": box.client_secret,
                "extra": {"enterprise_id": box.enterprise_id, "base_url": box.url, "upload_url": box.upload_url,
                          "oauth2_url": box.oauth2_url, **BOX_UNTHROTTLED}})
        return env


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    settings: dict[str, Any]
    """Full-size defaults: the sizes of the issue's targets."""
    quick: dict[str, Any]
    """Tiny sizes for smoke checks (``--quick``)."""
    run: Callable[[Workspace, dict[str, Any]], dict[str, Any]]


# -- figures ---------------------------------------------------------------------------------------

def wire_limit(streams: int, per_request: float, latency_ms: float) -> float | None:
    """streams x (documents or bytes per request) / round trip, with the injected latency as the round trip.

    ``None`` without injected latency: the wire then sets no limit worth quoting.
    """
    return streams * per_request / (latency_ms / 1000) if latency_ms else None


def _ratio(ours: float, baseline: float) -> float | None:
    return ours / baseline if baseline else None


def _add_document_rates(figures: dict[str, Any], payload_bytes: int, per_request: int, latency_ms: float) -> None:
    """Add docs/s, payload MB/s and the share of the wire limit to a side's own figures."""
    seconds = figures["seconds"]
    rate = figures["documents"] / seconds
    limit = wire_limit(figures["streams"], per_request, latency_ms)
    figures.update(seconds=round(seconds, 3), docs_per_second=round(rate, 1),
                   mb_per_second=round(payload_bytes / MB / seconds, 3), wire_limit_docs_per_second=round_or_none(limit, 1),
                   wire_fraction=round_or_none(rate / limit if limit else None, 4))


def _add_output(figures: dict[str, Any]) -> None:
    figures["output_mb"] = round(figures.pop("output_bytes") / MB, 3)
    figures["output_mb_per_second"] = round(figures["output_mb"] / figures["seconds"], 3)


def _same_documents(expected: int, sides: dict[str, dict[str, Any]]) -> None:
    counts = {name: figures["documents"] for name, figures in sides.items()}
    if any(count != expected for count in counts.values()):
        raise ScenarioFailed(f"expected {expected} documents on every side, got {counts}")


def _versus(unit: str, sides: dict[str, dict[str, Any]], key: str, limit_key: str) -> dict[str, Any]:
    """Baseline against ours, with each side's wire limit."""
    values = [sides["baseline"][key], sides["ours"][key]]
    return headline(unit, ["baseline", "ours"], values, ratio=_ratio(values[1], values[0]),
                    limits=[sides["baseline"][limit_key], sides["ours"][limit_key]])


# -- dump ------------------------------------------------------------------------------------------

def _dump(workspace: Workspace, settings: dict[str, Any]) -> dict[str, Any]:
    """Both dumps of the same seeded collection, with their figures."""
    with AstraStandIn(page_size=settings["page_size"], faults=FaultPlan(latency_ms=settings["latency_ms"])) as astra:
        payload = seed_collection(astra, settings["documents"], settings["dimension"])
        env = workspace.child_env(astra)
        baseline = run_child("dump-baseline", env, url=astra.url, token=astra.token, collection=COLLECTION,
                             out=str(workspace.folder / "baseline.jsonl.gz"))
        ours = run_child("dump-ours", env, collection=COLLECTION, snapshot_id=SNAPSHOT_ID,
                         out=str(workspace.folder / "store"), compression=settings.get("compression", "gzip"))
    sides = {"baseline": baseline, "ours": ours}
    _same_documents(settings["documents"], sides)
    for figures in sides.values():
        _add_document_rates(figures, payload, settings["page_size"], settings["latency_ms"])
        _add_output(figures)
    return {"settings": settings, "payload_mb": round(payload / MB, 3), "sides": sides,
            "headline": _versus("docs/s", sides, "docs_per_second", "wire_limit_docs_per_second")}


def dump_latency(workspace: Workspace, settings: dict[str, Any]) -> dict[str, Any]:
    result = _dump(workspace, settings)
    ours = result["sides"]["ours"]
    result["targets"] = [
        target("ours / baseline docs/s", ">= 8x", result["headline"]["ratio"], ">=", 8),
        target(f"ours' share of the wire limit of its {ours['streams']} stream(s)", ">= 50% of wire",
               ours["wire_fraction"], ">=", 0.5)]
    result["notes"] = [_streams_note(ours)]
    return result


def dump_cpu(workspace: Workspace, settings: dict[str, Any]) -> dict[str, Any]:
    result = _dump(workspace, settings)
    result["targets"] = [target("ours / baseline docs/s", ">= 3x", result["headline"]["ratio"], ">=", 3)]
    result["notes"] = [_streams_note(result["sides"]["ours"])]
    return result


def dump_cpu_zstd(workspace: Workspace, settings: dict[str, Any]) -> dict[str, Any]:
    """The CPU-bound dump again with ours writing zstd segments (the opt-in ``zstd`` extra); no target."""
    result = _dump(workspace, {**settings, "compression": "zstd"})
    result["targets"] = []
    result["notes"] = ["ours with compression='zstd' (format version 2, needs the zstd extra); the default is gzip "
                       "level 1, judged in dump-cpu", _streams_note(result["sides"]["ours"])]
    return result


def _streams_note(ours: dict[str, Any]) -> str:
    scan = ours["scan"]
    if scan:
        return (f"ours scanned with {ours['streams']} stream(s), as its manifest records (mode "
                f"{scan.get('mode')!r}: {scan.get('reason')})")
    return "ours' manifest records no 'scan': counted as 1 stream"


# -- restore ---------------------------------------------------------------------------------------

def restore(workspace: Workspace, settings: dict[str, Any]) -> dict[str, Any]:
    """Each side restores its own dump of the same collection into a fresh collection.

    The dumps are made first without injected latency and are not part of the figures.
    """
    baseline_target, ours_prefix = f"{COLLECTION}_baseline_restore", "restored_"
    with AstraStandIn(page_size=settings["page_size"]) as astra:
        payload = seed_collection(astra, settings["documents"], settings["dimension"])
        env = workspace.child_env(astra)
        source, store = workspace.folder / "baseline.jsonl.gz", workspace.folder / "store"
        run_child("dump-baseline", env, url=astra.url, token=astra.token, collection=COLLECTION, out=str(source))
        run_child("dump-ours", env, collection=COLLECTION, snapshot_id=SNAPSHOT_ID, out=str(store))
        astra.faults.configure(latency_ms=settings["latency_ms"])
        baseline = _with_server_cpu(lambda: run_child(
            "restore-baseline", env, url=astra.url, token=astra.token, source=str(source), target=baseline_target,
            definition=definition(settings["dimension"])))
        ours = _with_server_cpu(lambda: run_child(
            "restore-ours", env, store=str(store), snapshot_id=SNAPSHOT_ID, collection=COLLECTION,
            target_prefix=ours_prefix))
        astra.faults.configure(latency_ms=0)
        original = _contents(astra, COLLECTION)
        identical = {"baseline": _contents(astra, baseline_target) == original,
                     "ours": _contents(astra, ours_prefix + COLLECTION) == original}
    sides = {"baseline": baseline, "ours": ours}
    _same_documents(settings["documents"], sides)
    for name, figures in sides.items():
        _add_document_rates(figures, payload, figures["documents_per_request"], settings["latency_ms"])
        figures["identical_to_source"] = identical[name]
    phases = ours["phases"] = {phase: round(seconds, 3) for phase, seconds in ours["phases"].items()}
    # Until every document is written (ours' checks before writing included, its checks after excluded):
    # the point at which the baseline is done.
    ours["written_docs_per_second"] = round(ours["documents"] / (phases["prepare"] + phases["write"]), 1)
    summary = _versus("docs/s", sides, "docs_per_second", "wire_limit_docs_per_second")
    written_ratio = _ratio(ours["written_docs_per_second"], sides["baseline"]["docs_per_second"])
    checks = ours["checks"]
    return {
        "settings": settings, "payload_mb": round(payload / MB, 3), "sides": sides, "headline": summary,
        "ratio_until_written": round_or_none(written_ratio),
        "targets": [
            target("ours / baseline docs/s, end to end with every check", ">= 3x", summary["ratio"], ">=", 3),
            target("the same until every document is written (ours' post-restore checks excluded)",
                   ">= 3x until written", written_ratio, ">=", 3)],
        "notes": [
            "the baseline only inserts; ours also verifies the snapshot record by record before writing, then "
            "reads the whole target back (count and content digest) and measures vector-search recall@10 over "
            f"{checks['recall_queries']} queries (got {checks['recall_at_10']}, needs {checks['min_recall']})",
            f"ours' phases in seconds: {phases}; until every document is written (prepare + insert) it runs at "
            f"{ours['written_docs_per_second']} docs/s, {round_or_none(written_ratio)}x the baseline",
            "CPU seconds (client / stand-in): " + "; ".join(
                f"{name} {figures['cpu_seconds']:.1f} / {figures['server_cpu_seconds']:.1f}, so at least "
                f"{_cpu_floor(figures):.1f} s on {os.cpu_count()} cores (took {figures['seconds']:.1f} s)"
                for name, figures in sides.items()),
            f"requests in flight x documents per insertMany: baseline {sides['baseline']['streams']} x "
            f"{sides['baseline']['documents_per_request']} (astrapy's defaults), ours {ours['streams']} x "
            f"{ours['documents_per_request']} (RestoreOptions' defaults; it backs off on HTTP 429)",
        ],
    }


def _with_server_cpu(run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run one side and add the CPU seconds this process (the stand-in's threads) spent serving it."""
    before = time.process_time()
    figures = run()
    figures["server_cpu_seconds"] = time.process_time() - before
    return figures


def _cpu_floor(figures: dict[str, Any]) -> float:
    """The least wall time the CPU work of both processes allows on this machine's cores (a true lower bound;
    with the GIL, each process's Python runs on one core at a time, so the real floor is higher)."""
    return (figures["cpu_seconds"] + figures["server_cpu_seconds"]) / (os.cpu_count() or 1)


def _contents(astra: AstraStandIn, name: str) -> dict[str, str]:
    """A collection's documents by ``_id``, each as canonical JSON."""
    return {json.dumps(doc["_id"]): json.dumps(doc, sort_keys=True) for doc in astra.dump_collection(KEYSPACE, name)}


# -- upload ----------------------------------------------------------------------------------------

def upload(workspace: Workspace, settings: dict[str, Any]) -> dict[str, Any]:
    size, part_size = int(settings["megabytes"] * MB), int(settings["part_mib"] * MIB)
    path = workspace.folder / "upload.bin"
    sha1 = random_file(path, size)
    # Box accepts upload sessions from 20 MiB; smaller (--quick) files get a stand-in that
    # accepts them, and ours is told to use its chunked path for them too.
    chunk_minimum = min(BOX_CHUNK_MINIMUM, size)
    with BoxStandIn(part_size=part_size, chunk_minimum=chunk_minimum,
                    faults=FaultPlan(latency_ms=settings["latency_ms"])) as box:
        env = workspace.child_env(box=box)
        account = {"client_id": box.client_id, "client_secret": box.client_secret,
                   "enterprise_id": box.enterprise_id, "base_url": box.url, "upload_url": box.upload_url,
                   "oauth2_url": box.oauth2_url}
        # The stand-in serves from this process's threads, and this process does nothing else
        # while a child runs: its CPU time over a run is the stand-in's.
        sides: dict[str, dict[str, Any]] = {}
        for name, child, arguments in (
                ("baseline", "upload-baseline", {"box": account, "name": "baseline.bin"}),
                ("ours", "upload-ours", {"name": "ours.bin", "chunk_threshold": chunk_minimum}),
                ("ours_known_sha1", "upload-ours", {"name": "ours-known.bin", "chunk_threshold": chunk_minimum,
                                                    "sha1": sha1})):
            server_before = time.process_time()
            sides[name] = run_child(child, env, path=str(path), **arguments)
            sides[name]["server_cpu_seconds"] = round(time.process_time() - server_before, 3)
        parts = box.request_counts.get("upload_part")
    path.unlink()
    ours = sides["ours"]
    wrong = {name: figures["sha1"] for name, figures in sides.items() if figures["sha1"] != sha1}
    if wrong:
        raise ScenarioFailed(f"uploaded SHA-1 differs from the file's {sha1}: {wrong}")
    for figures in sides.values():
        seconds = figures["seconds"]
        limit = wire_limit(figures["streams"], part_size / MB, settings["latency_ms"])
        rate = figures["bytes"] / MB / seconds
        figures.update(seconds=round(seconds, 3), cpu_seconds=round(figures["cpu_seconds"], 3),
                       mb_per_second=round(rate, 3), wire_limit_mb_per_second=round_or_none(limit),
                       wire_fraction=round_or_none(rate / limit if limit else None, 4))
    summary = _versus("MB/s", sides, "mb_per_second", "wire_limit_mb_per_second")
    sha1_rate, sha1_two = sha1_mb_per_second(), sha1_mb_per_second(threads=2)
    return {
        "settings": settings, "sides": sides, "headline": summary, "sha1_mb_per_second_one_thread": sha1_rate,
        "sha1_mb_per_second_two_threads": sha1_two,
        "targets": [target("ours / baseline MB/s", ">= 3x", summary["ratio"], ">=", 3)],
        "notes": [f"{size:,} random bytes in parts of {part_size:,} bytes; the stand-in received {parts} part uploads "
                  f"in all; ours sends {ours['streams']} parts at a time, the baseline one",
                  "both times include computing the file's SHA-1 and fetching a token; ours' Box rate limits "
                  f"(connection extras) are off: {BOX_UNTHROTTLED}",
                  "CPU seconds (client / stand-in) against wall seconds: " + "; ".join(
                      f"{name} {figures['cpu_seconds']} / {figures['server_cpu_seconds']} in {figures['seconds']}"
                      for name, figures in sides.items()),
                  f"SHA-1 here: {sha1_rate} MB/s on one thread, {sha1_two} MB/s on two at once; each side hashes "
                  "every byte twice on the "
                  "client (part digest, file digest) and the stand-in twice more (part check, commit check), all on "
                  "the same 2 cores",
                  f"not in the headline: ours with the file's SHA-1 handed over, as the snapshot writer does (one "
                  f"hash pass on the client): {sides['ours_known_sha1']['mb_per_second']} MB/s"],
    }


def sha1_mb_per_second(threads: int = 1, seconds: float = 0.3) -> float:
    """SHA-1 throughput here over 8 MiB buffers (the part size), of ``threads`` threads hashing at once (hashlib
    lets go of the GIL), for the upload's CPU ceiling: two threads show how much of a second core there is."""
    block, hashed, lock = os.urandom(8 * MIB), [0], threading.Lock()
    started = time.perf_counter()

    def hash_until_time_is_up() -> None:
        while time.perf_counter() - started < seconds:
            hashlib.sha1(block).digest()
            with lock:
                hashed[0] += len(block)

    workers = [threading.Thread(target=hash_until_time_is_up) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return round(hashed[0] / MB / (time.perf_counter() - started), 1)


# -- memory ----------------------------------------------------------------------------------------

def memory(workspace: Workspace, settings: dict[str, Any]) -> dict[str, Any]:
    """Ours only: the same dump at two collection sizes, each in a fresh stand-in."""
    sides: dict[str, dict[str, Any]] = {}
    latency = FaultPlan(latency_ms=settings["latency_ms"])
    for label in ("small", "large"):
        count = settings[f"{label}_documents"]
        with AstraStandIn(page_size=settings["page_size"], faults=latency) as astra:
            payload = seed_collection(astra, count, settings["dimension"])
            store = workspace.folder / f"store-{label}"
            figures = run_child("dump-ours", workspace.child_env(astra), collection=COLLECTION,
                                snapshot_id=SNAPSHOT_ID, out=str(store))
        shutil.rmtree(store)
        _same_documents(count, {label: figures})
        _add_document_rates(figures, payload, settings["page_size"], settings["latency_ms"])
        _add_output(figures)
        sides[label] = figures
    small, large = sides["small"]["peak_rss_mib"], sides["large"]["peak_rss_mib"]
    ratio = _ratio(large, small)
    labels = [f"{settings['small_documents']:,} docs", f"{settings['large_documents']:,} docs"]
    return {
        "settings": settings, "sides": sides,
        "headline": headline("peak RSS MiB", labels, [small, large], ratio=ratio, higher_is_better=False,
                             limits=[None, round(1.25 * small, 1)], limit_label="target"),
        "targets": [target("peak RSS, large / small dump", "<= 1.25x", ratio, "<=", 1.25)],
        "notes": ["peak RSS includes importing Airflow and the provider, the same in both runs"],
    }


# -- staging ---------------------------------------------------------------------------------------

def staging(workspace: Workspace, settings: dict[str, Any]) -> dict[str, Any]:
    """Ours only: the most segment files in the dump's local staging folder at any one time.

    The dump goes to Box (a store whose hand-off is an upload, so finished segments can wait on
    disk) or to a local folder, in small segments so that there are many; see children.StagingWatch.
    The limit is the hand-offs (uploads) the dump allows in flight plus the one segment being
    written (one collection).
    """
    if settings["store"] not in ("box", "local"):
        raise ValueError(f"the staging store is 'box' or 'local', not {settings['store']!r}")
    staging_dir = workspace.folder / "staging"
    staging_dir.mkdir()
    latency = FaultPlan(latency_ms=settings["latency_ms"])
    with contextlib.ExitStack() as running:
        astra = running.enter_context(AstraStandIn(page_size=settings["page_size"], faults=latency))
        seed_collection(astra, settings["documents"], settings["dimension"])
        if settings["store"] == "box":
            box, where = running.enter_context(BoxStandIn(faults=latency)), {"box_folder": "benchmarks"}
        else:
            box, where = None, {"out": str(workspace.folder / "store")}
        ours = run_child("dump-ours", workspace.child_env(astra, box), collection=COLLECTION,
                         snapshot_id=SNAPSHOT_ID, staging_dir=str(staging_dir),
                         segment_max_bytes=int(settings["segment_mb"] * MB), **where)
    _same_documents(settings["documents"], {"ours": ours})
    watched = ours["staging"]
    limit = ours["uploads_at_once"] + 1
    return {
        "settings": settings, "sides": {"ours": ours},
        "headline": headline("segment files", ["ours"], [watched["max_segments"]], higher_is_better=False,
                             limits=[limit], limit_label=f"limit {limit}"),
        "targets": [target("most segment files staged at once", f"<= {limit}", watched["max_segments"], "<=", limit)],
        "notes": [f"{ours['segments']} segments of at most {settings['segment_mb']} MB (uncompressed) into the "
                  f"{settings['store']} store; counted at each of {watched['handoffs']} hand-offs to the store and in "
                  f"{watched['samples']} samples every 2 ms",
                  f"limit = {ours['uploads_at_once']} hand-off(s) in flight (DumpOptions.uploads_at_once) + 1 segment "
                  f"being written", _streams_note(ours)],
    }


# -- S3 upload -------------------------------------------------------------------------------------

S3_REGION = "us-east-1"
S3_BUCKET = "bench"
S3_SERVER_START_SECONDS = 60


@dataclass(frozen=True)
class MotoServer:
    """A running moto S3 server: what the sides need to reach it, and the CPU time it has used."""

    process: subprocess.Popen[bytes]
    connection: dict[str, str]

    def cpu_seconds(self) -> float:
        """User + system CPU of the server process so far (Linux: /proc/<pid>/stat)."""
        with open(f"/proc/{self.process.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def moto_server(log: Path) -> Iterator[MotoServer]:
    """moto's S3 API server in a process of its own (so that its CPU is not a side's), on a free port of
    127.0.0.1. Its request log goes to ``log``."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    endpoint = f"http://127.0.0.1:{port}"
    with open(log, "wb") as output:
        server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                  stdout=output, stderr=subprocess.STDOUT)
    try:
        _wait_until_answering(server, endpoint, log)
        yield MotoServer(server, {"endpoint_url": endpoint, "region": S3_REGION, "access_key": "bench-key-id",
                                  "secret_key": "bench-secret"})
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _wait_until_answering(server: subprocess.Popen[bytes], endpoint: str, log: Path) -> None:
    """Poll the server until it answers any HTTP request; fail at once if it exits, or after a minute."""
    deadline = time.monotonic() + S3_SERVER_START_SECONDS
    while True:
        try:
            with urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=5) as response:
                response.read()
            return
        except urllib.error.HTTPError:
            return  # an HTTP answer of any kind: it is listening
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise ScenarioFailed(f"moto's S3 server at {endpoint} did not answer within {S3_SERVER_START_SECONDS} s; "
                                 f"its log: {log.read_text(errors='replace')[-2000:]}")
        try:  # the pause between polls, which also notices a server that died
            code = server.wait(timeout=0.05)
        except subprocess.TimeoutExpired:
            continue
        raise ScenarioFailed(f"moto's S3 server exited with {code} before answering (is moto[server] installed?): "
                             f"{log.read_text(errors='replace')[-2000:]}")


def _stored_sha256(fs: Any, key: str, scratch: Path) -> tuple[str, int]:
    """SHA-256 and size of the object as one GET returns it (ranged reads would make moto copy the whole
    object for each range)."""
    fs.get_file(key, str(scratch))
    try:
        with open(scratch, "rb") as stored:
            return hashlib.file_digest(stored, "sha256").hexdigest(), scratch.stat().st_size
    finally:
        scratch.unlink()


def s3_upload(workspace: Workspace, settings: dict[str, Any]) -> dict[str, Any]:
    """One file to a local S3 API server: s3fs's ``put_file`` against ours, with its parts in parallel and one at a
    time. Each object is read back (its SHA-256 compared with the file's) and deleted before the next side runs,
    so every side finds the server in the same state."""
    size, part_size = int(settings["megabytes"] * MB), int(settings["part_mib"] * MIB)
    path = workspace.folder / "upload.bin"
    random_file(path, size)
    with open(path, "rb") as file:
        sha256 = hashlib.file_digest(file, "sha256").hexdigest()
    runs = {"baseline": ("s3-upload-baseline", {}),
            "ours": ("s3-upload-ours", {"upload_streams": settings["upload_streams"]}),
            "ours_one_stream": ("s3-upload-ours", {"upload_streams": 1})}
    sides: dict[str, dict[str, Any]] = {}
    stored: dict[str, tuple[str, int]] = {}
    with moto_server(workspace.folder / "moto.log") as server:
        s3 = server.connection
        fs = s3_filesystem(s3)
        fs.call_s3("create_bucket", Bucket=S3_BUCKET)  # in us-east-1, which takes no location constraint
        for name, (child, arguments) in runs.items():
            key = f"{S3_BUCKET}/{name}.bin"
            if child == "s3-upload-ours":
                arguments = {**arguments, "sha256": sha256, "part_size": part_size}
            server_before = server.cpu_seconds()
            sides[name] = run_child(child, workspace.env, s3=s3, path=str(path), key=key, **arguments)
            sides[name]["server_cpu_seconds"] = round(server.cpu_seconds() - server_before, 3)
            stored[name] = _stored_sha256(fs, key, workspace.folder / "stored.bin")
            fs.rm_file(key)
    path.unlink()
    wrong = {name: found for name, found in stored.items() if found != (sha256, size)}
    if wrong:
        raise ScenarioFailed(f"the stored objects differ from the file ({size} bytes, SHA-256 {sha256}): {wrong}")
    for name, figures in sides.items():
        figures["stored_sha256"] = stored[name][0]
        figures.update(seconds=round(figures["seconds"], 3), cpu_seconds=round(figures["cpu_seconds"], 3),
                       mb_per_second=round(figures["bytes"] / MB / figures["seconds"], 3))
    summary = headline("MB/s", ["baseline", "ours"], [sides["baseline"]["mb_per_second"], sides["ours"]["mb_per_second"]],
                       ratio=_ratio(sides["ours"]["mb_per_second"], sides["baseline"]["mb_per_second"]))
    parallel = _ratio(sides["ours"]["mb_per_second"], sides["ours_one_stream"]["mb_per_second"])
    baseline, ours, one = sides["baseline"], sides["ours"], sides["ours_one_stream"]
    return {
        "settings": settings, "file_sha256": sha256, "sides": sides, "headline": summary,
        "ratio_parallel_to_one_stream": round_or_none(parallel),
        "software": {name: importlib.metadata.version(name) for name in ("s3fs", "aiobotocore", "botocore", "moto")},
        "targets": [],
        "notes": [
            f"{size:,} random bytes; each side's object was read back and matched the file's SHA-256",
            f"baseline: s3fs put_file with its defaults (requests {baseline['requests']}, up to "
            f"{baseline['streams']} parts in flight; botocore adds its default request checksum); ours: S3Access with "
            f"parts of {part_size:,} bytes, each with its SHA-256, {ours['streams']} in flight (requests "
            f"{ours['requests']}), then a HEAD for the stored checksum and size",
            "CPU seconds (client / moto server) against wall seconds: " + "; ".join(
                f"{name} {figures['cpu_seconds']} / {figures['server_cpu_seconds']} in {figures['seconds']}"
                for name, figures in sides.items()),
            f"ours with one part in flight: {one['mb_per_second']} MB/s; {settings['upload_streams']} in flight are "
            f"{round_or_none(parallel, 2)}x that",
            "no target (issue 20 sets none); moto runs on the same 2 cores in a process of its own (one Python "
            "process, so about one core), checks every checksum it is sent and spools each part and object to "
            "temporary files: this measures the client's overhead and what its parallel parts buy against a local "
            "server, not S3's throughput over a WAN, where the round trip, not the server's CPU, bounds one stream",
        ],
    }


# -- one collection over mapped tasks (issue 18) ------------------------------------------------------

def _mapped(workspace: Workspace, env: dict[str, str], prefix: str, steps: tuple[str, str, str],
            plan_arguments: dict[str, Any], slice_arguments: dict[str, Any],
            commit_arguments: dict[str, Any]) -> dict[str, Any]:
    """Plan, then every slice at once (each its own process, as mapped tasks on separate workers), then commit.

    ``wall_seconds`` runs from starting the plan's process to the commit's exit: interpreter starts and
    imports of three steps in a row are in it, as a task's start-up is in an Airflow run.
    """
    plan_file = workspace.folder / f"{prefix}-plan.json"
    started = time.perf_counter()
    plan = run_child(steps[0], env, plan_file=str(plan_file), **plan_arguments)
    items = plan["work_items"]
    results = [str(workspace.folder / f"{prefix}-result-{k}.json") for k in range(len(items))]
    with concurrent.futures.ThreadPoolExecutor(len(items)) as pool:
        slices = list(pool.map(lambda k: run_child(steps[1], env, plan_file=str(plan_file), item=items[k],
                                                   result_file=results[k], **slice_arguments), range(len(items))))
    commit = run_child(steps[2], env, plan_file=str(plan_file), result_files=results, **commit_arguments)
    wall = time.perf_counter() - started
    return {"wall_seconds": wall, "plan": plan, "slices": slices, "commit": commit,
            "work_seconds": plan["seconds"] + max(s["seconds"] for s in slices) + commit["seconds"]}


def _timed(side_name: str, env: dict[str, str], **arguments: Any) -> dict[str, Any]:
    started = time.perf_counter()
    figures = run_child(side_name, env, **arguments)
    figures["wall_seconds"] = time.perf_counter() - started
    return figures


def scale_out(workspace: Workspace, settings: dict[str, Any]) -> dict[str, Any]:
    """One collection dumped (and restored) by one task, then by ``tasks`` mapped tasks, against one stand-in.

    Both dumps read with ``scan_mode="ranges"`` (string ``_id`` shards, no reconciling pass), so
    both do the same reads; in ``auto`` mode the sliced dump adds a ``rest`` partition that reads
    the whole collection once more (counts cannot prove completeness across processes).
    """
    tasks, count, mode = settings["tasks"], settings["documents"], "ranges"
    one_store, mapped_store = workspace.folder / "one", workspace.folder / "mapped"
    with AstraStandIn(page_size=settings["page_size"], faults=FaultPlan(latency_ms=settings["latency_ms"])) as astra:
        payload = seed_collection(astra, count, settings["dimension"])
        env = workspace.child_env(astra)
        one = _timed("dump-ours", env, collection=COLLECTION, snapshot_id=SNAPSHOT_ID, out=str(one_store),
                     scan_mode=mode)
        mapped = _mapped(workspace, env, "dump", ("scale-out-plan", "scale-out-slice", "scale-out-commit"),
                         {"collection": COLLECTION, "snapshot_id": SNAPSHOT_ID, "out": str(mapped_store),
                          "slices": tasks, "scan_mode": mode},
                         {"out": str(mapped_store), "scan_mode": mode}, {"out": str(mapped_store)})
        restored: dict[str, Any] = {}
        if settings["restore"]:
            restored["one"] = _timed("restore-ours", env, store=str(one_store), snapshot_id=SNAPSHOT_ID,
                                     collection=COLLECTION, target_prefix="one_")
            restored["mapped"] = _mapped(
                workspace, env, "restore", ("restore-plan", "restore-slice", "restore-commit"),
                {"store": str(mapped_store), "snapshot_id": SNAPSHOT_ID, "collection": COLLECTION,
                 "target_prefix": "mapped_", "slices": tasks}, {"store": str(mapped_store)}, {"store": str(mapped_store)})
    counts = {"one": one["documents"], "mapped": mapped["commit"]["documents"],
              **{f"restore {k}": (v["documents"] if k == "one" else v["commit"]["documents"])
                 for k, v in restored.items()}}
    if any(n != count for n in counts.values()):
        raise ScenarioFailed(f"expected {count} documents on every side, got {counts}")
    if one["content_digest"] != mapped["commit"]["content_digest"]:
        raise ScenarioFailed(f"the sliced dump's content digest {mapped['commit']['content_digest']} is not the "
                             f"single task's {one['content_digest']}")
    rate = {"one task": count / one["wall_seconds"], f"{tasks} tasks": count / mapped["wall_seconds"]}
    sides: dict[str, Any] = {
        "one task": {"wall_seconds": round(one["wall_seconds"], 3), "seconds": round(one["seconds"], 3),
                     "docs_per_second": round(rate["one task"], 1), "peak_rss_mib": one["peak_rss_mib"],
                     "streams": one["streams"]},
        f"{tasks} tasks": {"wall_seconds": round(mapped["wall_seconds"], 3),
                           "work_seconds": round(mapped["work_seconds"], 3),
                           "docs_per_second": round(rate[f"{tasks} tasks"], 1),
                           "steps_seconds": {"plan": round(mapped["plan"]["seconds"], 3),
                                             "slices": [round(s["seconds"], 3) for s in mapped["slices"]],
                                             "commit": round(mapped["commit"]["seconds"], 3)},
                           "slice_documents": [s["documents"] for s in mapped["slices"]],
                           "partitions": mapped["plan"]["partitions"],
                           "peak_rss_mib": max(s["peak_rss_mib"] for s in mapped["slices"])},
    }
    ratio = _ratio(rate[f"{tasks} tasks"], rate["one task"])
    result: dict[str, Any] = {
        "settings": settings, "payload_mb": round(payload / MB, 3), "sides": sides,
        "headline": headline("docs/s", ["one task", f"{tasks} tasks"], [rate["one task"], rate[f"{tasks} tasks"]],
                             ratio=ratio, limits=[None, None]),
        "targets": [],
        "notes": [f"both dumps sealed {count} documents with content digest {one['content_digest']}",
                  f"dump, wall clock from the first process's start to the last one's exit; {tasks} slice processes "
                  f"at once, each with {one['streams']} scan streams, against one stand-in process on "
                  f"{os.cpu_count()} core(s)"],
    }
    if restored:
        one_restore, mapped_restore = restored["one"], restored["mapped"]
        restore_rate = {"one task": count / one_restore["wall_seconds"],
                        f"{tasks} tasks": count / mapped_restore["wall_seconds"]}
        result["restore"] = {
            "one task": {"wall_seconds": round(one_restore["wall_seconds"], 3),
                         "docs_per_second": round(restore_rate["one task"], 1),
                         "phases": {k: round(v, 3) for k, v in one_restore["phases"].items()}},
            f"{tasks} tasks": {"wall_seconds": round(mapped_restore["wall_seconds"], 3),
                               "docs_per_second": round(restore_rate[f"{tasks} tasks"], 1),
                               "steps_seconds": {"plan": round(mapped_restore["plan"]["seconds"], 3),
                                                 "slices": [round(s["seconds"], 3) for s in mapped_restore["slices"]],
                                                 "commit": round(mapped_restore["commit"]["seconds"], 3)},
                               "recall_at_10": mapped_restore["commit"]["recall_at_10"]},
            "ratio": round_or_none(_ratio(restore_rate[f"{tasks} tasks"], restore_rate["one task"]))}
    return result


# -- deduplicated snapshots (issue 19) -----------------------------------------------------------------
# Bytes are measured from the store folder itself (the files a dump added), never from the writer's counters.

FIRST_DAY = dt.datetime(2026, 11, 1, 2, tzinfo=dt.timezone.utc)
FILE_KINDS = (("document packs", (".jsonl", ".jsonl.gz", ".jsonl.zst")), ("index packs", (".index",)),
              ("index", (".chunks.gz",)))


def _day_id(day: int) -> str:
    """The snapshot id of day ``day``: one a day at 02:00, so each day's parent is the day before."""
    return (FIRST_DAY + dt.timedelta(days=day)).strftime("%Y%m%dT%H%M%SZ") + "-bench"


def _store_files(root: Path) -> dict[str, int]:
    """Every file under a store folder, by path relative to it, with its size."""
    return {str(path.relative_to(root)): path.stat().st_size for path in root.rglob("*") if path.is_file()} \
        if root.exists() else {}


def _kind(path: str) -> str:
    if path.startswith("data/"):
        for kind, suffixes in FILE_KINDS:
            if path.endswith(suffixes):
                return kind
    return "snapshot folder"


def _added(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """Bytes of the files that are in ``after`` and not in ``before``, in all and by kind."""
    added = {"total": 0, **{kind: 0 for kind, _ in FILE_KINDS}, "snapshot folder": 0, "files": 0}
    for path, size in after.items():
        if path not in before:
            added["total"] += size
            added[_kind(path)] += size
            added["files"] += 1
    return added


def _dump_measured(env: dict[str, str], store: Path, day: int, *, deduplicate: bool) -> dict[str, Any]:
    """One dump of the bench collection as the snapshot of ``day``, with what it added to the store folder."""
    before, load = _store_files(store), os.getloadavg()[0]
    figures = run_child("dump-ours", env, collection=COLLECTION, snapshot_id=_day_id(day), out=str(store),
                        deduplicate=deduplicate)
    figures["added"] = _added(before, _store_files(store))
    figures["load_average_before"] = round(load, 2)  # the machine is shared: each timed run says what it started in
    figures["seconds"] = round(figures["seconds"], 3)
    figures["docs_per_second"] = round(figures["documents"] / figures["seconds"], 1)
    del figures["output_bytes"], figures["scan"]  # the snapshot's own segments (0 in format 4); "added" says it all
    return figures


def _percent_of(part: float, whole: float) -> float | None:
    return 100 * part / whole if whole else None


def dedup(workspace: Workspace, settings: dict[str, Any]) -> dict[str, Any]:
    """Deduplicated snapshots (format 4) against a full dump and against format 1, on the same data in one run.

    Format 1 is the default layout without deduplication (gzip segments in the snapshot's folder); the issue
    says "format 2", whose only difference is zstd segments. Both sides here use gzip, so compression is not
    what is compared.

    Dumps, in this order: format 1; format 4 full (day 0); format 4 again with no change (day 1); then
    ``churn_percent`` uniform churn; format 4 incremental (day 2, parent day 0's twin day 1); format 4 full of
    the churned collection into a fresh store; format 1 of the churned collection. Then both snapshots of the
    churned data are restored, format 1 first. Every ratio compares runs of this one sequence.
    """
    count, dimension = settings["documents"], settings["dimension"]
    folders = {name: workspace.folder / name for name in ("format1-before", "format4", "format4-fresh", "format1-after")}
    with AstraStandIn(page_size=settings["page_size"], faults=FaultPlan(latency_ms=settings["latency_ms"])) as astra:
        payload = seed_collection(astra, count, dimension)
        env = workspace.child_env(astra)
        dumps = {"format 1": _dump_measured(env, folders["format1-before"], 0, deduplicate=False),
                 "format 4 full": _dump_measured(env, folders["format4"], 0, deduplicate=True),
                 "format 4 unchanged": _dump_measured(env, folders["format4"], 1, deduplicate=True)}
        changes = churn(astra, settings["churn_percent"] / 100, dimension, random.Random(19))
        churned = len(astra.store.collection(KEYSPACE, COLLECTION))
        dumps.update({
            "format 4 incremental": _dump_measured(env, folders["format4"], 2, deduplicate=True),
            "format 4 full, churned": _dump_measured(env, folders["format4-fresh"], 2, deduplicate=True),
            "format 1, churned": _dump_measured(env, folders["format1-after"], 2, deduplicate=False)})
        restores = {}
        for label, folder, prefix in (("restore format 1", "format1-after", "f1_"), ("restore format 4", "format4", "f4_")):
            load = os.getloadavg()[0]
            restores[label] = _with_server_cpu(lambda: run_child(
                "restore-ours", env, store=str(folders[folder]), snapshot_id=_day_id(2), collection=COLLECTION,
                target_prefix=prefix))
            restores[label]["load_average_before"] = round(load, 2)
    expected = {"format 1": count, "format 4 full": count, "format 4 unchanged": count}
    wrong = {name: figures["documents"] for name, figures in dumps.items()
             if figures["documents"] != expected.get(name, churned)}
    wrong.update({name: figures["documents"] for name, figures in restores.items() if figures["documents"] != churned})
    if wrong:
        raise ScenarioFailed(f"expected {count} documents before the churn and {churned} after, got {wrong}")
    digests = {figures["content_digest"] for name, figures in dumps.items() if name not in expected}
    if len(digests) != 1 or dumps["format 4 full"]["content_digest"] != dumps["format 1"]["content_digest"]:
        raise ScenarioFailed("format 1 and format 4 dumps of the same data sealed different content digests: "
                             + json.dumps({name: figures["content_digest"] for name, figures in dumps.items()}))
    for figures in restores.values():
        figures.update(seconds=round(figures["seconds"], 3), cpu_seconds=round(figures["cpu_seconds"], 3),
                       server_cpu_seconds=round(figures["server_cpu_seconds"], 3),
                       docs_per_second=round(figures["documents"] / figures["seconds"], 1),
                       phases={phase: round(seconds, 3) for phase, seconds in figures["phases"].items()})
        del figures["scan"]

    full, fresh = dumps["format 4 full"], dumps["format 4 full, churned"]
    unchanged_pct = _percent_of(dumps["format 4 unchanged"]["added"]["total"], full["added"]["total"])
    churn_pct = _percent_of(dumps["format 4 incremental"]["added"]["total"], fresh["added"]["total"])
    incremental_time = _ratio(dumps["format 4 incremental"]["seconds"], fresh["seconds"])
    full_vs_format1 = [_ratio(full["seconds"], dumps["format 1"]["seconds"]),
                       _ratio(fresh["seconds"], dumps["format 1, churned"]["seconds"])]
    restore_ratio = _ratio(restores["restore format 4"]["docs_per_second"],
                           restores["restore format 1"]["docs_per_second"])
    index_bytes = full["added"]["index"] + full["added"]["index packs"]
    incremental = dumps["format 4 incremental"]["added"]
    return {
        "settings": settings, "payload_mb": round(payload / MB, 3), "churn": {**changes, "documents_after": churned},
        "sides": {**dumps, **restores},
        "headline": headline("% of a full dump's bytes", ["no change", f"{settings['churn_percent']:g}% churn"],
                             [round(unchanged_pct, 3), round(churn_pct, 3)], higher_is_better=False,
                             limits=[1.0, 5.0], limit_label="target"),
        "ratios": {"unchanged_bytes_percent": round_or_none(unchanged_pct, 3),
                   "churned_bytes_percent": round_or_none(churn_pct, 3),
                   "incremental_seconds_over_full": round_or_none(incremental_time),
                   "unchanged_seconds_over_full": round_or_none(_ratio(dumps["format 4 unchanged"]["seconds"],
                                                                       full["seconds"])),
                   "full_format4_seconds_over_format1": [round_or_none(r) for r in full_vs_format1],
                   "full_format4_bytes_over_format1": round_or_none(_ratio(full["added"]["total"],
                                                                           dumps["format 1"]["added"]["total"])),
                   "restore_format4_over_format1": round_or_none(restore_ratio),
                   "index_bytes_per_document": round(index_bytes / count, 2),
                   "index_percent_of_full": round_or_none(_percent_of(index_bytes, full["added"]["total"]), 3)},
        "targets": [
            target("bytes a dump with no change adds, % of a full dump's", "<= 1%", unchanged_pct, "<=", 1),
            target(f"bytes a dump after {settings['churn_percent']:g}% churn adds, % of a full dump's", "<= 5%",
                   churn_pct, "<=", 5),
            target("incremental dump's seconds / a full format-4 dump's of the same collection", "<= 1.1x",
                   incremental_time, "<=", 1.1),
            target("restore docs/s, format 4 / format 1 of the same data (unchanged: >= 0.9x)", ">= 0.9x",
                   restore_ratio, ">=", 0.9)],
        "notes": [
            f"{count:,} documents x {dimension} dims ({payload / MB:,.1f} MB of JSON); churn: {changes['updated']} "
            f"updated (new text and vector), {changes['deleted']} deleted, {changes['inserted']} inserted, chosen "
            f"uniformly at random",
            f"the incremental dump added {incremental['total']:,} bytes: {incremental['document packs']:,} in "
            f"document packs, {incremental['index packs']:,} in index packs, {incremental['index']:,} in its index, "
            f"{incremental['snapshot folder']:,} in its snapshot folder",
            f"index overhead of the full dump: {index_bytes:,} bytes (index {full['added']['index']:,}, index packs "
            f"{full['added']['index packs']:,}), {index_bytes / count:.1f} bytes a document",
            "full format-4 dump's seconds / format 1's, before and after the churn: "
            + ", ".join(f"{r:.2f}x" for r in full_vs_format1 if r is not None),
            "restores: every check on (verified record by record before writing, read back after); the format-4 "
            "snapshot restored is the incremental one, whose documents are spread over day 0's and day 2's packs",
            f"stand-in latency {settings['latency_ms']:g} ms, page size {settings['page_size']}: "
            + ("CPU-bound, the case least kind to the dedup work" if not settings["latency_ms"] else "latency-bound"),
        ],
    }


def dedup_30_days(workspace: Workspace, settings: dict[str, Any]) -> dict[str, Any]:
    """``days`` daily deduplicated snapshots with ``churn_percent`` uniform churn before each but the first:
    the whole store folder against one full snapshot's bytes (day 0's) and one format-1 snapshot's."""
    dimension, rng = settings["dimension"], random.Random(30)
    store = workspace.folder / "format4"
    days: list[dict[str, Any]] = []
    with AstraStandIn(page_size=settings["page_size"], faults=FaultPlan(latency_ms=settings["latency_ms"])) as astra:
        payload = seed_collection(astra, settings["documents"], dimension)
        env = workspace.child_env(astra)
        format1 = _dump_measured(env, workspace.folder / "format1", 0, deduplicate=False)
        for day in range(settings["days"]):
            if day:
                churn(astra, settings["churn_percent"] / 100, dimension, rng)
            present = len(astra.store.collection(KEYSPACE, COLLECTION))
            figures = _dump_measured(env, store, day, deduplicate=True)
            if figures["documents"] != present:
                raise ScenarioFailed(f"day {day}: the dump sealed {figures['documents']} documents, the collection "
                                     f"holds {present}")
            days.append(figures)
    total, full = sum(_store_files(store).values()), days[0]["added"]["total"]
    ratio = _ratio(total, full)
    later = [figures["added"]["total"] for figures in days[1:]]
    return {
        "settings": settings, "payload_mb": round(payload / MB, 3),
        "sides": {"format 1": format1, "day 0": days[0], f"day {len(days) - 1}": days[-1]},
        "store_bytes": total, "full_bytes": full,
        "days": [{key: figures[key] for key in ("added", "seconds", "documents", "peak_rss_mib", "load_average_before")}
                 for figures in days],
        "headline": headline("MB", ["one full snapshot", f"store after {len(days)} days"],
                             [round(full / MB, 3), round(total / MB, 3)], ratio=ratio, higher_is_better=False,
                             limits=[None, round(2 * full / MB, 3)], limit_label="target"),
        "targets": [target(f"store after {len(days)} daily snapshots / one full snapshot", "<= 2x", ratio, "<=", 2)],
        "notes": [
            f"{settings['documents']:,} documents x {dimension} dims, {settings['churn_percent']:g}% uniform churn a "
            f"day (a third each updated, deleted, inserted); nothing pruned, so every byte any day stored is counted",
            f"days 1 to {len(days) - 1} added {min(later, default=0):,} to {max(later, default=0):,} bytes each, mean "
            f"{sum(later) / max(len(later), 1):,.0f} ({_percent_of(sum(later) / max(len(later), 1), full) or 0:.2f}% "
            f"of a full snapshot)",
            f"one format-1 snapshot of the same data: {format1['added']['total']:,} bytes; the store holds "
            f"{round_or_none(_ratio(total, format1['added']['total']), 2)}x that",
        ],
    }


def dedup_rss(workspace: Workspace, settings: dict[str, Any]) -> dict[str, Any]:
    """Peak RSS of a deduplicating full dump at two collection sizes, each in a fresh stand-in and store, with
    the index overhead at each size; with ``format_1`` the format-1 dump's peak at both sizes too."""
    sides: dict[str, dict[str, Any]] = {}
    dimension = settings["dimension"]
    for label in ("small", "large"):
        count = settings[f"{label}_documents"]
        with AstraStandIn(page_size=settings["page_size"], faults=FaultPlan(latency_ms=settings["latency_ms"])) as astra:
            seed_collection(astra, count, dimension)
            env = workspace.child_env(astra)
            runs = [("format 4", True)] + ([("format 1", False)] if settings["format_1"] else [])
            for name, deduplicate in runs:
                store = workspace.folder / f"{label}-{name.replace(' ', '')}"
                figures = _dump_measured(env, store, 0, deduplicate=deduplicate)
                shutil.rmtree(store)
                _same_documents(count, {label: figures})
                if deduplicate:
                    index = figures["added"]["index"] + figures["added"]["index packs"]
                    figures["index_bytes_per_document"] = round(index / count, 2)
                    figures["index_percent_of_full"] = round_or_none(_percent_of(index, figures["added"]["total"]), 3)
                sides[f"{name}, {count:,} docs"] = figures
    small, large = (sides[f"format 4, {settings[f'{label}_documents']:,} docs"] for label in ("small", "large"))
    ratio = _ratio(large["peak_rss_mib"], small["peak_rss_mib"])
    notes = [f"{settings['small_documents']:,} and {settings['large_documents']:,} documents x {dimension} dims; "
             "peak RSS is the dump child's VmHWM (interpreter, Airflow and the provider included; the stand-in is "
             "in the harness's process and not counted)",
             f"index overhead: {small['index_bytes_per_document']} and {large['index_bytes_per_document']} bytes a "
             f"document, {small['index_percent_of_full']}% and {large['index_percent_of_full']}% of the full dump"]
    if settings["format_1"]:
        plain = [sides[f"format 1, {settings[f'{label}_documents']:,} docs"]["peak_rss_mib"] for label in ("small", "large")]
        notes.append(f"format 1 at the same sizes: {plain[0]} and {plain[1]} MiB ({_ratio(plain[1], plain[0]):.2f}x)")
    return {
        "settings": settings, "sides": sides,
        "headline": headline("peak RSS MiB", [f"{settings['small_documents']:,} docs", f"{settings['large_documents']:,} docs"],
                             [small["peak_rss_mib"], large["peak_rss_mib"]], ratio=ratio, higher_is_better=False,
                             limits=[None, round(1.25 * small["peak_rss_mib"], 1)], limit_label="target"),
        "targets": [target("peak RSS of a deduplicating dump, large / small (flat: issue 7's 1.25x)", "<= 1.25x",
                           ratio, "<=", 1.25)],
        "notes": notes,
    }



# -- issue 17: restoring into another engine --------------------------------------------------------

def cross_engine(workspace: Workspace, settings: dict[str, Any]) -> dict[str, Any]:
    """What translating costs: the same documents restored into a local Qdrant from a Qdrant snapshot (no
    translation) and from a Data API snapshot (planned, then translated on the way), in this process; and the
    translation alone against a plain read of the same records."""
    from qdrant_client import QdrantClient

    from airflow_provider_vectorbackup.connection import ConnectionSettings
    from airflow_provider_vectorbackup.jobs.restore import RestoreOptions, restore_snapshot
    from airflow_provider_vectorbackup.snapshot import SnapshotWriter
    from airflow_provider_vectorbackup.snapshot.reader import open_snapshot
    from airflow_provider_vectorbackup.snapshot.vector_fields import dense
    from airflow_provider_vectorbackup.sources.portable import PortableCollection
    from airflow_provider_vectorbackup.sources.qdrant.client import QdrantSource
    from airflow_provider_vectorbackup.stores.local import LocalStore
    from airflow_provider_vectorbackup.translation.documents import neutral
    from airflow_provider_vectorbackup.translation.plan import plan_collection

    count, dimension = settings["documents"], settings["dimension"]
    import numpy as np

    rng = np.random.default_rng(17)  # float32 values, spelled as the Data API prints them (shortest form)
    vectors = [[float(str(x)) for x in row] for row in rng.uniform(-1, 1, (count, dimension)).astype(np.float32)]
    store = LocalStore(workspace.folder / "store")
    described = QdrantSource.from_connection(ConnectionSettings("bench", conn_type="qdrant", extra={"path": "unused"}))
    qdrant_definition = described.portable_definition(PortableCollection(  # a Qdrant collection's own definition
        "int", {"embedding": {"kind": "dense", "dtype": "float32", "dimension": dimension, "metric": "euclidean",
                              "nullable": False}}, {"title": "string", "rank": "int"}))
    with SnapshotWriter(store.root, source={"kind": "qdrant"}, snapshot_id="20260101T000000Z-qdrant") as writer:
        with writer.collection("points", qdrant_definition) as collection:
            collection.write_many([{"_id": i, "$vectors": {"embedding": dense(v)},
                                    "payload": {"title": f"point {i}", "rank": i}} for i, v in enumerate(vectors)])
    with SnapshotWriter(store.root, source={"kind": "astra"}, snapshot_id="20260101T000000Z-astra") as writer:
        with writer.collection("points", {"vector": {"dimension": dimension, "metric": "euclidean"}}) as collection:
            collection.write_many([{"_id": f"p{i}", "$vector": v, "title": f"point {i}", "rank": i}
                                   for i, v in enumerate(vectors)])

    sides: dict[str, dict[str, Any]] = {}
    for name, snapshot_id in (("same engine", "20260101T000000Z-qdrant"), ("translated", "20260101T000000Z-astra")):
        path = workspace.folder / f"qdrant-{snapshot_id[-6:]}"
        client = QdrantClient(path=str(path), force_disable_check_same_thread=True)
        try:
            target = QdrantSource.from_connection(
                ConnectionSettings("bench", conn_type="qdrant", extra={"path": str(path)}), client=client)
            started = time.perf_counter()
            report = restore_snapshot(store, snapshot_id, target, RestoreOptions(target_prefix="r_"))
            seconds = time.perf_counter() - started
        finally:
            client.close()
        result = report["collections"]["points"]
        if not report["ok"] or result["documents_restored"] != count:
            raise ScenarioFailed(f"the {name} restore did not validate: {result}")
        sides[name] = {"seconds": round(seconds, 3), "docs_per_second": round(count / seconds, 1),
                       "phases": report["phases"], "documents": count, "peak_rss_mib": None}

    snapshot = open_snapshot(store.get("20260101T000000Z-astra").location)
    started = time.perf_counter()
    read = sum(1 for _ in snapshot.records("points"))
    read_seconds = time.perf_counter() - started
    started = time.perf_counter()
    plan = plan_collection(snapshot.definition("points"), "astra", lambda: snapshot.records("points"), "qdrant",
                           QdrantSource.capabilities)
    translator = plan.translator(QdrantSource.capabilities)
    translated = sum(1 for record in snapshot.records("points") if translator.translate(neutral(record, "astra")))
    translate_seconds = time.perf_counter() - started
    if read != translated != count:
        raise ScenarioFailed(f"read {read}, translated {translated}, expected {count}")
    sides["read records"] = {"seconds": round(read_seconds, 3), "docs_per_second": round(count / read_seconds, 1),
                             "peak_rss_mib": None}
    sides["plan and translate"] = {"seconds": round(translate_seconds, 3),
                                   "docs_per_second": round(count / translate_seconds, 1), "peak_rss_mib": None}
    ratio = _ratio(sides["translated"]["seconds"], sides["same engine"]["seconds"])
    return {
        "settings": settings, "sides": sides,
        "headline": headline("docs/s", ["same engine", "translated"],
                             [sides["same engine"]["docs_per_second"], sides["translated"]["docs_per_second"]],
                             ratio=ratio, higher_is_better=True),
        "targets": [],
        "notes": [f"restore time translated / same engine: {round_or_none(ratio, 2)}x; planning and translating "
                  f"(two reads of the snapshot, one translation of each record) takes "
                  f"{round(translate_seconds / read_seconds, 1)}x a plain read of the records. No target was set for "
                  "this; the figures say what it costs. Peak RSS is not measured here (one process)."],
    }

SCENARIOS: dict[str, Scenario] = {s.name: s for s in (
    Scenario("dump-latency", "Latency-bound dump",
             {"documents": 20_000, "dimension": 384, "page_size": 20, "latency_ms": 20.0},
             {"documents": 400, "dimension": 64, "page_size": 20, "latency_ms": 20.0}, dump_latency),
    Scenario("dump-cpu", "CPU-bound dump",
             {"documents": 20_000, "dimension": 1536, "page_size": 50, "latency_ms": 0.0},
             {"documents": 400, "dimension": 256, "page_size": 50, "latency_ms": 0.0}, dump_cpu),
    Scenario("dump-cpu-zstd", "CPU-bound dump, ours with zstd",
             {"documents": 20_000, "dimension": 1536, "page_size": 50, "latency_ms": 0.0},
             {"documents": 400, "dimension": 256, "page_size": 50, "latency_ms": 0.0}, dump_cpu_zstd),
    Scenario("restore", "Restore",
             {"documents": 20_000, "dimension": 384, "page_size": 20, "latency_ms": 20.0},
             {"documents": 400, "dimension": 64, "page_size": 20, "latency_ms": 20.0}, restore),
    Scenario("upload", "Box upload",
             {"megabytes": 300.0, "part_mib": 8.0, "latency_ms": 20.0},
             {"megabytes": 6.0, "part_mib": 1.0, "latency_ms": 20.0}, upload),
    Scenario("memory", "Peak RSS of our dump",
             {"small_documents": 10_000, "large_documents": 100_000, "dimension": 1536, "page_size": 50,
              "latency_ms": 0.0},
             {"small_documents": 200, "large_documents": 2_000, "dimension": 64, "page_size": 50,
              "latency_ms": 0.0}, memory),
    Scenario("staging", "Local staging disk",
             {"documents": 20_000, "dimension": 384, "page_size": 50, "latency_ms": 20.0, "segment_mb": 1.0,
              "store": "box"},
             {"documents": 600, "dimension": 64, "page_size": 50, "latency_ms": 5.0, "segment_mb": 0.05,
              "store": "box"}, staging),
    Scenario("scale-out", "One collection over mapped tasks",
             {"documents": 1_000_000, "dimension": 64, "page_size": 50, "latency_ms": 20.0, "tasks": 4,
              "restore": True},
             {"documents": 2_000, "dimension": 16, "page_size": 50, "latency_ms": 5.0, "tasks": 4,
              "restore": True}, scale_out),
    Scenario("s3-upload", "S3 upload",
             {"megabytes": 256.0, "part_mib": 16.0, "upload_streams": 4},
             {"megabytes": 24.0, "part_mib": 16.0, "upload_streams": 4}, s3_upload),
    Scenario("dedup", "Deduplicated snapshots: bytes, dump and restore times",
             {"documents": 100_000, "dimension": 384, "page_size": 50, "latency_ms": 0.0, "churn_percent": 1.0},
             {"documents": 900, "dimension": 32, "page_size": 50, "latency_ms": 0.0, "churn_percent": 1.0}, dedup),
    Scenario("dedup-30-days", "Deduplicated snapshots: 30 days of churn",
             {"documents": 20_000, "dimension": 384, "page_size": 50, "latency_ms": 0.0, "churn_percent": 1.0,
              "days": 30},
             {"documents": 600, "dimension": 32, "page_size": 50, "latency_ms": 0.0, "churn_percent": 1.0,
              "days": 4}, dedup_30_days),
    Scenario("dedup-rss", "Deduplicated snapshots: peak RSS",
             {"small_documents": 100_000, "large_documents": 1_000_000, "dimension": 32, "page_size": 50,
              "latency_ms": 0.0, "format_1": True},
             {"small_documents": 300, "large_documents": 3_000, "dimension": 16, "page_size": 50,
              "latency_ms": 0.0, "format_1": True}, dedup_rss),
    Scenario("cross-engine", "Restoring into another engine: what translating costs",
             {"documents": 20_000, "dimension": 384}, {"documents": 300, "dimension": 16}, cross_engine),
)}
