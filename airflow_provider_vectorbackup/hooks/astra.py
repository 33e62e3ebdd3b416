"""AstraDBHook: an Airflow ``astra_db`` connection turned into an :class:`AstraSource`.

The client, with everything it does (lossless scans, idempotent inserts, retries, throttling),
is :class:`~airflow_provider_vectorbackup.sources.astra.client.AstraSource`, free of Airflow; the
CLI builds the same one. As with ``QdrantHook``, callers use the client the hook returns.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from airflow.providers.common.compat.sdk import BaseHook

from airflow_provider_vectorbackup.hooks.compat import connection_form
from airflow_provider_vectorbackup.get_provider_info import ASTRA_CONNECTION
from airflow_provider_vectorbackup.hooks.connections import connection_settings
from airflow_provider_vectorbackup.sources.astra.client import AstraSource
from airflow_provider_vectorbackup.sources.astra.retry import RetryPolicy


@connection_form(ASTRA_CONNECTION)
class AstraDBHook(BaseHook):
    """Reads one Data API database's connection (Astra, HCD or DSE); :meth:`get_conn` is its client.

    :param astra_conn_id: Airflow connection of type ``astra_db``; see docs/connections.md.
    :param keyspace: overrides the connection's ``keyspace`` extra.
    :param retry_policy: how idempotent requests are retried; by default from the connection's
        ``max_attempts`` extra.
    """

    conn_name_attr = "astra_conn_id"
    default_conn_name = "astra_default"
    conn_type = "astra_db"
    hook_name = "Astra DB (Data API)"

    def __init__(self, astra_conn_id: str = default_conn_name, *, keyspace: str | None = None,
                 retry_policy: RetryPolicy | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.astra_conn_id = astra_conn_id
        self.keyspace = keyspace
        self.retry_policy = retry_policy

    def __repr__(self) -> str:
        return f"{type(self).__name__}(astra_conn_id={self.astra_conn_id!r})"

    @cached_property
    def conn(self) -> AstraSource:
        """The client, built on first use from the connection (looked up once), then kept."""
        return AstraSource.from_connection(connection_settings(self.astra_conn_id), keyspace=self.keyspace,
                                           retry_policy=self.retry_policy)

    def get_conn(self) -> AstraSource:
        return self.conn

    def test_connection(self) -> tuple[bool, str]:
        """List the keyspace's collections: the cheapest call that proves endpoint, token and keyspace."""
        try:
            source = self.get_conn()
        except Exception as exc:  # the connection lookup failed; reported to the UI and CLI, never raised
            return False, f"{type(exc).__name__}: {exc}"
        return source.test_connection()
