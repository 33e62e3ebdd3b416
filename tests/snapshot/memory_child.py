"""Child process for the memory test: writes, reads and verifies N vector documents, then prints peak RSS in KiB.

On Linux ``getrusage`` keeps the peak of the pre-exec image, which for a child of pytest is
pytest's own size; ``VmHWM`` belongs to this process image alone, so it is preferred there.
"""

from __future__ import annotations

import random
import resource
import sys
import tempfile

from airflow_provider_vectorbackup.check import verify
from airflow_provider_vectorbackup.snapshot import SnapshotWriter, describe_source, open_snapshot


def documents(count: int, dimension: int = 128):
    rng = random.Random(count)
    for i in range(count):
        yield {"_id": f"{i:08d}", "$vector": [rng.random() for _ in range(dimension)], "text": "lorem ipsum " * 8}


def main(count: int) -> None:
    definition = {"vector": {"dimension": 128, "metric": "cosine"}}
    with tempfile.TemporaryDirectory() as root:
        with SnapshotWriter(root, source=describe_source("astra")) as writer:
            with writer.collection("docs", definition) as collection:
                collection.write_many(documents(count))
        read = sum(1 for _ in open_snapshot(writer.result.path).documents("docs"))
        assert read == count and verify(writer.result.path, "records").ok
    print(peak_rss_kib(), flush=True)


def peak_rss_kib() -> int:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


if __name__ == "__main__":
    main(int(sys.argv[1]))
