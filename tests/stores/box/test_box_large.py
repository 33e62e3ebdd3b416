"""Backup-sized segments (25 MB and 120 MB) through BoxApi's parallel chunked upload, and its memory bound.

Box's real minimum (20 MB) and part size (8 MiB) are kept; files are written and hashed in
1 MiB pieces so the test process never holds a segment either.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_vectorbackup.testing.box import BoxStandIn
from tests.stores.box.helpers import MIB, box_api, sha1_file, write_file

REPO = Path(__file__).resolve().parents[3]
CONCURRENCY = 4


@pytest.mark.slow
def test_25mb_segment_round_trips_through_parallel_parts(box_stand_in: BoxStandIn, box_connection: str,
                                                         tmp_path: Path) -> None:
    size = 25 * MIB + 4321
    sha1 = write_file(tmp_path / "segment-0001.jsonl.zst", size, seed=25)
    api = box_api(box_connection, chunk_threshold=20 * MIB, upload_concurrency=CONCURRENCY)

    item = api.upload(tmp_path / "segment-0001.jsonl.zst", api.ensure_folder("backups/run-1"))

    assert (item.size, item.sha1) == (size, sha1)
    counts = box_stand_in.request_counts
    assert counts["upload_part"] == math.ceil(size / box_stand_in.part_size) == 4
    assert (counts["create_upload_session"], counts["commit_upload_session"]) == (1, 1)
    assert "upload_file" not in counts
    assert api.download(item.id, tmp_path / "restored") == sha1 == sha1_file(tmp_path / "restored")


@pytest.mark.slow
def test_120mb_segment_uploads_in_bounded_memory_and_round_trips(box_stand_in: BoxStandIn, box_connection: str,
                                                                 tmp_path: Path) -> None:
    size = 120 * MIB + 777
    sha1 = write_file(tmp_path / "segment-0002.bin", size, seed=120)
    folder = box_api(box_connection).ensure_folder("backups/run-2")

    child = subprocess.run(
        [sys.executable, "-m", "tests.stores.box.upload_child", box_connection, str(tmp_path / "segment-0002.bin"),
         folder, str(20 * MIB), str(CONCURRENCY)],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert child.returncode == 0, child.stderr[-3000:]
    report = json.loads(child.stdout.strip().splitlines()[-1])

    assert (report["size"], report["sha1"]) == (size, sha1)
    part_size = box_stand_in.part_size
    assert box_stand_in.request_counts["upload_part"] == math.ceil(size / part_size) == 16
    growth = (report["peak_kib"] - report["rss_before_kib"]) * 1024
    bound = (CONCURRENCY + 1) * part_size + 16 * MIB  # a buffer per part in flight, one being read, slack
    print(f"peak RSS {report['peak_kib'] / 1024:.1f} MiB, before upload {report['rss_before_kib'] / 1024:.1f} MiB, "
          f"growth {growth / MIB:.1f} MiB, bound {bound / MIB:.0f} MiB")
    assert growth < bound < size

    api = box_api(box_connection)
    assert api.download(report["id"], tmp_path / "restored") == sha1 == sha1_file(tmp_path / "restored")
