"""Smoke tests of the benchmark harness: ``--quick`` runs of one dump and one upload scenario, and of the
deduplication scenarios (issue 19).

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


@pytest.mark.slow
def test_a_quick_run_of_the_deduplication_scenarios_measures_the_store_folder_and_judges_every_target(
        tmp_path: Path) -> None:
    output = tmp_path / "report.json"
    run = subprocess.run([sys.executable, str(HARNESS), "--quick", "--no-chart", "--only",
                          "dedup,dedup-30-days,dedup-rss", "--dedup-30-days-days", "3", "--output", str(output)],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    scenarios = json.loads(output.read_text())["scenarios"]

    dedup = scenarios["dedup"]
    dumps = dedup["sides"]
    assert {name: figures["format_version"] for name, figures in dumps.items() if "format_version" in figures} == {
        "format 1": 1, "format 4 full": 4, "format 4 unchanged": 4, "format 4 incremental": 4,
        "format 4 full, churned": 4, "format 1, churned": 1}
    unchanged, incremental, full = dumps["format 4 unchanged"], dumps["format 4 incremental"], dumps["format 4 full"]
    assert unchanged["added"]["document packs"] == unchanged["added"]["index packs"] == unchanged["added"]["index"] == 0
    assert 0 < incremental["added"]["document packs"] < full["added"]["document packs"]
    assert incremental["added"]["index"] > 0 and full["added"]["index packs"] > 0
    assert sum(dedup["churn"][change] for change in ("updated", "deleted", "inserted")) == round(
        dedup["settings"]["documents"] * dedup["settings"]["churn_percent"] / 100)
    for name in ("restore format 1", "restore format 4"):
        assert dumps[name]["documents"] == dedup["churn"]["documents_after"]
        assert dumps[name]["checks"]["digest_matches"] and dumps[name]["docs_per_second"] > 0
    ratios = dedup["ratios"]
    assert ratios["unchanged_bytes_percent"] == pytest.approx(
        100 * unchanged["added"]["total"] / full["added"]["total"], abs=1e-3)
    assert ratios["index_bytes_per_document"] > 0 and ratios["restore_format4_over_format1"] > 0
    assert [type(goal["pass"]) for goal in dedup["targets"]] == [bool] * 4

    days = scenarios["dedup-30-days"]
    assert len(days["days"]) == 3 and days["full_bytes"] == days["days"][0]["added"]["total"]
    # Nothing is pruned, so the store is exactly what the days added: no scratch or lock file is left behind.
    assert days["store_bytes"] == sum(day["added"]["total"] for day in days["days"])
    assert days["targets"][0]["measured"] == pytest.approx(days["store_bytes"] / days["full_bytes"], rel=1e-3)

    rss = scenarios["dedup-rss"]
    assert len(rss["sides"]) == 4 and all(figures["peak_rss_mib"] > 0 for figures in rss["sides"].values())
    assert all(figures["index_bytes_per_document"] > 0
               for name, figures in rss["sides"].items() if name.startswith("format 4"))
    assert type(rss["targets"][0]["pass"]) is bool
    assert "dedup-30-days" in run.stdout and "Targets" in run.stdout
