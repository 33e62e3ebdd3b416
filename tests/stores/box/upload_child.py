"""Child process for the BoxApi memory test: one upload, then its peak RSS, as JSON on stdout.

Run as ``python -m tests.stores.box.upload_child CONN_ID PATH FOLDER_ID CHUNK_THRESHOLD CONCURRENCY``.
``VmHWM`` is read rather than ``getrusage``, whose peak on Linux includes the pre-exec image
(pytest's own size) for a freshly spawned child.
"""

from __future__ import annotations

import json
import sys

from airflow_provider_vectorbackup.hooks.connections import connection_settings
from airflow_provider_vectorbackup.stores.box.client import BoxApi


def status_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise LookupError(field)


def main(conn_id: str, path: str, folder_id: str, chunk_threshold: str, concurrency: str) -> None:
    api = BoxApi.from_connection(connection_settings(conn_id), chunk_threshold=int(chunk_threshold),
                                 upload_concurrency=int(concurrency))
    ok, message = api.test_connection()  # client, token and HTTP machinery in place before measuring
    assert ok, message
    before = status_kib("VmRSS")
    item = api.upload(path, folder_id)
    print(json.dumps({"rss_before_kib": before, "peak_kib": status_kib("VmHWM"), "id": item.id, "sha1": item.sha1,
                      "size": item.size}), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
