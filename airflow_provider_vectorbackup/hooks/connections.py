"""Connection lookup through Airflow: environment variables, secrets backends, then the metadata database.

The operators and the CLI both resolve a connection id here, then build their clients from the
Airflow-free :class:`~airflow_provider_vectorbackup.connection.ConnectionSettings`. The CLI needs no
metadata database for connections given as ``AIRFLOW_CONN_*`` variables.
"""

from __future__ import annotations

from airflow.providers.common.compat.sdk import BaseHook

from airflow_provider_vectorbackup.connection import ConnectionSettings


def connection_settings(conn_id: str) -> ConnectionSettings:
    """The fields of Airflow connection ``conn_id``."""
    return ConnectionSettings.from_connection(BaseHook.get_connection(conn_id))
