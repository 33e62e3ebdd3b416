"""ManifestVerifyTrigger: the deferred half of ManifestVerifySensor."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow_provider_vectorbackup.check.snapshot import WAITING, check_sealed
from airflow_provider_vectorbackup.hooks.compat import BaseTrigger, TriggerEvent
from airflow_provider_vectorbackup.hooks.connections import open_store
from airflow_provider_vectorbackup.stores.spec import StoreSpec


class ManifestVerifyTrigger(BaseTrigger):
    """Polls the store until the snapshot is sealed; the blocking listing runs in a thread.

    Verification itself (which may download and re-read a whole snapshot) runs afterwards on a
    worker, in the sensor's ``execute_complete``, never in the shared triggerer process.

    :param store: a :class:`StoreSpec` as a dict (triggers serialize to primitives).
    """

    def __init__(self, *, store: dict[str, Any], snapshot_id: str, poke_interval: float) -> None:
        super().__init__()
        self.store = store
        self.snapshot_id = snapshot_id
        self.poke_interval = poke_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (f"{type(self).__module__}.{type(self).__qualname__}", {
            "store": self.store, "snapshot_id": self.snapshot_id, "poke_interval": self.poke_interval,
        })

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            while True:
                check = await asyncio.to_thread(check_sealed, StoreSpec(**self.store), self.snapshot_id,
                                                open_store=open_store)
                if check.outcome != WAITING:
                    yield TriggerEvent({"status": "success", "message": check.message})
                    return
                self.log.info("%s; checking again in %ss", check.message, self.poke_interval)
                await asyncio.sleep(self.poke_interval)
        except Exception as exc:  # surfaced to the task, which fails with it
            yield TriggerEvent({"status": "error", "message": f"{type(exc).__name__}: {exc}"})
