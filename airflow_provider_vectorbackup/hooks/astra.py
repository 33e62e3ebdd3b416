"""AstraDBHook: an Airflow ``astra_db`` connection turned into an :class:`AstraSource`.

The client, with everything it does (lossless scans, idempotent inserts, retries, throttling),
is :class:`~airflow_provider_vectorbackup.sources.astra.client.AstraSource`, free of Airflow; the
CLI builds the same one. As with ``QdrantHook``, callers use the client the hook returns. The
operators take any source's connection through :class:`VectorSourceHook`; this hook is its Astra
form, with the ``astra_db`` connection form and ``astra_conn_id`` as its argument's name.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_vectorbackup.connection import ConnectionSettings
from airflow_provider_vectorbackup.get_provider_info import ASTRA_CONNECTION
from airflow_provider_vectorbackup.hooks.compat import connection_form
from airflow_provider_vectorbackup.hooks.source import VectorSourceHook
from airflow_provider_vectorbackup.sources.astra.client import AstraSource
from airflow_provider_vectorbackup.sources.astra.retry import RetryPolicy


@connection_form(ASTRA_CONNECTION)
class AstraDBHook(VectorSourceHook):
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
        super().__init__(astra_conn_id, keyspace=keyspace, retry_policy=retry_policy, **kwargs)

    @property
    def astra_conn_id(self) -> str:
        """The connection's id, under this hook's argument name."""
        return self.source_conn_id

    def _open(self, settings: ConnectionSettings) -> AstraSource:
        # Whatever the connection's type says, as before the registry: this hook is Astra's by name.
        return AstraSource.from_connection(settings, **self.source_options)

    def get_conn(self) -> AstraSource:
        return self.conn

    def test_connection(self) -> tuple[bool, str]:
        """List the keyspace's collections, reported by the client, which blanks the token in any message."""
        try:
            source = self.get_conn()
        except Exception as exc:  # the connection lookup failed; reported to the UI and CLI, never raised
            return False, f"{type(exc).__name__}: {exc}"
        return source.test_connection()
