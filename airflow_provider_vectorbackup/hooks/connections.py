"""Connection lookup through Airflow: environment variables, secrets backends, then the metadata database.

The operators and the CLI both resolve a connection id here, then build their clients from the
Airflow-free :class:`~airflow_provider_vectorbackup.connection.ConnectionSettings`. The CLI needs no
metadata database for connections given as ``AIRFLOW_CONN_*`` variables.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TextIO, TypeVar

from airflow_provider_vectorbackup.connection import ConnectionSettings

Keys = TypeVar("Keys")


def connection_settings(conn_id: str) -> ConnectionSettings:
    """The fields of Airflow connection ``conn_id``."""
    from airflow.providers.common.compat.sdk import BaseHook  # here, so that load_airflow decides where its output goes

    return ConnectionSettings.from_connection(BaseHook.get_connection(conn_id))


def keys_from(loader: Callable[[ConnectionSettings], Keys], conn_id: str | None) -> Keys | None:
    """Signing or encryption keys that ``loader`` reads from connection ``conn_id``; ``None`` when none is named."""
    return loader(connection_settings(conn_id)) if conn_id else None


def load_airflow(*, stdout: TextIO) -> None:
    """Import Airflow now, with whatever it prints sent to ``stdout``.

    Importing Airflow configures its own logging, to stdout, and may log while doing so. A program
    that keeps stdout for its results (the CLI) loads it first, then configures logging over it.
    """
    with contextlib.redirect_stdout(stdout):
        import airflow  # noqa: F401
