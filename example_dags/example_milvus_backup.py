"""Nightly backup of a Milvus database to Box, verified: dump -> verify.

Reads the connections ``milvus_default`` (type ``milvus``: host ``http://milvus:19530`` and the
token in password, or the ``path`` extra for a Milvus Lite directory; docs/sources.md, "Milvus")
and ``box_default``.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import DAG

from airflow_provider_vectorbackup.notifications.vector_loss import vector_loss_callback
from airflow_provider_vectorbackup.operators.dump import VectorDumpOperator
from airflow_provider_vectorbackup.sensors.manifest import ManifestVerifySensor

BOX_FOLDER = "milvus-backups"

with DAG(
    dag_id="example_milvus_backup",
    schedule="@daily",
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc),
    catchup=False,
    max_active_runs=1,
    tags=["vector-backup", "milvus"],
    doc_md=__doc__,
) as dag:
    dump = VectorDumpOperator(
        task_id="dump",
        source_conn_id="milvus_default",
        box_folder=BOX_FOLDER,
        collections=None,  # every collection of the connection's database
        scan_streams=4,  # primary-key ranges read at once per collection
        retries=2,
        retry_delay=dt.timedelta(minutes=5),
        on_failure_callback=vector_loss_callback(),
    )
    verify = ManifestVerifySensor(
        task_id="verify",
        box_folder=BOX_FOLDER,
        dump_task_id="dump",
        level="records",
        poke_interval=60,
        timeout=3600,
        mode="reschedule",
    )
    dump >> verify
