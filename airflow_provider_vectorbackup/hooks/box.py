"""``BoxHook``: an Airflow ``box`` connection turned into a configured :class:`BoxApi`.

The Box client itself (verified uploads and downloads, folders, throttling, secret-free errors)
lives in :mod:`airflow_provider_vectorbackup.stores.box.client`, free of Airflow, so the CLI builds
the same client from the same connection without a hook.
"""

from __future__ import annotations

from functools import cached_property

from airflow.providers.common.compat.sdk import BaseHook

from airflow_provider_vectorbackup.hooks.compat import connection_form
from airflow_provider_vectorbackup.get_provider_info import BOX_CONNECTION
from airflow_provider_vectorbackup.hooks.connections import connection_settings
from airflow_provider_vectorbackup.stores.box.client import BoxApi

__all__ = ["BoxHook"]


@connection_form(BOX_CONNECTION)
class BoxHook(BaseHook):
    """Read an Airflow ``box`` connection and build the :class:`BoxApi` it describes.

    The connection may hold CCG, JWT or developer-token credentials; see ``docs/connections.md``.
    Constructing the hook does no I/O: the connection is read on first use of :attr:`conn`.

    :param box_conn_id: Airflow connection id of type ``box``.
    """

    conn_name_attr = "box_conn_id"
    default_conn_name = "box_default"
    conn_type = "box"
    hook_name = "Box"

    def __init__(self, box_conn_id: str = default_conn_name, **kwargs) -> None:
        super().__init__(**kwargs)
        self.box_conn_id = box_conn_id

    def __repr__(self) -> str:
        return f"{type(self).__name__}(box_conn_id={self.box_conn_id!r})"

    @cached_property
    def conn(self) -> BoxApi:
        """The Box client for the connection, built once; it signs in on its first request."""
        return BoxApi.from_connection(connection_settings(self.box_conn_id))

    def get_conn(self) -> BoxApi:
        """The (cached) :class:`BoxApi`; its ``client`` attribute is the boxsdk ``BoxClient``."""
        return self.conn

    def test_connection(self) -> tuple[bool, str]:
        """Check the credentials by reading the root folder; ``(ok, message)``, never a secret."""
        return self.conn.test_connection()
