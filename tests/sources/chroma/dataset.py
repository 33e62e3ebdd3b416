"""A tricky Chroma dataset: unicode ids, metadata of every type Chroma keeps, documents, uris, some of each absent.

Its floats have short decimal forms: Chroma 1.5.9 moves about one arbitrary float in ten by an ulp
(test_quirk_chroma_moves_some_float_metadata_by_an_ulp).
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np

TEXT = ["café", "東京", "данные", "مرحبا", "e\u0301", "🧭🚀", "tab\tnew\nline", "quote\"back\\slash", "nul\x00byte", ""]


def records(count: int, dimension: int, seed: int = 16) -> dict[str, Any]:
    """``Collection.add`` arguments for ``count`` records of ``dimension`` float32 values."""
    rng = random.Random(seed)
    vectors = np.random.default_rng(seed).standard_normal((count, dimension)).astype(np.float32)
    ids, metadatas, documents, uris = [], [], [], []
    for i in range(count):
        text = TEXT[i % len(TEXT)]
        ids.append(f"{text}·{i}" if text else f"id-{i}")
        metadata = None if i % 7 == 0 else {
            "text": text, "int": rng.randint(-2**63, 2**63 - 1), "small": i, "float": rng.randint(-10**6, 10**6) / 8,
            "tiny": 5e-324, "huge": 1.5e300, "ratio": i / 4, "flag": bool(i % 2), "strings": [text or "x", "b"],
            "ints": [i, -(2**63)], "floats": [0.5, 1e-7], "bools": [True, False], "key.with.dots": "ok"}
        metadatas.append(metadata)
        documents.append(None if i % 3 == 0 else f"{text} document {i}")
        uris.append(f"s3://bucket/{i}" if i % 5 == 0 else None)
    return {"ids": ids, "embeddings": vectors, "metadatas": metadatas, "documents": documents, "uris": uris}
