"""Peak memory stays flat: ten times the documents must not mean more memory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SMALL, LARGE = 3_000, 30_000
# Buffering the larger run in any form would cost far more than this: its documents as Python
# objects take ~130 MB, their JSON text ~80 MB, even the compressed segment ~35 MB.
ALLOWED_GROWTH_KIB = 16 * 1024


@pytest.mark.slow
def test_writing_reading_and_verifying_ten_times_more_documents_keeps_peak_rss_flat() -> None:
    children = {
        count: subprocess.Popen([sys.executable, "-m", "tests.snapshot.memory_child", str(count)], cwd=REPO,
                                stdout=subprocess.PIPE, text=True)
        for count in (SMALL, LARGE)
    }
    peaks = {}
    for count, child in children.items():
        out, _ = child.communicate(timeout=600)
        assert child.returncode == 0
        peaks[count] = int(out.strip())
    growth = peaks[LARGE] - peaks[SMALL]
    print(f"peak RSS: {SMALL} docs {peaks[SMALL]} KiB, {LARGE} docs {peaks[LARGE]} KiB, growth {growth} KiB")
    assert growth <= ALLOWED_GROWTH_KIB, peaks


BOMB_MIB = 1024
# A bomb without newlines stops at the longest line a reader accepts (compression.MAX_LINE_BYTES, 32 MiB),
# held while it is assembled; reading the bomb whole would take more than a GiB.
ALLOWED_BOMB_GROWTH_KIB = 64 * 1024


@pytest.mark.slow
def test_gzip_and_zstd_bombs_are_stopped_with_flat_peak_rss(tmp_path: Path) -> None:
    from airflow_provider_vectorbackup.snapshot import SnapshotWriter, describe_source
    from tests.snapshot.tamper import bomb, plant_segment

    paths = {}
    for how in ("baseline", "gzip", "zstd"):
        compression = "gzip" if how == "baseline" else how
        with SnapshotWriter(tmp_path / how, source=describe_source("astra"), compression=compression) as writer:
            with writer.collection("docs", {}) as collection:
                collection.write_many({"_id": i, "text": "lorem ipsum"} for i in range(100))
        paths[how] = writer.result.path
        if how != "baseline":  # a hostile writer: the entry matches the file and records no uncompressed size
            segment = writer.result.manifest.collection("docs").segments[0].path
            plant_segment(paths[how], segment, bomb(how, BOMB_MIB), uncompressed_bytes=None)
    results = {}
    for how, path in paths.items():
        child = subprocess.run([sys.executable, "-m", "tests.snapshot.bomb_child", str(path)], cwd=REPO,
                               capture_output=True, text=True, timeout=600)
        assert child.returncode == 0, child.stderr
        results[how] = json.loads(child.stdout)
    print({how: r["peak_kib"] for how, r in results.items()})
    assert results["baseline"]["problems"] == [] and results["baseline"]["read"] == "all"
    for how in ("gzip", "zstd"):
        assert "decompression_bound" in results[how]["problems"] and results[how]["read"] == "DecompressionBoundError"
        assert results[how]["peak_kib"] - results["baseline"]["peak_kib"] <= ALLOWED_BOMB_GROWTH_KIB, results
