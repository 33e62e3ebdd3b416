"""Child process for the killed-dump test: runs VectorDumpOperator, pausing after every uploaded file.

``--no-pause`` runs it straight through, as the retry of the killed run.

Connections come from the AIRFLOW_CONN_* variables the parent's fixtures set. After each upload
it prints ``UPLOADED <path>`` and waits for a line on stdin, so the parent can SIGKILL it at an
exact point.
"""

from __future__ import annotations

import sys
from types import SimpleNamespace

from airflow_provider_vectorbackup.operators.dump import VectorDumpOperator
from airflow_provider_vectorbackup.stores.box import store as box_store
from tests.airflow_context import OutletEvents

original_put = box_store.SnapshotUpload.put


def paused_put(self, entry, local):
    original_put(self, entry, local)
    print(f"UPLOADED {entry.path}", flush=True)
    if not sys.stdin.readline():
        raise SystemExit("parent went away")


def main(snapshot_id: str, pause: bool = True) -> None:
    if pause:
        box_store.SnapshotUpload.put = paused_put
    operator = VectorDumpOperator(task_id="dump", box_folder="vector-backups", snapshot_id=snapshot_id,
                                  segment_max_bytes=200_000)
    ti = SimpleNamespace(dag_id="vector_backup", task_id="dump", run_id="killed", xcom_push=lambda **kw: None)
    operator.execute({"ti": ti, "outlet_events": OutletEvents()})
    print("DONE", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], pause="--no-pause" not in sys.argv)
