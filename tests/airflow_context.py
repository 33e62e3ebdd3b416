"""Just enough of Airflow's task context to run operators outside a DAG run, with XCom kept in a dict."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any


class RecordingTI:
    """Just enough of a task instance for operators run outside a DAG run: XCom kept in a dict."""

    def __init__(self, dag_id: str = "vector_backup", task_id: str = "task", run_id: str = "test") -> None:
        self.dag_id, self.task_id, self.run_id = dag_id, task_id, run_id
        self.xcoms: dict[tuple[str, str], Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[(self.task_id, key)] = value

    def xcom_pull(self, task_ids: str, key: str = "return_value", include_prior_dates: bool = False) -> Any:
        return self.xcoms.get((task_ids, key))


class OutletEvents(dict):
    """Like Airflow's outlet-event accessors: one event per asset, keyed by its name and URI.

    Not by the ``Asset`` itself: on Airflow 3.1 an asset with ``extra`` cannot be hashed.
    """

    def __getitem__(self, asset: Any) -> SimpleNamespace:
        return self.setdefault((asset.name, asset.uri), SimpleNamespace())


def context_for(ti: RecordingTI) -> dict[str, Any]:
    return {"ti": ti, "outlet_events": OutletEvents()}
