"""Child process for the bomb test: verifies a snapshot and reads its documents, then prints what verification found
and its peak RSS in KiB (see memory_child for why VmHWM)."""

from __future__ import annotations

import json
import sys

from airflow_provider_vectorbackup.check import verify
from airflow_provider_vectorbackup.snapshot import open_snapshot
from airflow_provider_vectorbackup.snapshot.errors import IntegrityError
from tests.snapshot.memory_child import peak_rss_kib


def main(path: str) -> None:
    report = verify(path, "records")
    snapshot = open_snapshot(path)
    try:
        for collection in snapshot.collections():
            for _ in snapshot.records(collection.name):
                pass
        read = "all"
    except IntegrityError as exc:
        read = type(exc).__name__
    print(json.dumps({"problems": sorted({p.code for p in report.problems}), "read": read,
                      "peak_kib": peak_rss_kib()}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
