"""A writer killed with SIGKILL at any point leaves `.inprogress` (or nothing), never a folder that looks complete."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_vectorbackup.check import verify
from airflow_provider_vectorbackup.snapshot import open_snapshot

REPO = Path(__file__).resolve().parents[2]
SNAPSHOT_ID = "20260101T000000Z"


def run_child(root: Path, kill_at: int | None) -> list[str]:
    """Run the child, letting it pass ``kill_at - 1`` steps and SIGKILLing it before step ``kill_at``.

    Returns the names of the steps it announced.
    """
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.snapshot.crash_child", str(root)], cwd=REPO,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
    )
    steps: list[str] = []
    try:
        for line in child.stdout:
            if line.startswith("DONE"):
                break
            assert line.startswith("STEP "), line
            steps.append(line.split()[2])
            if len(steps) == kill_at:
                os.kill(child.pid, signal.SIGKILL)
                break
            child.stdin.write("\n")
            child.stdin.flush()
    finally:
        child.stdin.close()
        child.wait(timeout=60)
        child.stdout.close()
    if kill_at is None:
        assert child.returncode == 0
    else:
        assert child.returncode == -signal.SIGKILL
    return steps


def assert_never_looks_complete_unless_it_is(root: Path) -> str:
    entries = sorted(p.name for p in root.iterdir()) if root.exists() else []
    if entries == [SNAPSHOT_ID]:
        snapshot = root / SNAPSHOT_ID
        report = verify(snapshot, "records")
        assert report.ok, report.summary()
        assert sum(len(list(open_snapshot(snapshot).documents(n))) for n in ("first", "second")) == 120
        return "complete"
    assert entries in ([], [f".{SNAPSHOT_ID}.inprogress"]), entries
    return "in progress" if entries else "nothing"


@pytest.mark.slow
def test_sigkill_at_random_points_never_leaves_a_complete_looking_folder(tmp_path: Path) -> None:
    steps = run_child(tmp_path / "full", kill_at=None)
    assert assert_never_looks_complete_unless_it_is(tmp_path / "full") == "complete"
    assert len(steps) > 50, "the child must pause at many points for this test to mean anything"
    rename = steps.index("rename") + 1  # 1-based: killing before this step means the rename never ran
    # The last steps write the manifest and rename; always include them, plus a seeded sample of the rest.
    last = len(steps)
    kill_points = sorted(set(random.Random(2026).sample(range(1, last - 6), 14)) | set(range(last - 6, last + 1)))
    outcomes = {}
    for kill_at in kill_points:
        root = tmp_path / f"kill-{kill_at}"
        assert len(run_child(root, kill_at)) == kill_at
        outcomes[kill_at] = assert_never_looks_complete_unless_it_is(root)
    before = {outcomes[k] for k in kill_points if k <= rename}
    after = {outcomes[k] for k in kill_points if k > rename}
    assert before == {"in progress"}, outcomes
    assert after == {"complete"}, "killed after the rename, the snapshot is complete and verifies"
