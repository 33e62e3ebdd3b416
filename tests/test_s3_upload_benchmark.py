"""Smoke test of the ``s3-upload`` benchmark scenario: a ``--quick`` run against moto's S3 server.

It proves only that the harness starts the server, runs every side, reads each object back and
reports real figures; the measurements themselves are published in docs/benchmarks.md.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HARNESS = Path(__file__).resolve().parents[1] / "benchmarks" / "run.py"


@pytest.mark.slow
def test_a_quick_s3_upload_reports_every_side_and_the_same_stored_bytes(tmp_path: Path) -> None:
    output = tmp_path / "report.json"
    run = subprocess.run([sys.executable, str(HARNESS), "--quick", "--no-chart", "--only", "s3-upload",
                          "--output", str(output)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    result = json.loads(output.read_text())["scenarios"]["s3-upload"]
    sides = result["sides"]
    assert list(sides) == ["baseline", "ours", "ours_one_stream"]
    size = int(result["settings"]["megabytes"] * 1_000_000)
    for name, figures in sides.items():
        assert figures["bytes"] == size, name
        assert figures["stored_sha256"] == result["file_sha256"], name
        for key in ("seconds", "mb_per_second", "cpu_seconds", "server_cpu_seconds", "peak_rss_mib"):
            assert figures[key] > 0, (name, key, figures)
    assert sides["ours"]["streams"] == result["settings"]["upload_streams"] and sides["ours_one_stream"]["streams"] == 1
    parts = -(-size // int(result["settings"]["part_mib"] * 2**20))
    assert sides["ours"]["requests"]["upload_part"] == parts and sides["ours"]["requests"]["head_object"] == 1
    assert result["headline"]["ratio"] == pytest.approx(
        sides["ours"]["mb_per_second"] / sides["baseline"]["mb_per_second"], rel=1e-3)
    assert result["ratio_parallel_to_one_stream"] > 0
    assert "s3-upload" in run.stdout  # the table was printed
