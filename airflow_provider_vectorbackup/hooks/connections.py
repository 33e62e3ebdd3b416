"""Connection lookup through Airflow: environment variables, secrets backends, then the metadata database.

The operators and the CLI both resolve a connection id here, then build their clients from the
Airflow-free :class:`~airflow_provider_vectorbackup.connection.ConnectionSettings`. The CLI needs no
metadata database for connections given as ``AIRFLOW_CONN_*`` variables, nor for a connection URI
(:func:`connection_settings_from_uri`), which Airflow's own parser reads.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO, TypeVar

from airflow_provider_vectorbackup.connection import ConnectionSettings

if TYPE_CHECKING:
    from airflow_provider_vectorbackup.stores.base import Store
    from airflow_provider_vectorbackup.stores.spec import StoreSpec

Keys = TypeVar("Keys")


def connection_settings(conn_id: str) -> ConnectionSettings:
    """The fields of Airflow connection ``conn_id``."""
    from airflow.providers.common.compat.sdk import BaseHook  # here, so that load_airflow decides where its output goes

    return ConnectionSettings.from_connection(BaseHook.get_connection(conn_id))


def open_store(spec: StoreSpec, *, create: bool = False) -> Store:
    """The store ``spec`` names, with its connections and object store URL resolved through Airflow.

    The operators, the sensor and the CLI open every store here, so none of them can leave an object store
    without the filesystem resolver that the Airflow-free ``StoreSpec.open`` is given.
    """
    from airflow_provider_vectorbackup.hooks.object_storage import object_filesystem

    return spec.open(connection_settings, create=create, filesystems=object_filesystem)


class InvalidConnectionUri(ValueError):
    """A connection URI that Airflow cannot read; the message never repeats the URI, which may hold a secret."""


def connection_settings_from_uri(uri: str, conn_id: str) -> ConnectionSettings:
    """The fields of a connection written as a URI, by Airflow's parser (``Connection.from_uri``: ``__extra__`` or
    query-string extras, ``postgresql`` read as ``postgres``, ``-`` in the type as ``_``); nothing is looked up.

    Query-string extras stay text (``?ssl=true`` is ``"true"``), as Airflow 3.2+ reads them in ``AIRFLOW_CONN_*``
    variables too (3.1 decoded them as JSON there); typed extras go in ``__extra__``.

    :param conn_id: what messages call this connection (the URI is never repeated: it may hold a password).
    :raises InvalidConnectionUri: Airflow cannot read it, it names no connection type, or its extras are not
        a JSON object.
    """
    from airflow.providers.common.compat.sdk import Connection

    try:  # Airflow's message quotes the whole URI, password included: it is replaced, never chained
        connection = Connection.from_uri(uri, conn_id=conn_id)
    except Exception:
        connection = None
    if connection is None or not connection.conn_type:
        raise InvalidConnectionUri(
            f"{conn_id} is not a connection URI Airflow reads: write <type>://[login:password@]host[:port]"
            f"[/schema][?extra=value&...], e.g. qdrant://?path=/data/qdrant (docs/connections.md)")
    if connection.extra:  # Airflow would log a bad one and carry on without it
        try:
            extra = json.loads(connection.extra)
        except ValueError:
            extra = None
        if not isinstance(extra, dict):
            raise InvalidConnectionUri(f"the __extra__ of {conn_id} is not a JSON object")
    return ConnectionSettings.from_connection(connection)


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
