"""Smoke test of the benchmark harness: a ``--quick`` run of one dump and one upload scenario.

The benchmarks themselves stay out of ``make test`` (docs/benchmarks.md); this proves only that
the harness still drives both sides against the stand-ins and reports real, comparable figures.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HARNESS = Path(__file__).resolve().parents[1] / "benchmarks" / "run.py"


@pytest.mark.slow
def test_a_quick_run_reports_both_sides_of_a_dump_and_an_upload(tmp_path: Path) -> None:
    output = tmp_path / "report.json"
    run = subprocess.run([sys.executable, str(HARNESS), "--quick", "--no-chart", "--only", "dump-latency,upload",
                          "--output", str(output)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    report = json.loads(output.read_text())
    assert list(report["scenarios"]) == ["dump-latency", "upload"]
    assert report["machine"]["cpu_count"] >= 1 and report["quick"] is True

    dump = report["scenarios"]["dump-latency"]
    for side in ("baseline", "ours"):
        figures = dump["sides"][side]
        assert figures["documents"] == dump["settings"]["documents"]
        for key in ("seconds", "docs_per_second", "mb_per_second", "output_mb", "peak_rss_mib",
                    "wire_limit_docs_per_second", "wire_fraction"):
            assert figures[key] > 0, (side, key, figures)
        assert figures["streams"] >= 1
    assert dump["headline"]["ratio"] == pytest.approx(
        dump["sides"]["ours"]["docs_per_second"] / dump["sides"]["baseline"]["docs_per_second"], rel=1e-3)
    assert [type(goal["pass"]) for goal in dump["targets"]] == [bool, bool]

    upload = report["scenarios"]["upload"]
    baseline, ours = upload["sides"]["baseline"], upload["sides"]["ours"]
    assert baseline["bytes"] == ours["bytes"] == int(upload["settings"]["megabytes"] * 1_000_000)
    assert baseline["sha1"] == ours["sha1"]
    for figures in (baseline, ours):
        for key in ("seconds", "mb_per_second", "peak_rss_mib", "wire_fraction", "cpu_seconds", "server_cpu_seconds"):
            assert figures[key] > 0, (key, figures)
    assert upload["headline"]["ratio"] > 0 and type(upload["targets"][0]["pass"]) is bool
    assert upload["sha1_mb_per_second_one_thread"] > 0 and upload["sha1_mb_per_second_two_threads"] > 0

    assert "dump-latency" in run.stdout and "Targets" in run.stdout  # the table was printed
