"""The main job, offline: back up Astra collections to Box with Airflow, verify, restore, and prove the restore.

``make demo`` runs it. It starts the local Astra and Box stand-ins, fills them with realistic
collections, points Airflow's ``astra_default`` and ``box_default`` connections at them, and runs
the example DAGs with ``airflow dags test`` on an embedded SQLite database. ``--regression``
(``make demo-guard``) makes the Astra stand-in stop returning ``$vector``, to show the
vector-loss guard refusing to call that a backup. Exits non-zero if anything did not go as it must.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

from airflow_provider_vectorbackup.testing import sample_data
from airflow_provider_vectorbackup.testing.astra import AstraStandIn
from airflow_provider_vectorbackup.testing.box import BoxStandIn

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "demo-output"
AIRFLOW_HOME = OUT / "airflow"


def airflow_environment(astra: AstraStandIn, box: BoxStandIn) -> dict[str, str]:
    connections = {
        "AIRFLOW_CONN_ASTRA_DEFAULT": {"conn_type": "astra_db", "host": astra.url, "password": astra.token,
                                       "extra": {"keyspace": sample_data.KEYSPACE, "environment": "other"}},
        "AIRFLOW_CONN_BOX_DEFAULT": {"conn_type": "box", "login": box.client_id, "password": box.client_secret,
                                     "extra": {"enterprise_id": box.enterprise_id, "base_url": box.url,
                                               "upload_url": box.upload_url, "oauth2_url": box.oauth2_url}},
    }
    return {
        **os.environ, **{name: json.dumps(value) for name, value in connections.items()},
        "AIRFLOW_HOME": str(AIRFLOW_HOME), "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "example_dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
    }


def airflow(env: dict[str, str], *args: str) -> int:
    command = [sys.executable, "-m", "airflow", *args]
    print(f"$ airflow {' '.join(args)}", flush=True)
    log = OUT / f"{args[0]}-{args[-1] if args[0] == 'db' else args[2]}.log"
    with open(log, "w") as output:
        code = subprocess.run(command, env=env, stdout=output, stderr=subprocess.STDOUT).returncode
    print(f"  exit {code} (output in {log.relative_to(REPO)})", flush=True)
    return code


def latest_run(dag_id: str) -> tuple[str | None, dict[str, object]]:
    """The newest run's state and XComs, read from the demo's SQLite metadata database.

    (``airflow dags test`` exits 0 even when the run fails, so the state must be read.)
    """
    with sqlite3.connect(AIRFLOW_HOME / "airflow.db") as db:
        run = db.execute("SELECT run_id, state FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1",
                         (dag_id,)).fetchone()
        rows = db.execute("SELECT task_id, key, value FROM xcom WHERE dag_id = ? AND run_id = ?",
                          (dag_id, run[0])).fetchall() if run else []
    return (run[1] if run else None), {f"{task}:{key}": json.loads(value) for task, key, value in rows}


def run_dag(env: dict[str, str], dag_id: str, *extra: str) -> tuple[bool, dict[str, object]]:
    """``airflow dags test``; True when the command and the DAG run both succeeded."""
    exit_code = airflow(env, "dags", "test", dag_id, *extra)
    state, xcoms = latest_run(dag_id)
    print(f"  DAG run state: {state}")
    return exit_code == 0 and state == "success", xcoms


def print_backup(xcoms: dict[str, object]) -> bool:
    summary = xcoms.get("dump:return_value")
    report = xcoms.get("verify:return_value")
    plan = xcoms.get("retention:return_value")
    if not summary:
        print("backup: the dump reported no snapshot")
        return False
    print(f"\nBackup {summary['snapshot_id']}: {summary['status']}, in {summary['store']} at {summary['path']}")
    print(f"  {'collection':<12}{'documents':>10}{'with $vector':>14}{'bytes':>12}  content digest")
    for name, c in summary["collections"].items():
        print(f"  {name:<12}{c['documents']:>10,}{c['documents_with_vector']:>14,}{c['bytes']:>12,}  "
              f"{c['content_digest'][:16]}…")
    print(f"  manifest.json sha256 {summary['manifest_sha256']}")
    print(f"  verification: {'passed' if report and report.get('ok') else 'FAILED'}"
          + (f" ({report['files_checked']} files, {report['bytes_checked']:,} bytes checked against the manifest)"
             if report else ""))
    if plan:
        print(f"  {plan['summary']}")
    return summary["status"] == "complete" and bool(report and report.get("ok"))


def print_restore(xcoms: dict[str, object]) -> bool:
    report = xcoms.get("restore:return_value")
    if not report:
        print("restore: no validation report (the restore task failed)")
        return False
    print(f"\nRestore of {report['snapshot_id']} into keyspace {report['keyspace']}: "
          f"{'validated' if report['ok'] else 'FAILED validation'}")
    print(f"  {'collection':<12}{'target':<22}{'expected':>9}{'restored':>9}  digest  recall@10")
    for name, r in report["collections"].items():
        digest = "match" if r["digest_restored"] == r["digest_expected"] else "DIFFERS"
        recall = "-" if r["recall_at_10"] is None else f"{r['recall_at_10']:.2f} ({r['queries']} queries)"
        print(f"  {name:<12}{r['target']:<22}{r['documents_expected']:>9,}{r['documents_restored']:>9,}  "
              f"{digest:<6}  {recall}")
        if r["vectorize_text_dropped"]:
            print(f"    {r['vectorize_text_dropped']} $vectorize text(s) not restored beside their stored vectors "
                  f"(the Data API refuses both; see docs/restore.md)")
    return bool(report["ok"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regression", action="store_true", help="make the Astra stand-in drop $vector")
    args = parser.parse_args()
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir()
    with AstraStandIn(page_size=50) as astra, BoxStandIn() as box:
        counts = sample_data.seed(astra)
        print(f"Astra stand-in {astra.url}: " + ", ".join(f"{n} ({c:,} docs)" for n, c in counts.items()))
        print(f"Box stand-in {box.url}")
        env = airflow_environment(astra, box)
        if airflow(env, "db", "migrate"):
            return 1
        if args.regression:
            astra.regression_mode = True
            return guard_demo(env, box)
        backup_ok, xcoms = run_dag(env, "vector_backup")
        backup_ok = print_backup(xcoms) and backup_ok
        conf = json.dumps({"snapshot_id": "latest", "collections": [], "target_prefix": "restored_", "if_exists": "fail"})
        restore_ok, xcoms = run_dag(env, "vector_restore", "--conf", conf)
        restore_ok = print_restore(xcoms) and restore_ok
    print("\nDemo " + ("succeeded." if backup_ok and restore_ok else "FAILED: see the logs above."))
    return 0 if backup_ok and restore_ok else 1


def guard_demo(env: dict[str, str], box: BoxStandIn) -> int:
    print("\nThe Astra stand-in now omits $vector from every read, as a client regression would.")
    succeeded, _ = run_dag(env, "vector_backup")
    failed = not succeeded
    alerts = [line for line in (OUT / "dags-vector_backup.log").read_text().splitlines() if "VECTOR LOSS" in line]
    folders = sorted(row["path"] for row in box.tree() if row["type"] == "folder" and row["path"].count("/") == 2)
    print(f"  the backup DAG {'failed, as it must' if failed else 'SUCCEEDED, which it must not'}")
    print(f"  alert: {alerts[0].strip() if alerts else 'NONE'}")
    print(f"  Box holds: {folders}  (sealed INCOMPLETE: restore and retention will not treat it as a backup)")
    guarded = failed and bool(alerts) and all(f.endswith(".INCOMPLETE") for f in folders)
    print("\nGuard demo " + ("succeeded: no vectorless backup was passed off as complete." if guarded else "FAILED."))
    return 0 if guarded else 1


if __name__ == "__main__":
    sys.exit(main())
