"""Helpers for the BoxHook tests: large seeded files written in pieces, never held in memory whole."""

from __future__ import annotations

import hashlib
import logging
import random
from collections.abc import Callable
from pathlib import Path

MIB = 1024 * 1024


def write_file(path: Path, size: int, seed: int = 0) -> str:
    """Write ``size`` seeded, incompressible bytes to ``path`` one MiB at a time; returns their SHA-1."""
    digest, rng, left = hashlib.sha1(), random.Random(seed), size
    with path.open("wb") as out:
        while left:
            block = rng.randbytes(min(MIB, left))
            digest.update(block)
            out.write(block)
            left -= len(block)
    return digest.hexdigest()


def sha1_file(path: Path) -> str:
    digest = hashlib.sha1()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(MIB), b""):
            digest.update(block)
    return digest.hexdigest()


class OnLogMessage(logging.Handler):
    """Run ``action(record)`` once, in the logging thread, when a message starting with ``prefix`` is logged.

    Lets a test act at an exact point of the hook's work (e.g. right after an upload session
    is created) without sleeping or patching the hook.
    """

    def __init__(self, prefix: str, action: Callable[[logging.LogRecord], None]) -> None:
        super().__init__(logging.DEBUG)
        self.prefix = prefix
        self.action = action
        self.fired = False

    def emit(self, record: logging.LogRecord) -> None:
        if not self.fired and str(record.msg).startswith(self.prefix):
            self.fired = True
            self.action(record)
