"""A connection's fields as plain data: what a source, a store or a key loader needs to be built.

Clients in ``sources/`` and ``stores/`` and the key loaders are built from :class:`ConnectionSettings`,
never from Airflow objects. The hooks fill it from an Airflow connection, and so does the CLI,
through the same lookup (``hooks/connections.py``), so one connection configures the scheduler and
a bad-day restore alike, and nothing writes to the environment to make a client.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ConnectionSettings:
    """The fields of one connection. ``password`` and ``extra`` (which may hold keys) never appear in ``repr``."""

    conn_id: str
    conn_type: str | None = None
    host: str | None = None
    port: int | None = None
    login: str | None = None
    password: str | None = field(default=None, repr=False)
    schema: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_connection(cls, connection: Any) -> ConnectionSettings:
        """From an Airflow ``Connection`` (or anything with its attributes and ``extra_dejson``).

        An empty field is ``None``: a connection URI without a host or path (``qdrant://?path=...``)
        gives empty strings, which a source would otherwise have to tell from a real value.
        """
        return cls(conn_id=connection.conn_id, conn_type=connection.conn_type, host=connection.host or None,
                   port=connection.port or None, login=connection.login or None,
                   password=connection.password or None, schema=connection.schema or None,
                   extra=dict(connection.extra_dejson or {}))

    def without_password(self, text: str) -> str:
        """``text`` with the password blanked out, should a client library have quoted it in an error."""
        return text.replace(self.password, "***") if self.password else text

    def flag(self, key: str, default: bool = False) -> bool:
        """A yes/no extra, whether JSON gave a boolean or a URI's query string gave text (``"false"`` is no)."""
        value = (self.extra or {}).get(key)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "1", "yes", "on"):
            return True
        if text in ("false", "0", "no", "off"):
            return False
        raise ValueError(f"connection {self.conn_id!r}: extra {key!r} must be true or false, not {value!r}")
