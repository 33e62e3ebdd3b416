"""Realistic sample collections for the demo and end-to-end tests: the shapes a backup must survive.

- ``articles``: explicit 384-dimension vectors sent as ``$binary``, the way astrapy inserts by default;
- ``products``: 64-dimension vectors as JSON arrays, EJSON dates, UUIDs and ObjectIds, unicode,
  nested objects, big integers;
- ``faq``: a ``$vectorize`` collection, whose vectors the server computes from text.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

from airflow_provider_vectorbackup.snapshot.vectors import floats_to_binary

KEYSPACE = "default_keyspace"

DEFINITIONS: dict[str, dict[str, Any]] = {
    "articles": {"vector": {"dimension": 384, "metric": "cosine", "sourceModel": "other"}},
    "products": {"vector": {"dimension": 64, "metric": "dot_product", "sourceModel": "other"},
                 "indexing": {"deny": ["description"]}},
    "faq": {"vector": {"dimension": 32, "metric": "cosine",
                       "service": {"provider": "nvidia", "modelName": "NV-Embed-QA"}}},
}

_WORDS = "vector backup restore manifest segment guard embedding snapshot ärger café 東京 данные".split()


def unit_vector(rng: random.Random, dimension: int) -> list[float]:
    vector = [rng.gauss(0.0, 1.0) for _ in range(dimension)]
    norm = sum(x * x for x in vector) ** 0.5
    return [x / norm for x in vector]


def articles(count: int, seed: int = 1) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    for i in range(count):
        yield {
            "_id": f"article-{i:06d}",
            "$vector": {"$binary": floats_to_binary(unit_vector(rng, 384))},
            "title": " ".join(rng.choice(_WORDS) for _ in range(6)),
            "published": {"$date": 1_760_000_000_000 + i * 3_600_000},
            "views": rng.randrange(1_000_000),
        }


def products(count: int, seed: int = 2) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    for i in range(count):
        yield {
            "_id": f"sku-{i:05d}",
            "$vector": [round(x, 6) for x in unit_vector(rng, 64)],
            "name": f"Produkt {i} – «{rng.choice(_WORDS)}»",
            "price": {"amount": round(rng.uniform(1, 500), 2), "currency": "EUR"},
            "created": {"$date": 1_700_000_000_000 + i},
            "batch": {"$uuid": f"00000000-0000-4000-8000-{i:012d}"},
            "supplier": {"$objectId": f"{i:024x}"},
            "serial": 2**60 + i,
            "tags": [rng.choice(_WORDS) for _ in range(rng.randrange(4))],
            "dimensions": {"w": rng.randrange(100), "h": rng.randrange(100), "unit": "mm"},
        }


def faq(count: int, seed: int = 3) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    for i in range(count):
        yield {"_id": i, "$vectorize": f"How do I {rng.choice(_WORDS)} a {rng.choice(_WORDS)}? ({i})",
               "answer": f"See section {i}."}


def seed(stand_in: Any, sizes: dict[str, int] | None = None) -> dict[str, int]:
    """Create and fill the sample collections in an :class:`AstraStandIn`; returns the document counts."""
    sizes = {"articles": 5_000, "products": 500, "faq": 200, **(sizes or {})}
    makers = {"articles": articles, "products": products, "faq": faq}
    for name, count in sizes.items():
        stand_in.create_collection(KEYSPACE, name, DEFINITIONS[name])
        if name == "faq":
            _insert_through_api(stand_in, name, makers[name](count))  # the server must compute these vectors
        else:
            stand_in.seed(KEYSPACE, name, makers[name](count))
    return sizes


def _insert_through_api(stand_in: Any, name: str, documents: Iterator[dict[str, Any]]) -> None:
    from astrapy import DataAPIClient

    database = DataAPIClient(environment="other").get_database(stand_in.url, token=stand_in.token, keyspace=KEYSPACE)
    database.get_collection(name).insert_many(list(documents), chunk_size=50, concurrency=1)
