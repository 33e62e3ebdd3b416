"""A dump killed mid-way leaves nothing that verification, restore or retention treats as complete."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_vectorbackup.check import check_stored
from airflow_provider_vectorbackup.hooks.box import BoxHook
from airflow_provider_vectorbackup.hooks.connections import open_store
from airflow_provider_vectorbackup.snapshot.layout import SnapshotState
from airflow_provider_vectorbackup.check.snapshot import WAITING, check_snapshot
from airflow_provider_vectorbackup.jobs.retention import RetentionPolicy, SnapshotRecord, plan_retention
from airflow_provider_vectorbackup.stores.box.store import BoxStore
from airflow_provider_vectorbackup.stores.spec import StoreSpec
from airflow_provider_vectorbackup.testing import sample_data

REPO = Path(__file__).resolve().parents[2]
SNAPSHOT_ID = "20260101T000000Z"
BOX = StoreSpec("box", "vector-backups")


def dump_until_killed(after_uploads: int) -> list[str]:
    child = subprocess.Popen([sys.executable, "-m", "tests.system.dump_child", SNAPSHOT_ID], cwd=REPO, env=os.environ,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
    uploaded = []
    try:
        for line in child.stdout:
            if line.startswith("UPLOADED "):
                uploaded.append(line.split()[1])
                if len(uploaded) == after_uploads:
                    os.kill(child.pid, signal.SIGKILL)
                    break
                child.stdin.write("\n")
                child.stdin.flush()
    finally:
        child.stdin.close()
        child.wait(timeout=120)
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL, "the dump must have been killed mid-way"
    return uploaded


@pytest.mark.slow
def test_a_killed_dump_is_never_taken_for_a_complete_snapshot(astra_stand_in, astra_connection, box_stand_in,
                                                                box_connection) -> None:
    sample_data.seed(astra_stand_in, {"articles": 600, "products": 50, "faq": 10})
    uploaded = dump_until_killed(after_uploads=3)
    assert any("part-" in path for path in uploaded)

    store = BoxStore.at_path(BoxHook().get_conn(), "vector-backups")
    (left,) = store.snapshots()
    assert left.state is SnapshotState.IN_PROGRESS and left.ref.folder_name == f".{SNAPSHOT_ID}.inprogress"
    assert check_snapshot(BOX, SNAPSHOT_ID, "files", open_store=open_store).outcome == WAITING
    with pytest.raises(Exception, match="no complete snapshot"):
        store.get("latest")
    now = left.ref.created_at + dt.timedelta(days=1)
    plan = plan_retention([SnapshotRecord(left.ref, ours=True, verified=False)], RetentionPolicy(keep_last=1),
                          now=now, current_snapshot_id=None, current_run_verified=True)
    assert plan.delete == [], "an in-progress folder within the grace period may still be a running dump"

    # The retry of the same run cleans up the leftover and completes.
    retry = subprocess.run([sys.executable, "-m", "tests.system.dump_child", SNAPSHOT_ID, "--no-pause"], cwd=REPO,
                           env=os.environ, capture_output=True, text=True, timeout=300)
    assert "DONE" in retry.stdout, retry.stderr[-2000:]
    (sealed,) = store.snapshots()
    assert sealed.state is SnapshotState.COMPLETE and check_stored(store, sealed).ok
