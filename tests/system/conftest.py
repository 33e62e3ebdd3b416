"""End-to-end runs of the example DAGs with ``dag.test()`` against the stand-ins (real astrapy and boxsdk)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest


EXAMPLE_DAGS = Path(__file__).resolve().parents[2] / "example_dags"
DAG_TEST_CALLBACK_EXCEPTION = ("dag.test() on Airflow 3.1 gives failure callbacks no context['exception'] "
                               "(a real task run does), so the vector-loss notifier cannot tell what failed")


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """A fresh SQLite metadata database; tests/conftest.py points the DAG bundle at example_dags/."""
    from airflow.utils import db

    db.resetdb()


def load_dag(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLE_DAGS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.dag
