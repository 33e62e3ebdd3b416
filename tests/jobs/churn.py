"""Documents and random churn in the Astra stand-in, for the deduplicated-snapshot property and crash tests."""

from __future__ import annotations

import random
import uuid

from airflow_provider_vectorbackup.snapshot.digest import ContentDigest
from airflow_provider_vectorbackup.snapshot.vectors import floats_to_binary
from airflow_provider_vectorbackup.testing.sample_data import KEYSPACE, unit_vector

COLLECTION = "docs"


def document(rng: random.Random, n: int) -> dict:
    return {"_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "n": n, "text": f"doc {n} é",
            "$vector": {"$binary": floats_to_binary(unit_vector(rng, 16))}}


def create(astra_stand_in, rng: random.Random, count: int) -> None:
    astra_stand_in.create_collection(KEYSPACE, COLLECTION, {"vector": {"dimension": 16, "metric": "cosine"}})
    astra_stand_in.seed(KEYSPACE, COLLECTION, [document(rng, n) for n in range(count)])


def churn(astra_stand_in, rng: random.Random, updates: int, deletes: int, inserts: int) -> None:
    """Update ``updates`` documents in place, delete ``deletes`` others, insert ``inserts`` new ones."""
    with astra_stand_in.store.lock:
        collection = astra_stand_in.store.collection(KEYSPACE, COLLECTION)
        entries = list(collection.scan())
        chosen = rng.sample(entries, min(len(entries), updates + deletes))
        for entry in chosen[:updates]:
            collection.replace(entry, {**entry.body, "n": rng.randrange(10**6), "text": "changed"})
        for entry in chosen[updates:]:
            collection.delete(entry)
    base = rng.randrange(10**6, 10**7)
    astra_stand_in.seed(KEYSPACE, COLLECTION, [document(rng, base + n) for n in range(inserts)])


def source_digest(astra_stand_in) -> str:
    """The digest the dump records for the collection as the stand-in holds it now."""
    digest = ContentDigest()
    for body in astra_stand_in.dump_collection(KEYSPACE, COLLECTION):
        digest.add(body)
    return digest.hexdigest()
