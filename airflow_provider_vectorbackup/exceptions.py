"""Exceptions the provider's callers must tell apart, importable without Airflow (the CLI: refused credentials).

``VectorLossTaskFailure``, which is an Airflow exception, lives in :mod:`.operators.failures`; importing
it from here still works, with a DeprecationWarning.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_vectorbackup.deprecation import moved


class CredentialsRejected(Exception):
    """A service refused a connection's credentials (HTTP 401 or 403, or a refused token grant).

    The message names the connection and what to check in it; it never holds the secret.

    :param conn_id: the Airflow connection whose credentials were refused.
    :param service: ``"Astra"`` or ``"Box"``.
    :param status: the HTTP status of the refusal, if there was one.
    """

    def __init__(self, message: str, *, conn_id: str, service: str, status: int | None) -> None:
        super().__init__(message)
        self.conn_id = conn_id
        self.service = service
        self.status = status


def __getattr__(name: str) -> Any:
    return moved(__name__, name, {"VectorLossTaskFailure": "airflow_provider_vectorbackup.operators.failures"})
