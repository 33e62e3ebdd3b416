"""One retention rule for both callers: ``vectorbackup prune`` and ``RetentionOperator`` run jobs.retention.prune.

Owned: the manifest's producer names the owner (any, when none is given), and a folder without a
readable manifest only when the caller's ledger lists it. Verified: the checker's files-level
report on the snapshot passes. Nothing is deleted unless the current snapshot verifies.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from airflow_provider_vectorbackup.hooks.astra import AstraDBHook
from airflow_provider_vectorbackup.jobs.dump import DumpOptions, dump_snapshot
from airflow_provider_vectorbackup.jobs.retention import (
    NOT_OURS, UNVERIFIED_RUN_HOLD, RetentionOptions, RetentionPolicy, prune,
)
from airflow_provider_vectorbackup.operators.retention import LEDGER_KEY, RetentionOperator
from airflow_provider_vectorbackup.stores.local import LocalStore
from tests.airflow_context import RecordingTI, context_for
from tests.cli.test_cli import run

A1, B1, CLI1, A2, A3 = (f"2026030{day}T000000Z" for day in range(1, 6))
ABANDONED = "20250101T000000Z"
PRODUCERS = {A1: {"dag_id": "a"}, B1: {"dag_id": "b"}, CLI1: {"tool": "vectorbackup-cli"}, A2: {"dag_id": "a"},
             A3: {"dag_id": "a"}}


def history(root: Path) -> LocalStore:
    """Three snapshots of DAG a, one of DAG b, one of the CLI, and a folder abandoned in progress long ago."""
    store = LocalStore(root)
    for snapshot_id, producer in PRODUCERS.items():
        dump_snapshot(AstraDBHook().get_conn(), store, snapshot_id, DumpOptions(collections=["faq"], producer=producer))
    store.begin(ABANDONED)
    return store


def deleted(plan: dict) -> list[str]:
    return sorted(d["snapshot_id"] for d in plan["decisions"] if d["delete"])


def test_the_cli_and_the_operator_apply_the_same_ownership_rule(seeded, tmp_path: Path) -> None:
    store = history(tmp_path / "share")
    where = ["--local-folder", str(store.root)]
    by_cli = json.loads(run("prune", *where, "--keep-last", "1", "--owner", "a", "--dry-run", "--json").stdout)
    assert deleted(by_cli) == [A1, A2], "only DAG a's snapshots; the abandoned folder's owner is unknown"
    kept_as_foreign = {d["snapshot_id"] for d in by_cli["decisions"] if NOT_OURS in d["reasons"]}
    assert kept_as_foreign == {B1, CLI1, ABANDONED}

    ti = RecordingTI(dag_id="a", task_id="retention")
    ti.xcoms[("retention", LEDGER_KEY)] = {sid: {} for sid in (A1, A2, ABANDONED)}
    ti.xcoms[("dump", "snapshot_id")] = A3
    ti.xcoms[("verify", "return_value")] = {"ok": True, "snapshot": A3}  # this run's verify task passed on it
    by_operator = RetentionOperator(task_id="retention", local_folder=str(store.root), keep_last=1,
                                    dry_run=True).execute(context_for(ti))
    assert deleted(by_operator) == sorted([A1, A2, ABANDONED]), "its ledger makes the abandoned folder its own"
    sealed = {A1, B1, CLI1, A2, A3}
    assert ({d["snapshot_id"]: (d["ours"], d["delete"]) for d in by_operator["decisions"] if d["snapshot_id"] in sealed}
            == {d["snapshot_id"]: (d["ours"], d["delete"]) for d in by_cli["decisions"] if d["snapshot_id"] in sealed})

    anyone = json.loads(run("prune", *where, "--keep-last", "1", "--json").stdout)  # no --owner: every snapshot
    assert deleted(anyone) == sorted([A1, B1, CLI1, A2, ABANDONED])
    assert sorted(p.name for p in store.root.iterdir()) == [A3], "not a dry run: deleted"


def test_a_snapshot_is_verified_only_by_the_checkers_files_level_report(seeded, tmp_path: Path) -> None:
    store = history(tmp_path / "share")
    (store.root / A3 / "collections" / "faq" / "part-00000.jsonl.gz").unlink()
    policy = RetentionPolicy(keep_last=1)
    plan = prune(store, RetentionOptions(policy=policy, owner="a"), now=dt.datetime(2026, 3, 6, tzinfo=dt.timezone.utc))
    assert plan.hold == UNVERIFIED_RUN_HOLD and not plan.delete, "the newest of a's snapshots fails the check"
    verified = {d.record.ref.snapshot_id: d.record.verified for d in plan.decisions}
    assert verified[A3] is False and verified[A2] is True, "checked newest first until the last good backup"
    assert len(store.snapshots()) == 6, "nothing deleted"
    from_cli = json.loads(run("prune", "--local-folder", str(store.root), "--keep-last", "1", "--owner", "a",
                              "--json").stdout)
    assert from_cli["hold"] == UNVERIFIED_RUN_HOLD and not deleted(from_cli)

    kept = prune(store, RetentionOptions(policy=policy, owner="a", current_snapshot_id=A2, failed_checks=frozenset({A2})))
    assert kept.hold == UNVERIFIED_RUN_HOLD, "a check the caller ran that found it bad is never overruled"
    done = prune(store, RetentionOptions(policy=policy, owner="a", current_snapshot_id=A2))
    assert [d.record.ref.snapshot_id for d in done.delete] == [A1], "A3 fails the check: A2 is the last good one"
