"""A wire-faithful local Box API for tests: ``BoxStandIn`` (in-process) or ``python -m`` (CLI).

It serves the endpoints ``boxsdk`` (``box_sdk_gen``) uses for backups (OAuth, folders,
files, direct and chunked uploads, 302 downloads) and refuses what real Box refuses, with
Box's error bodies. See ``docs/testing.md``.
"""

from __future__ import annotations

from airflow_provider_vectorbackup.testing.box.errors import BoxError
from airflow_provider_vectorbackup.testing.box.standin import BoxStandIn
from airflow_provider_vectorbackup.testing.faults import FaultPlan

__all__ = ["BoxError", "BoxStandIn", "FaultPlan"]
