"""ManifestVerifyTrigger: the deferred half of ManifestVerifySensor."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_vectorbackup.stores.checks import VERIFIED, WAITING, check_snapshot
from airflow_provider_vectorbackup.stores.spec import StoreSpec


class ManifestVerifyTrigger(BaseTrigger):
    """Polls the store until the snapshot is sealed, then verifies it; the blocking calls run in a thread.

    :param store: a :class:`StoreSpec` as a dict (triggers serialize to primitives).
    """

    def __init__(self, *, store: dict[str, Any], snapshot_id: str, level: str, allow_incomplete: bool,
                 poke_interval: float) -> None:
        super().__init__()
        self.store = store
        self.snapshot_id = snapshot_id
        self.level = level
        self.allow_incomplete = allow_incomplete
        self.poke_interval = poke_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (f"{type(self).__module__}.{type(self).__qualname__}", {
            "store": self.store, "snapshot_id": self.snapshot_id, "level": self.level, "allow_incomplete": self.allow_incomplete,
            "poke_interval": self.poke_interval,
        })

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            while True:
                check = await asyncio.to_thread(check_snapshot, StoreSpec(**self.store), self.snapshot_id, self.level,
                                                self.allow_incomplete)
                if check.outcome != WAITING:
                    status = "success" if check.outcome == VERIFIED else "error"
                    yield TriggerEvent({"status": status, "message": check.message, "report": check.report})
                    return
                self.log.info("%s; checking again in %ss", check.message, self.poke_interval)
                await asyncio.sleep(self.poke_interval)
        except Exception as exc:  # surfaced to the task, which fails with it
            yield TriggerEvent({"status": "error", "message": f"{type(exc).__name__}: {exc}", "report": None})
