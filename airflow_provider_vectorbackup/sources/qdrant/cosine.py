"""The canonical form of a Cosine vector: one unit-length float32 vector that no Qdrant normalisation changes.

Qdrant normalises Cosine vectors, and not the same way everywhere:

- a server skips vectors whose squared length is within 1e-6 of 1 and divides the others by
  their float32 length;
- local mode divides every vector by its numpy float32 length on upsert (the writing process
  reads that back), keeps the raw values on disk (a process reopening the path reads those, as
  float64), and renormalises the stored vectors in place on every search (float32 rows, or float64
  after a reopen).

So the same point reads back with different low bits depending on who reads it. :func:`canonical`
maps all of those to one float32 vector: a vector that every one of these normalisations leaves
unchanged (a *fixed point*) is kept bit for bit; any other is divided by its float64 length,
rounded to float32 and, when that is not yet a fixed point, nudged by a few float32 steps in its
largest components until it is. Written back, a fixed point is stored and read unchanged by all
of them, so a restored collection reads back exactly what the snapshot holds.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

_F32 = np.float32
_COARSE_STEPS = (0, 1, -1, 2, -2, 3, -3)
_FINE_STEPS = (0, 1, -1, 2, -2)
_FINE_COMPONENTS = 4


def canonical(values: Sequence[float]) -> list[float]:
    """``values`` as the unit float32 vector every Qdrant normalisation keeps (see the module docstring).

    A zero vector is returned as it is (Qdrant leaves it alone too).
    """
    vector = np.asarray(values, dtype=_F32)
    if _fixed(vector):
        return vector.tolist()
    wide = np.asarray(values, dtype=np.float64)
    length = float(np.linalg.norm(wide))
    if length == 0.0 or not np.isfinite(length):
        return vector.tolist()
    base = (wide / length).astype(_F32)
    return _nearest_fixed(base).tolist()


def _renormalised(vector: np.ndarray) -> Iterator[np.ndarray]:
    """The vector after each normalisation local mode applies (upsert; search, float32 and float64 rows)."""
    with np.errstate(all="ignore"):
        yield (vector / np.linalg.norm(vector)).astype(_F32)
        rows = vector[np.newaxis, :].copy()
        rows /= np.linalg.norm(rows, axis=-1)[:, np.newaxis]
        yield rows[0]
        wide = vector.astype(np.float64)[np.newaxis, :]
        wide /= np.linalg.norm(wide, axis=-1)[:, np.newaxis]
        yield wide[0].astype(_F32)


def _fixed(vector: np.ndarray) -> bool:
    """Whether every normalisation leaves ``vector`` bit for bit as it is (a server's too: its length is ~1)."""
    return all(np.array_equal(other, vector) for other in _renormalised(vector))


def _nudged(vector: np.ndarray, index: int, steps: int) -> np.ndarray:
    out = vector.copy()
    direction = _F32(np.inf) if steps > 0 else _F32(-np.inf)
    for _ in range(abs(steps)):
        out[index] = np.nextafter(out[index], direction)
    return out


def _nearest_fixed(base: np.ndarray) -> np.ndarray:
    """``base``, or a fixed point next to it (deterministic): the largest component a few float32 steps
    away, and another one set so that the float64 length is 1, then a step either side of that.

    If none is found, ``base`` itself: reads of it may then differ in their last bit, which the
    restore's digest check reports.
    """
    if _fixed(base):
        return base
    order = [int(i) for i in np.argsort(-np.abs(base), kind="stable")]
    largest, others = order[0], [i for i in order[1:_FINE_COMPONENTS + 1] if base[i] != 0]
    for steps in _COARSE_STEPS:
        coarse = _nudged(base, largest, steps)
        wide = coarse.astype(np.float64)
        total = float(wide @ wide)
        for index in others:
            rest = total - float(wide[index]) ** 2
            if rest >= 1.0:
                continue
            target = _F32(np.copysign(np.sqrt(1.0 - rest), wide[index]))
            for fine in _FINE_STEPS:
                candidate = coarse.copy()
                candidate[index] = _nudged(np.array([target]), 0, fine)[0]
                if _fixed(candidate):
                    return candidate
        if len(base) == 1 and _fixed(coarse):
            return coarse
    return base
