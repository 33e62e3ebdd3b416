"""A wire-faithful local stand-in for the DataStax Astra Data API (collections only).

Start it in-process with :class:`AstraStandIn`, from the command line with
``python -m airflow_provider_vectorbackup.testing.astra --port N``, or through the pytest
fixtures in :mod:`airflow_provider_vectorbackup.testing.pytest_plugin`.
"""

from __future__ import annotations

from airflow_provider_vectorbackup.testing.astra.errors import DataAPIError
from airflow_provider_vectorbackup.testing.astra.standin import DEFAULT_TOKEN, AstraStandIn
from airflow_provider_vectorbackup.testing.faults import FaultPlan

__all__ = ["DEFAULT_TOKEN", "AstraStandIn", "DataAPIError", "FaultPlan"]
