"""Exceptions the provider's callers must tell apart: Airflow (a tripped guard) and the CLI (refused credentials)."""

from __future__ import annotations

from airflow.providers.common.compat.sdk import AirflowFailException

from airflow_provider_vectorbackup.snapshot.errors import VectorLossError


class VectorLossTaskFailure(VectorLossError, AirflowFailException):
    """A tripped vector-loss guard inside a task.

    It is a :class:`VectorLossError`, so failure callbacks recognise it, and an
    ``AirflowFailException``, so Airflow does not retry: a retry would lose the same vectors.
    """

    @classmethod
    def from_error(cls, error: VectorLossError, **more_facts: object) -> VectorLossTaskFailure:
        return cls(error.collection, error.reason, **{**error.facts, **more_facts})


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
