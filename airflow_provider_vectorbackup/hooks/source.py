"""VectorSourceHook: a connection of any type a source reads, opened as the source its type names.

The connection's type picks the engine through :mod:`~airflow_provider_vectorbackup.sources.registry`
(``astra_db``, ``qdrant``, ``postgres``, ``chroma``, ``milvus``, ``pinecone``, ``weaviate``), so the operators
take any source's connection under one argument, ``source_conn_id``. An engine's client library is an extra, imported
only when a connection of its type is opened.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from airflow.providers.common.compat.sdk import BaseHook

from airflow_provider_vectorbackup.connection import ConnectionSettings
from airflow_provider_vectorbackup.deprecation import renamed_argument
from airflow_provider_vectorbackup.hooks.connections import connection_settings
from airflow_provider_vectorbackup.sources.base import VectorSource
from airflow_provider_vectorbackup.sources.registry import (
    MissingSourceExtra, UnknownSourceType, UnsupportedSourceOption, open_source,
)

__all__ = ["DEFAULT_SOURCE_CONN_ID", "UNUSABLE_SOURCE", "VectorSourceHook", "source_conn_id_from"]

DEFAULT_SOURCE_CONN_ID = "astra_default"
"""The source connection when none is named: Astra's, the only source there was, so existing DAGs keep theirs."""

UNUSABLE_SOURCE = (UnknownSourceType, MissingSourceExtra, UnsupportedSourceOption)
"""What opening a source raises when its connection, the install or an option is wrong: no retry helps."""


def source_conn_id_from(owner: str, source_conn_id: str | None, astra_conn_id: str | None) -> str:
    """The source connection an operator was given, as ``source_conn_id`` or under its old name ``astra_conn_id``.

    :raises ValueError: both were given, even if equal: one of them is a leftover.
    """
    if astra_conn_id is None:
        return DEFAULT_SOURCE_CONN_ID if source_conn_id is None else source_conn_id
    if source_conn_id is not None:
        raise ValueError(f"{owner}: give source_conn_id ({source_conn_id!r}) or its deprecated old name "
                         f"astra_conn_id ({astra_conn_id!r}), not both")
    renamed_argument(owner, "astra_conn_id", "source_conn_id", stacklevel=5)  # the DAG file's line
    return astra_conn_id


class VectorSourceHook(BaseHook):
    """Opens the source of connection ``source_conn_id``, whatever its type; :meth:`get_conn` is the source.

    Constructing it looks nothing up; the connection is read on first use of :attr:`conn`.

    :param source_conn_id: a connection of a type in docs/connections.md (``astra_db``, ``qdrant``,
        ``postgres``, ``chroma``, ``milvus``, ``pinecone``, ``weaviate``).
    :param source_options: passed to the source (e.g. Astra's ``keyspace``); one left ``None`` is not
        passed, and one the engine does not take fails naming the engine.
    """

    conn_name_attr = "source_conn_id"
    default_conn_name = DEFAULT_SOURCE_CONN_ID
    hook_name = "Vector source"
    # No conn_type: this hook serves every type the registry knows; the typed hooks below it register the forms.

    def __init__(self, source_conn_id: str = default_conn_name, *, logger_name: str | None = None,
                 **source_options: Any) -> None:
        super().__init__(logger_name=logger_name)
        self.source_conn_id = source_conn_id
        self.source_options = {name: value for name, value in source_options.items() if value is not None}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.conn_name_attr}={self.source_conn_id!r})"

    @cached_property
    def settings(self) -> ConnectionSettings:
        """The connection's fields, looked up once."""
        return connection_settings(self.source_conn_id)

    @cached_property
    def conn(self) -> VectorSource:
        """The source, built on first use from the connection, then kept; building it sends nothing."""
        return self._open(self.settings)

    def _open(self, settings: ConnectionSettings) -> VectorSource:
        return open_source(settings, **self.source_options)

    def get_conn(self) -> VectorSource:
        return self.conn

    def test_connection(self) -> tuple[bool, str]:
        """List the collections: the cheapest call every source has that proves address, credentials and namespace."""
        try:
            source = self.get_conn()
            found = source.list_collections()
        except Exception as exc:  # reported to the UI and CLI, never raised
            return False, self._without_password(f"{type(exc).__name__}: {exc}")
        return True, f"Connected to {source.kind} source {source.namespace!r}: {len(found)} collection(s)"

    def _without_password(self, message: str) -> str:
        """``message`` with the connection's password blanked out, should a client library have quoted it."""
        return self.settings.without_password(message) if "settings" in vars(self) else message
