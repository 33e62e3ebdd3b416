"""Benchmark harness: ours against a baseline on the same data, in one run (issue 7).

    .venv/bin/python benchmarks/run.py                      # every scenario at the issue's sizes
    .venv/bin/python benchmarks/run.py --quick --no-chart   # tiny sizes: a smoke check in seconds
    .venv/bin/python benchmarks/run.py --only dump-latency,upload --dump-latency-documents 2000

Writes a JSON report (settings, machine, every figure, each target with pass or miss), prints
a table and draws a chart. Exits 1 if a scenario could not be measured; a missed target is a
result, not an error. See benchmarks/README.md for what each side does.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from report import print_table, write_json
from scenarios import SCENARIOS, Workspace

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
CHART = REPO / "docs" / "benchmarks.png"


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(SCENARIOS),
                        help="comma-separated scenarios to run (default: all), from: " + ", ".join(SCENARIOS))
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes (a smoke check); results go to benchmarks/results/quick.* unless told")
    parser.add_argument("--output", type=Path, help=f"JSON report (default {RESULTS.relative_to(REPO)}/latest.json)")
    parser.add_argument("--chart", type=Path, help=f"PNG chart (default {CHART.relative_to(REPO)})")
    parser.add_argument("--no-chart", action="store_true", help="skip the chart (no matplotlib needed)")
    for scenario in SCENARIOS.values():
        group = parser.add_argument_group(f"{scenario.name}: {scenario.title}")
        for key, default in scenario.settings.items():
            group.add_argument(f"--{scenario.name}-{key.replace('_', '-')}", dest=f"{scenario.name}:{key}",
                               type=type(default), default=None, metavar=type(default).__name__.upper(),
                               help=f"default {default} (--quick: {scenario.quick[key]})")
    args = parser.parse_args(argv)
    args.only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = [name for name in args.only if name not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s) {unknown}; choose from {list(SCENARIOS)}")
    stem = "quick" if args.quick else "latest"
    args.output = args.output or RESULTS / f"{stem}.json"
    args.chart = args.chart or (RESULTS / "quick.png" if args.quick else CHART)
    return args


def settings_of(args: argparse.Namespace, name: str) -> dict[str, Any]:
    scenario = SCENARIOS[name]
    settings = dict(scenario.quick if args.quick else scenario.settings)
    for key in settings:
        given = getattr(args, f"{name}:{key}")
        if given is not None:
            settings[key] = given
    return settings


def machine() -> dict[str, Any]:
    return {"cpu_count": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(), "load_average_at_start": os.getloadavg()}


def software() -> dict[str, Any]:
    versions = {name: importlib.metadata.version(name)
                for name in ("airflow-provider-vectorbackup", "astrapy", "boxsdk", "apache-airflow")}

    def git(*command: str) -> str | None:
        try:
            done = subprocess.run(["git", *command], cwd=REPO, capture_output=True, text=True, check=True)
        except (OSError, subprocess.CalledProcessError):
            return None
        return done.stdout.strip()

    status = git("status", "--porcelain")
    return {**versions, "git_commit": git("rev-parse", "HEAD"),
            "git_dirty": None if status is None else bool(status)}


def child_environment(home: Path) -> dict[str, str]:
    """What every child starts from: an Airflow home of its own and quiet logs."""
    return {**os.environ, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING"}


def run(args: argparse.Namespace) -> dict[str, Any]:
    report: dict[str, Any] = {
        "command": " ".join(["benchmarks/run.py", *sys.argv[1:]]), "quick": args.quick,
        "started_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(), "software": software(), "scenarios": {},
    }
    with tempfile.TemporaryDirectory(prefix="vectorbackup-bench-") as scratch:
        env = child_environment(Path(scratch) / "airflow-home")
        for name in args.only:
            settings = settings_of(args, name)
            folder = Path(scratch) / name
            folder.mkdir()
            print(f"[{name}] {SCENARIOS[name].title}: {settings}", flush=True)
            started = time.perf_counter()
            try:
                result = SCENARIOS[name].run(Workspace(folder, env), settings)
            except Exception as exc:  # recorded; the other scenarios still run
                traceback.print_exc()
                result = {"settings": settings, "error": f"{type(exc).__name__}: {exc}"}
            result["wall_seconds"] = round(time.perf_counter() - started, 1)
            report["scenarios"][name] = result
    report["finished_at"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    return report


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    report = run(args)
    write_json(report, args.output)
    print_table(report)
    print(f"\nReport: {args.output}")
    if not args.no_chart:
        from chart import draw

        if draw(report, args.chart):
            print(f"Chart: {args.chart}")
    return 1 if any("error" in result for result in report["scenarios"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
