"""Durable, hashed file writes and hashed reads: the I/O under the writer, reader and verifier."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import BinaryIO

READ_CHUNK = 1 << 20


class HashingWriter:
    """A write-only binary file that hashes and counts exactly the bytes that reach disk.

    Opened with ``"wb"``: a retried file is rewritten from scratch, never appended to.
    """

    name = ""  # keeps gzip from recording a file name in the header

    def __init__(self, path: Path) -> None:
        self._file = open(path, "wb")
        self._sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self._file.write(data)
        self._sha256.update(data)
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> str:
        """Flush to stable storage, close, and return the SHA-256 hex digest."""
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        return self._sha256.hexdigest()

    def discard(self) -> None:
        self._file.close()
        Path(self._file.name).unlink(missing_ok=True)


class HashingReader:
    """A read-only binary file that hashes every byte read through it."""

    def __init__(self, file: BinaryIO) -> None:
        self._file = file
        self._sha256 = hashlib.sha256()
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        data = self._file.read(size)
        self._sha256.update(data)
        self.size += len(data)
        return data

    def drain(self) -> None:
        """Read (and hash) whatever a decompressor left unread, so the digest covers the whole file."""
        while self.read(READ_CHUNK):
            pass

    def hexdigest(self) -> str:
        return self._sha256.hexdigest()


def sha256_of_file(path: Path) -> tuple[str, int]:
    with open(path, "rb") as file:
        reader = HashingReader(file)
        reader.drain()
    return reader.hexdigest(), reader.size


def write_file_durably(path: Path, data: bytes) -> str:
    """Write a small file through a temporary name so it is either absent or whole; return its SHA-256."""
    tmp = path.with_name(path.name + ".tmp")
    writer = HashingWriter(tmp)
    writer.write(data)
    digest = writer.close()
    os.replace(tmp, path)
    fsync_dir(path.parent)
    return digest


def fsync_dir(path: Path) -> None:
    """Make a rename or a new entry in ``path`` survive a power cut."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
