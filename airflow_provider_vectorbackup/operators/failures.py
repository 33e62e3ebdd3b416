"""How a task fails when a retry cannot help: Airflow's side of the provider's errors."""

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
