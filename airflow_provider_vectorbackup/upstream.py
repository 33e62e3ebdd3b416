"""Deprecated: ``resolve_snapshot_id`` moved to :mod:`airflow_provider_vectorbackup.operators.snapshot_ids`."""

from __future__ import annotations

from typing import Any

from airflow_provider_vectorbackup.deprecation import moved


def __getattr__(name: str) -> Any:
    return moved(__name__, name, {"resolve_snapshot_id": "airflow_provider_vectorbackup.operators.snapshot_ids"})
