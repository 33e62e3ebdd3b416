"""ChromaHook: the ``chroma`` connection type (its form in the UI), opened as a :class:`ChromaSource`.

The source itself is ``sources/chroma/client.py`` (the ``chroma`` extra); this hook only gives the
connection type a form, a default id and ``airflow connections test``. The operators open a
``chroma`` connection the same way, through :class:`VectorSourceHook`.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_vectorbackup.get_provider_info import CHROMA_CONNECTION
from airflow_provider_vectorbackup.hooks.compat import connection_form
from airflow_provider_vectorbackup.hooks.source import VectorSourceHook

__all__ = ["ChromaHook"]


@connection_form(CHROMA_CONNECTION)
class ChromaHook(VectorSourceHook):
    """A Chroma server (host, port, ``ssl``, token) or a local Chroma directory (extra ``path``); see docs/connections.md.

    :param source_conn_id: connection of type ``chroma``.
    """

    default_conn_name = "chroma_default"
    conn_type = "chroma"
    hook_name = "Chroma"

    def __init__(self, source_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(source_conn_id, **kwargs)
