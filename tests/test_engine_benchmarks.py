"""Smoke test of the engine benchmarks (issue 16): a ``--quick`` run of each engine.

The benchmarks stay out of ``make test`` (docs/benchmarks.md); this proves only that the driver
still runs every side against the real engine and reports real, comparable figures.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ENGINES_DIR = Path(__file__).resolve().parents[1] / "benchmarks" / "engines"
DRIVER = ENGINES_DIR / "run.py"
ENGINES = ("qdrant", "pgvector", "chroma", "milvus")  # a missing adapter fails its run, never drops out
DOCUMENTS = 500
"""Below --quick's 2,000: enough for every side to page and to write a segment, small enough for the suite."""


@pytest.mark.slow
@pytest.mark.parametrize("engine", ENGINES)
def test_a_quick_run_measures_every_side_of_an_engine(engine: str, tmp_path: Path) -> None:
    output = tmp_path / "report.json"
    run = subprocess.run([sys.executable, str(DRIVER), "--quick", "--engines", engine, "--documents", str(DOCUMENTS),
                          "--no-profile", "--output", str(output)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    report = json.loads(output.read_text())
    assert report["quick"] is True and report["settings"]["documents"] == DOCUMENTS
    assert "error" not in report["engines"][engine] and report["engines"][engine]["load_average_at_start"]
    assert sorted(report["scenarios"]) == [f"{engine}/dump", f"{engine}/memory", f"{engine}/restore"]

    dump = report["scenarios"][f"{engine}/dump"]
    for name in ("naive export", "raw scan", "our scan alone", "ours"):
        figures = dump["sides"][name]
        assert figures["documents"] == DOCUMENTS, (name, figures)
        assert figures["seconds"] > 0 and figures["docs_per_second"] > 0 and figures["peak_rss_mib"] > 0
    ours = dump["sides"]["ours"]
    # Ratios are reported to 4 decimals.
    assert dump["headline"]["ratio"] == pytest.approx(
        ours["docs_per_second"] / dump["sides"]["naive export"]["docs_per_second"], abs=1e-4)
    assert dump["share_of_raw_read_limit"] == pytest.approx(
        ours["docs_per_second"] / dump["sides"]["raw scan"]["docs_per_second"], abs=1e-4)
    assert ours["output_mb"] > 0 and ours["segments"] >= 1

    restore = report["scenarios"][f"{engine}/restore"]
    restored = restore["sides"]["ours"]
    assert restore["sides"]["bulk insert"]["documents"] == restored["documents"] == DOCUMENTS
    assert restored["checks"]["validated"] is True, restored["checks"]
    assert set(restored["phases"]) == {"prepare", "insert", "validate"}
    assert restored["written_docs_per_second"] >= restored["docs_per_second"]

    memory = report["scenarios"][f"{engine}/memory"]
    assert memory["sides"]["small"]["documents"] == DOCUMENTS // 10
    assert memory["headline"]["ratio"] == pytest.approx(
        memory["sides"]["large"]["peak_rss_mib"] / memory["sides"]["small"]["peak_rss_mib"], abs=1e-4)

    verdicts = [goal["pass"] for result in report["scenarios"].values() for goal in result["targets"]]
    assert len(verdicts) == 5 and all(type(verdict) is bool for verdict in verdicts)
    assert f"{engine}/dump" in run.stdout and "Targets" in run.stdout  # the table was printed
