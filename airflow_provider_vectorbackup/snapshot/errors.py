"""Every way a snapshot can be refused, as one exception family.

Each message names what is wrong and what to do, because the person reading it is often
restoring on a bad day.
"""

from __future__ import annotations

from typing import Any


class SnapshotError(Exception):
    """Base class of every error raised by the snapshot format core."""


class UnsupportedTypeError(SnapshotError, TypeError):
    """The writer met a value it cannot store losslessly, so it refuses to write a lossy backup."""

    def __init__(self, value_type: type, path: list[str | int] | None = None) -> None:
        self.value_type = value_type
        self.path = path or []
        super().__init__(self._message())

    def at(self, step: str | int) -> UnsupportedTypeError:
        """Prepend one step of the field path while the error unwinds through nested values."""
        self.path.insert(0, step)
        self.args = (self._message(),)
        return self

    @property
    def field(self) -> str:
        out = "document"
        for step in self.path:
            out += f"[{step}]" if isinstance(step, int) else f".{step}"
        return out

    def _message(self) -> str:
        name = f"{self.value_type.__module__}.{self.value_type.__qualname__}"
        return (
            f"Refusing to write a lossy backup: {self.field} holds a value of type {name!r}, "
            f"which the snapshot codec has no envelope for. Register one with "
            f"Codec.register(...) (see docs/format.md, 'Extending the codec'), or read the "
            f"source with plain JSON types."
        )


class EnvelopeError(SnapshotError, ValueError):
    """A stored ``{"$backupType": ...}`` envelope is malformed or names a type this reader does not know."""


class ManifestError(SnapshotError):
    """``manifest.json`` is missing, unreadable, or of a format version this reader does not support."""


class SnapshotStateError(SnapshotError):
    """The snapshot is not in a state that may be read: still in progress, or incomplete without being forced."""


class IntegrityError(SnapshotError):
    """A stored file does not match what the manifest promises (size, SHA-256, records)."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        super().__init__(f"{path}: {message}")


class PackDamagedError(IntegrityError):
    """A file of a store's shared ``data/`` area whose bytes are not the ones its name (their SHA-256) stands for.

    :param problem: the verifier's ``Problem``: its ``expected`` and ``found`` are the two checksums compared.
    """

    def __init__(self, problem: Any) -> None:
        super().__init__(problem.path, problem.message)
        self.problem = problem


class DecompressionBoundError(IntegrityError):
    """A segment decompresses to more than its manifest entry allows; reading stopped at the first byte past it."""

    def __init__(self, path: str, message: str, *, bound: int) -> None:
        super().__init__(path, message)
        self.bound = bound


class VectorLossError(SnapshotError):
    """A dump lost embeddings: the collection declares vectors that the dumped documents do not carry.

    Failure callbacks recognise it with ``isinstance(exc, VectorLossError)``. Retrying the same
    dump would lose the same vectors, so operators treat it as a non-retryable failure.
    """

    def __init__(self, collection: str, reason: str, **facts: Any) -> None:
        self.collection = collection
        self.reason = reason
        self.facts = facts
        super().__init__(f"Vector loss in collection {collection!r}: {reason}")
