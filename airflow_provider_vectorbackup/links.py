"""Deprecated: the Box folder link moved to :mod:`airflow_provider_vectorbackup.operators.links`."""

from __future__ import annotations

from typing import Any

from airflow_provider_vectorbackup.deprecation import moved


def __getattr__(name: str) -> Any:
    return moved(__name__, name, {"BoxFolderLink": "airflow_provider_vectorbackup.operators.links",
                                  "BOX_WEB_APP": "airflow_provider_vectorbackup.operators.links"})
