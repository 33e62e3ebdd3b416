"""The Asset a snapshot store stands for: the dump and the scale-out commit update it, other DAGs schedule on it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from airflow.providers.common.compat.sdk import Asset

from airflow_provider_vectorbackup.stores.spec import StoreSpec


def snapshot_asset(store: StoreSpec) -> Asset:
    """The Asset a dump into ``store`` updates; downstream DAGs can schedule on it."""
    return Asset(name=f"vectorbackup:{store.uri()}", uri=store.uri(), group="vector-backup")


def report_snapshot(context: Any, outlets: Iterable[Any], summary: dict[str, Any]) -> None:
    """Attach the new snapshot's id, status and location to the event of every Asset the task updates."""
    for asset in outlets:
        if isinstance(asset, Asset):
            context["outlet_events"][asset].extra = {k: summary[k] for k in ("snapshot_id", "status", "location")}
