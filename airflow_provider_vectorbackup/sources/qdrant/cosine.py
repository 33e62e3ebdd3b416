"""The canonical form of a Cosine vector, and how far Qdrant may move it once written.

Qdrant normalises Cosine vectors, and not the same way everywhere: a server divides each by its
length once, on upsert (one already within 1e-6 of unit length is kept as it is); local mode divides by its numpy float32 length on upsert (what the writing
process reads back), keeps the raw values on disk (what a process reopening the path reads), and
renormalises its float32 rows in place on every search. So one point reads back with different
low bits depending on who reads it, and when.

:func:`canonical` gives every reader one form: the float32 values divided by their float64
length, rounded to float32 (a zero or non-finite vector is kept as it is). It is cheap and
deterministic, and Qdrant's own normalisations move it by a few float32 ulps per element
(:func:`drift_ulps`), which a restore allows for (``QdrantSource.restore_tolerance``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

COSINE_DRIFT_ULPS = 4
"""How many float32 ulps Qdrant can move an element of a canonical Cosine vector of 64+ dimensions.

Measured with qdrant-client 1.20.0 in local mode (docs/sources.md, "Qdrant"): over 3,000
768-dimension vectors, 1 ulp read back in the writing process and after a search, 0 after
reopening the path; 2 after 10 to 200 searches in the writing process (64 and 768 dimensions).
4 is twice the most seen.
"""
SMALL_COSINE_DRIFT_ULPS = 32
"""The same below :data:`LARGE_DIMENSION` dimensions, where local mode's in-place renormalisation on
each search in the writing process drifts further: 5 ulps after the restore's 10 validation
searches, staying there for 16 or 32 dimensions but growing by about half an ulp per search for
4 or 8 (50 after 100 searches). 32 covers the restore's own searches with a margin."""
LARGE_DIMENSION = 64


def drift_ulps(dimension: int | None) -> int:
    """The ulps a canonical Cosine vector of ``dimension`` elements may move (see the constants above)."""
    return COSINE_DRIFT_ULPS if dimension is not None and dimension >= LARGE_DIMENSION else SMALL_COSINE_DRIFT_ULPS


def canonical(values: Any) -> np.ndarray:
    """One vector (1-D) or each row of a multivector (2-D) in canonical form, as float32.

    The values are first taken as float32 (what Qdrant keeps), so a raw float64 value read after
    a reopen and the float32 one a server answers have the same canonical form.
    """
    wide = np.asarray(values, dtype=np.float32).astype(np.float64)
    lengths = np.linalg.norm(wide, axis=-1, keepdims=True)
    scalable = (lengths > 0.0) & np.isfinite(lengths)
    np.divide(wide, lengths, out=wide, where=scalable)
    return wide.astype(np.float32)

