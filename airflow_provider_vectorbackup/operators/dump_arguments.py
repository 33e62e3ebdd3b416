"""The source and dump arguments that VectorDumpOperator and SnapshotPlanOperator share, mapped onto DumpOptions."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from airflow_provider_vectorbackup.hooks.source import VectorSourceHook
from airflow_provider_vectorbackup.jobs.dump import DumpOptions
from airflow_provider_vectorbackup.snapshot.guard import VectorLossPolicy


class DumpArguments:
    """Arguments kept exactly as given (templates render, ``airflow tasks render`` shows what was written);
    :meth:`dump_options` maps them onto the job's options when the task runs."""

    source_conn_id: str
    keyspace: str | None
    segment_max_bytes: int
    max_missing_vector_fraction: float
    compression: str
    scan_mode: str
    scan_streams: int
    collections_at_once: int
    uploads_at_once: int
    deduplicate: bool = False
    """VectorDumpOperator's; a snapshot dumped in slices over mapped tasks is not deduplicated (docs/scale-out.md)."""

    def dump_options(self, **at_run_time: Any) -> DumpOptions:
        """The job's options from this task's arguments; ``at_run_time`` adds the templated and run-time ones."""
        return DumpOptions(
            segment_max_bytes=self.segment_max_bytes,
            vector_policy=VectorLossPolicy(max_missing_fraction=self.max_missing_vector_fraction),
            compression=self.compression, scan_mode=self.scan_mode, scan_streams=self.scan_streams,
            collections_at_once=self.collections_at_once, uploads_at_once=self.uploads_at_once,
            deduplicate=self.deduplicate, **at_run_time)

    def source_options(self) -> dict[str, Any]:
        """What the source is opened with besides its connection: Astra's keyspace, when one is given."""
        return {"keyspace": self.keyspace} if self.keyspace else {}

    @cached_property
    def source_hook(self) -> VectorSourceHook:
        return VectorSourceHook(self.source_conn_id, **self.source_options())
