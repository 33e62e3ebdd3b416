"""The engines' benchmark records: the same deterministic documents for every engine and every side.

Each record is ``{"id": int, "vector": list[float], "payload": {"title": str, "price": float,
"tags": [str], "ts": int}}``, the shape the adapters' ``bulk_insert`` takes. Vectors are
float32 values (exact in every engine's float32 storage) with a low intrinsic dimension, as
text embeddings have: a 16-dimensional latent point projected to ``dimension`` by one fixed
matrix, plus a little noise. Uniform random vectors in 768 dimensions would instead be the
worst case of every approximate index, and the restore's recall check would measure that.
Record ``i`` depends only on the seed and ``i``'s batch, so a small collection is the start of
a large one.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

COLLECTION = "bench"
BATCH = 1000
LATENT_DIMENSION = 16
NOISE = 0.05
WORDS = ("vector backup restore snapshot segment manifest embedding collection latency throughput retrieval "
         "chunk context answer question model index search nearest neighbour cosine metric").split()
TAGS = ("news", "faq", "manual", "legal", "draft", "archived", "internal", "public")
EPOCH = 1_700_000_000


def records(count: int, dimension: int, seed: int = 16) -> Iterator[dict[str, Any]]:
    """``count`` records of ``dimension``-dimensional vectors, ids 0 to count - 1."""
    projection = np.random.default_rng([seed, 0]).standard_normal((LATENT_DIMENSION, dimension))
    for start in range(0, count, BATCH):
        size = min(BATCH, count - start)
        rng = np.random.default_rng([seed, 1, start // BATCH])
        latent = rng.standard_normal((size, LATENT_DIMENSION))
        vectors = (latent @ projection + NOISE * rng.standard_normal((size, dimension))).astype(np.float32)
        words = rng.integers(0, len(WORDS), (size, 6))
        prices = rng.integers(100, 1_000_000, size)
        tag_counts = rng.integers(0, 4, size)  # 0 to 3 tags: some records have an empty list
        tag_picks = rng.integers(0, len(TAGS), (size, 3))
        for row in range(size):
            i = start + row
            yield {
                "id": i,
                "vector": vectors[row].tolist(),
                "payload": {
                    "title": " ".join(WORDS[w] for w in words[row]),
                    "price": int(prices[row]) / 100,
                    "tags": [TAGS[t] for t in tag_picks[row][:tag_counts[row]]],
                    "ts": EPOCH + 37 * i,
                },
            }
