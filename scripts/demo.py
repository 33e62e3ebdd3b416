"""Offline demo of the snapshot format core: back up, verify, read back, and watch bad input be refused.

Run with ``make demo``. It needs no network and no Airflow metadata database. The full
Astra -> Box DAG run joins this demo once the hooks and operators exist.
"""

from __future__ import annotations

import datetime as dt
import random
import shutil
from decimal import Decimal
from pathlib import Path

from airflow_provider_vectorbackup.snapshot import (
    SnapshotWriter, VectorLossError, describe_source, new_snapshot_id, open_snapshot, verify,
)
from airflow_provider_vectorbackup.snapshot.digest import ContentDigest
from airflow_provider_vectorbackup.snapshot.vectors import floats_to_binary

OUT = Path("demo-output")
DIMENSION = 384
DEFINITION = {"vector": {"dimension": DIMENSION, "metric": "cosine", "sourceModel": "all-minilm-l6-v2"}}


def articles(count: int):
    """Documents shaped like an Astra scan: $binary and array vectors, EJSON dates, nested metadata."""
    rng = random.Random(42)
    for i in range(count):
        vector = [rng.uniform(-1, 1) for _ in range(DIMENSION)]
        yield {
            "_id": f"article-{i:05d}",
            "$vector": {"$binary": floats_to_binary(vector)} if i % 3 else vector,
            "title": f"Article {i}",
            "published": {"$date": 1_760_000_000_000 + i * 60_000},
            "meta": {"price": Decimal("19.99"), "seen": dt.datetime(2026, 6, 16, 8, 52, tzinfo=dt.timezone.utc)},
        }


def step(title: str) -> None:
    print(f"\n== {title}")


def main() -> None:
    shutil.rmtree(OUT, ignore_errors=True)
    store = OUT / "store"
    source = describe_source("astra", "https://demo-db.apps.astra.datastax.com", "default_keyspace")

    step("1. Back up 5,000 documents with 384-dimension vectors into a local store")
    with SnapshotWriter(store, source=source, segment_max_bytes=4 * 1024 * 1024) as writer:
        with writer.collection("articles", DEFINITION) as collection:
            collection.write_many(articles(5_000))
    good = writer.result
    entry = good.manifest.collection("articles")
    print(f"snapshot {good.snapshot_id} is {good.status}: {entry.document_count} documents, "
          f"{entry.vectors.documents_with_vector} with $vector {entry.vectors.encodings}, "
          f"{len(entry.segments)} segment(s), {sum(s.bytes for s in entry.segments):,} bytes")
    print(f"folder: {good.path}   manifest sha256: {good.manifest_sha256}")

    step("2. Verify it by re-reading every record")
    print(verify(good.path, "records").summary())

    step("3. Read it back and compare the content digest with the manifest")
    digest = ContentDigest()
    snapshot = open_snapshot(good.path)
    for record in snapshot.records("articles"):
        digest.add(record)
    first = next(snapshot.documents("articles"))
    print(f"re-read digest {digest.hexdigest()[:16]}… == manifest {entry.content_digest[:16]}…: "
          f"{digest.hexdigest() == entry.content_digest}")
    print(f"typed values come back typed: price={first['meta']['price']!r}, seen={first['meta']['seen']!r}")

    step("4. Flip one byte in a copy and verify again")
    damaged = OUT / "damaged" / good.snapshot_id
    shutil.copytree(good.path, damaged)
    segment = damaged / entry.segments[0].path
    data = bytearray(segment.read_bytes())
    data[len(data) // 2] ^= 0x01
    segment.write_bytes(bytes(data))
    print(verify(damaged, "files").summary())

    step("5. A dump that lost its vectors is refused, never called a backup")
    try:
        with SnapshotWriter(store, source=source, snapshot_id=new_snapshot_id(label="vectorless")) as writer:
            with writer.collection("articles", DEFINITION) as collection:
                collection.write_many({k: v for k, v in doc.items() if k != "$vector"} for doc in articles(200))
    except VectorLossError as exc:
        print(f"VectorLossError: {exc}")
    print(f"that snapshot was sealed as {writer.result.path.name}; readers refuse it unless forced")

    print(f"\nDone. Everything is under ./{OUT}/ (see docs/format.md for what each file is).")


if __name__ == "__main__":
    main()
