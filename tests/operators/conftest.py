from __future__ import annotations

from collections import defaultdict
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_vectorbackup.testing import sample_data


class RecordingTI:
    """Just enough of a task instance for operators run outside a DAG run: XCom kept in a dict."""

    def __init__(self, dag_id: str = "vector_backup", task_id: str = "task", run_id: str = "test") -> None:
        self.dag_id, self.task_id, self.run_id = dag_id, task_id, run_id
        self.xcoms: dict[tuple[str, str], Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[(self.task_id, key)] = value

    def xcom_pull(self, task_ids: str, key: str = "return_value", include_prior_dates: bool = False) -> Any:
        return self.xcoms.get((task_ids, key))


def context_for(ti: RecordingTI) -> dict[str, Any]:
    return {"ti": ti, "outlet_events": defaultdict(SimpleNamespace)}


@pytest.fixture
def seeded(astra_stand_in, astra_connection, box_stand_in, box_connection):
    sample_data.seed(astra_stand_in, {"articles": 120, "products": 40, "faq": 10})
    return astra_stand_in, box_stand_in
