"""Box as a snapshot store: the client (BoxApi), its auth, values and chunked uploads, and the format on Box (BoxStore)."""

from __future__ import annotations

from typing import Any

from airflow_provider_vectorbackup.deprecation import moved


def __getattr__(name: str) -> Any:
    """``stores.box`` was one module; its store class is ``stores.box.store.BoxStore`` now."""
    return moved(__name__, name, {"BoxSnapshotStore": "airflow_provider_vectorbackup.stores.box.store:BoxStore"})
