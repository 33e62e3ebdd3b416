"""Nightly backup of a Chroma database to Box: dump -> verify.

Reads the connections ``chroma_default`` (type ``chroma``: the ``path`` extra for an embedded
database, or host/port/``ssl`` and the password as token for a server; docs/sources.md, "Chroma")
and ``box_default``. ``source_conn_id`` picks the source by the connection's type.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import DAG

from airflow_provider_vectorbackup.operators.dump import VectorDumpOperator
from airflow_provider_vectorbackup.sensors.manifest import ManifestVerifySensor

BOX_FOLDER = "chroma-backups"

with DAG(
    dag_id="example_chroma_backup",
    schedule="@daily",
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc),
    catchup=False,
    max_active_runs=1,  # Chroma's scan pages by offset: two dumps at once would only compete for the same database
    tags=["vector-backup", "chroma"],
    doc_md=__doc__,
) as dag:
    dump = VectorDumpOperator(
        task_id="dump",
        source_conn_id="chroma_default",
        box_folder=BOX_FOLDER,
        collections=None,  # every collection of the connection's tenant and database
        retries=2,
        retry_delay=dt.timedelta(minutes=5),
    )
    verify = ManifestVerifySensor(
        task_id="verify",
        box_folder=BOX_FOLDER,
        dump_task_id="dump",
        level="files",
        poke_interval=60,
        timeout=3600,
        mode="reschedule",
    )
    dump >> verify
