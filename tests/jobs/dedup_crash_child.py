"""Child process of the kill -9 tests: one deduplicating dump, or one prune, against a local store.

``python -m tests.jobs.dedup_crash_child <store> dump <snapshot id>`` dumps the Astra stand-in's
collections (its URL and token in ``ASTRA_URL`` and ``ASTRA_TOKEN``); ``... prune <keep last>`` prunes
with garbage collection. :mod:`~airflow_provider_vectorbackup.testing.kill_points` kills it at the
step that ``VECTORBACKUP_KILL_AT`` names; a run that is not killed prints ``CALLS`` and the count of
each step as JSON, so the test knows which steps there are.
"""

from __future__ import annotations

import json
import os
import sys

from airflow_provider_vectorbackup.testing import kill_points

DUMP_OPTIONS = {"collections": ["docs"], "deduplicate": True, "lock_wait": 0, "segment_max_bytes": 8_000}
"""Only the source collection: restores into the same keyspace add others."""


def main(root: str, command: str, argument: str) -> None:
    calls = kill_points.install()
    from airflow_provider_vectorbackup.stores.local import LocalStore

    store = LocalStore(root)
    if command == "dump":
        from airflow_provider_vectorbackup.connection import ConnectionSettings
        from airflow_provider_vectorbackup.jobs.dump import DumpOptions, dump_snapshot
        from airflow_provider_vectorbackup.sources.astra.client import AstraSource
        from airflow_provider_vectorbackup.testing.sample_data import KEYSPACE

        settings = ConnectionSettings("astra_default", "astra_db", host=os.environ["ASTRA_URL"],
                                      password=os.environ["ASTRA_TOKEN"],
                                      extra={"keyspace": KEYSPACE, "environment": "other"})
        outcome = dump_snapshot(AstraSource.from_connection(settings), store, argument, DumpOptions(**DUMP_OPTIONS))
        assert outcome.manifest.status == "complete", outcome.failures
    elif command == "prune":
        from airflow_provider_vectorbackup.jobs.retention import RetentionOptions, RetentionPolicy, prune

        plan = prune(store, RetentionOptions(policy=RetentionPolicy(keep_last=int(argument))))
        assert plan.garbage is not None and plan.garbage.swept, plan.garbage
    else:
        raise SystemExit(f"unknown command {command!r}: dump or prune")
    print("CALLS " + json.dumps(calls), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
