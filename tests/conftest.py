"""Suite-wide set-up: an isolated Airflow home, so no test touches a developer's real one."""

from __future__ import annotations

import os
import re
import tempfile
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from airflow_provider_vectorbackup.connection import ConnectionSettings

# Airflow reads these at import time, so they are set before any test module imports it.
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="vectorbackup-airflow-home-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(Path(__file__).resolve().parents[1] / "example_dags"))

pytest_plugins = [
    "tests.engines.gcs", "tests.engines.milvus", "tests.engines.pgvector", "tests.engines.qdrant", "tests.engines.s3",
]
"""Engines started by fixtures (one module per engine)."""

AIRFLOW_VERSION = tuple(int(part) for part in re.findall(r"\d+", metadata.version("apache-airflow"))[:2])


def requires_airflow(version: str, reason: str) -> pytest.MarkDecorator:
    """Skip on an Airflow older than ``version``: only for a test that needs a feature that Airflow lacks.

    ``reason`` names the feature; the skip message shows it. The version is read from the installed
    distribution, so marking a test does not import Airflow before the environment above is set.
    """
    needed = tuple(int(part) for part in version.split("."))
    return pytest.mark.skipif(AIRFLOW_VERSION < needed, reason=f"needs Airflow {version}+: {reason}")


@pytest.fixture
def seeded(astra_stand_in, astra_connection, box_stand_in, box_connection):
    """Both stand-ins running with Airflow connections to them, and small sample collections in Astra."""
    from airflow_provider_vectorbackup.testing import sample_data

    sample_data.seed(astra_stand_in, {"articles": 120, "products": 40, "faq": 10})
    return astra_stand_in, box_stand_in


def astra_settings(stand_in) -> ConnectionSettings:
    """An ``astra_db`` connection to the stand-in's ``default_keyspace``, as the hook builds it."""
    from airflow_provider_vectorbackup.connection import ConnectionSettings

    return ConnectionSettings("astra_default", conn_type="astra_db", host=stand_in.url, password=stand_in.token,
                              extra={"keyspace": "default_keyspace", "environment": "other"})


@pytest.fixture
def astra_source(astra_stand_in):
    """Builds AstraSources on the stand-in, with no Airflow connection lookup (``retry_policy=`` optional)."""
    from airflow_provider_vectorbackup.sources.astra.client import AstraSource

    def build(*, retry_policy=None):
        return AstraSource.from_connection(astra_settings(astra_stand_in), retry_policy=retry_policy)

    return build
