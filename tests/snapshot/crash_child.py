"""Child process for the SIGKILL test: writes a snapshot, pausing before every durable step.

Before each fsync, rename, replace and every data write it prints ``STEP <n> <what>`` and waits
for a line on stdin, so the parent can kill it at an exact point without any timing guesswork.
"""

from __future__ import annotations

import os
import sys

from airflow_provider_vectorbackup.snapshot import SnapshotWriter, describe_source
from airflow_provider_vectorbackup.snapshot import files as snapshot_files
from tests.snapshot.conftest import VECTOR_DEFINITION, sample_documents

_step = 0


def pause(what: str) -> None:
    global _step
    _step += 1
    print(f"STEP {_step} {what}", flush=True)
    if not sys.stdin.readline():
        raise SystemExit("parent went away")


def paused(name: str, function):
    def wrapper(*args, **kwargs):
        pause(name)
        return function(*args, **kwargs)
    return wrapper


def main(root: str) -> None:
    os.fsync = paused("fsync", os.fsync)
    os.replace = paused("replace", os.replace)
    os.rename = paused("rename", os.rename)
    snapshot_files.HashingWriter.write = paused("write", snapshot_files.HashingWriter.write)
    with SnapshotWriter(root, source=describe_source("astra", "https://db.example", "ks"),
                        snapshot_id="20260101T000000Z", segment_max_bytes=6_000, compress_level=1) as writer:
        for name in ("first", "second"):
            with writer.collection(name, VECTOR_DEFINITION) as collection:
                collection.write_many(sample_documents(60))
    print("DONE", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
