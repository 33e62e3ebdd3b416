"""Peak memory stays flat: ten times the documents must not mean more memory."""

from __future__ import annotations

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
