"""The benchmark's data: RAG-like vector documents and an incompressible file, reproducible from a seed.

Documents look like chunks of a document corpus: a random UUIDv4 string ``_id`` (what Astra
generates when none is given), a ``$vector`` in the ``$binary`` form astrapy sends by default
(big-endian float32, base64), the chunk's text and two metadata fields. They are stored through
the stand-in's direct seeding API, which keeps them verbatim and is not timed.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import random
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec

from airflow_provider_vectorbackup.testing.astra import AstraStandIn
from airflow_provider_vectorbackup.testing.sample_data import KEYSPACE

COLLECTION = "bench"
WORDS = ("vector backup restore snapshot segment manifest embedding collection keyspace latency throughput "
         "retrieval chunk context answer question model index search nearest neighbour cosine metric").split()


def definition(dimension: int) -> dict[str, Any]:
    return {"vector": {"dimension": dimension, "metric": "cosine"}}


@functools.lru_cache(maxsize=8)
def _float32_bit_masks(dimension: int) -> tuple[int, int]:
    # Keep each float32's sign and mantissa bits random and fix its exponent at 2^0: every
    # component is then a finite value in ±[1, 2), and a whole vector costs two integer
    # operations instead of `dimension` calls to a random-number function.
    keep = int.from_bytes(bytes.fromhex("807fffff") * dimension, "big")
    exponent = int.from_bytes(bytes.fromhex("3f800000") * dimension, "big")
    return keep, exponent


def binary_vector(rng: random.Random, dimension: int) -> str:
    """A random vector in the Data API's ``$binary`` form: base64 of big-endian float32 values."""
    keep, exponent = _float32_bit_masks(dimension)
    bits = (rng.getrandbits(32 * dimension) & keep) | exponent
    return base64.b64encode(bits.to_bytes(4 * dimension, "big")).decode("ascii")


def document(rng: random.Random, dimension: int, chunk: int) -> dict[str, Any]:
    return {
        "_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "$vector": {"$binary": binary_vector(rng, dimension)},
        "text": " ".join(rng.choices(WORDS, k=60)),
        "source": f"handbook-{rng.randrange(500):03d}.pdf",
        "chunk": chunk,
    }


def documents(count: int, dimension: int, seed: int = 7) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    for i in range(count):
        yield document(rng, dimension, i)


def seed_collection(astra: AstraStandIn, count: int, dimension: int, name: str = COLLECTION) -> int:
    """Create ``name`` and store ``count`` documents in it; returns their size as compact JSON, in bytes.

    That size is the payload both sides of a scenario move, so their MB/s are comparable.
    """
    astra.create_collection(KEYSPACE, name, definition(dimension))
    payload = 0

    def measured() -> Iterator[dict[str, Any]]:
        nonlocal payload
        for document in documents(count, dimension):
            payload += len(json.dumps(document, separators=(",", ":")))
            yield document

    astra.seed(KEYSPACE, name, measured())
    return payload


def random_file(path: Path, size: int, seed: int = 7) -> str:
    """Write ``size`` random (incompressible) bytes to ``path``; returns their hex SHA-1."""
    rng, digest, block = random.Random(seed), hashlib.sha1(), 1 << 20
    with open(path, "wb") as out:
        for offset in range(0, size, block):
            data = rng.randbytes(min(block, size - offset))
            digest.update(data)
            out.write(data)
    return digest.hexdigest()


def churn(astra: AstraStandIn, fraction: float, dimension: int, rng: random.Random,
          name: str = COLLECTION) -> dict[str, int]:
    """Change ``fraction`` of the collection's documents, chosen uniformly at random: about a third each
    updated in place (new text and vector, as a re-embedded chunk), deleted, and inserted (new random ids).

    Straight into the stand-in's storage, untimed, as ``seed`` is. Returns the count of each change.
    """
    with astra.store.lock:
        collection = astra.store.collection(KEYSPACE, name)
        changes = round(fraction * len(collection))
        updates, deletes = changes // 3, changes // 3
        chosen = rng.sample(list(collection.scan()), updates + deletes)
        for entry in chosen[:updates]:
            fresh = document(rng, dimension, entry.body["chunk"])
            vector = msgspec.Raw(msgspec.json.encode(fresh["$vector"]))  # the stored form, as seed() keeps it
            collection.replace(entry, {**entry.body, "text": fresh["text"], "$vector": vector})
        for entry in chosen[updates:]:
            collection.delete(entry)
    inserts = changes - updates - deletes
    astra.seed(KEYSPACE, name, (document(rng, dimension, -1) for _ in range(inserts)))
    return {"updated": updates, "deleted": deletes, "inserted": inserts}
