"""Deprecated: the scale-out operators moved to :mod:`airflow_provider_vectorbackup.operators.scale_out`."""

from __future__ import annotations

from airflow_provider_vectorbackup.deprecation import moved_module
from airflow_provider_vectorbackup.operators.scale_out import (
    PLAN_KEY, RESULT_KEY, CollectionDumpOperator, SnapshotCommitOperator, SnapshotPlanOperator,
)

moved_module(__name__, "airflow_provider_vectorbackup.operators.scale_out")

__all__ = ["PLAN_KEY", "RESULT_KEY", "CollectionDumpOperator", "SnapshotCommitOperator", "SnapshotPlanOperator"]
