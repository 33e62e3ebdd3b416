"""MilvusHook: the ``milvus`` connection type (its form in the UI), opened as a :class:`MilvusSource`.

The source itself is ``sources/milvus/client.py`` (the ``milvus`` extra); this hook only gives the
connection type a form, a default id and ``airflow connections test``. The operators open a
``milvus`` connection the same way, through :class:`VectorSourceHook`.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_vectorbackup.get_provider_info import MILVUS_CONNECTION
from airflow_provider_vectorbackup.hooks.compat import connection_form
from airflow_provider_vectorbackup.hooks.source import VectorSourceHook

__all__ = ["MilvusHook"]


@connection_form(MILVUS_CONNECTION)
class MilvusHook(VectorSourceHook):
    """A Milvus server (URI, token, database) or a Milvus Lite file (extra ``path``); see docs/connections.md.

    :param source_conn_id: connection of type ``milvus``.
    """

    default_conn_name = "milvus_default"
    conn_type = "milvus"
    hook_name = "Milvus"

    def __init__(self, source_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(source_conn_id, **kwargs)
