"""Durable, hashed file writes and hashed reads: the I/O under the writer, reader and verifier."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

READ_CHUNK = 1 << 20


@dataclass(frozen=True)
class Digests:
    """SHA-256 is the format's own check; SHA-1 is what Box records, so verification needs no download."""

    sha256: str
    sha1: str


class HashingWriter:
    """A write-only binary file that hashes and counts exactly the bytes that reach disk.

    Opened with ``"wb"``: a retried file is rewritten from scratch, never appended to.
    """

    name = ""  # keeps gzip from recording a file name in the header

    def __init__(self, path: Path) -> None:
        self._file = open(path, "wb")
        self._sha256 = hashlib.sha256()
        self._sha1 = hashlib.sha1()
        self.size = 0

    def write(self, data: bytes) -> int:
        self._file.write(data)
        self._sha256.update(data)
        self._sha1.update(data)
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> Digests:
        """Flush to stable storage, close, and return the file's digests."""
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        return Digests(self._sha256.hexdigest(), self._sha1.hexdigest())

    def discard(self) -> None:
        self._file.close()
        Path(self._file.name).unlink(missing_ok=True)


class HashingReader:
    """A read-only binary file that hashes every byte read through it."""

    def __init__(self, file: BinaryIO) -> None:
        self._file = file
        self._sha256 = hashlib.sha256()
        self._sha1 = hashlib.sha1()
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        data = self._file.read(size)
        self._sha256.update(data)
        self._sha1.update(data)
        self.size += len(data)
        return data

    def drain(self) -> None:
        """Read (and hash) whatever a decompressor left unread, so the digest covers the whole file."""
        while self.read(READ_CHUNK):
            pass

    def digests(self) -> Digests:
        return Digests(self._sha256.hexdigest(), self._sha1.hexdigest())


def digests_of_file(path: Path) -> tuple[Digests, int]:
    with open(path, "rb") as file:
        reader = HashingReader(file)
        reader.drain()
    return reader.digests(), reader.size


def write_file_durably(path: Path, data: bytes) -> Digests:
    """Write a small file through a temporary name so it is either absent or whole."""
    tmp = path.with_name(path.name + ".tmp")
    writer = HashingWriter(tmp)
    writer.write(data)
    digests = writer.close()
    os.replace(tmp, path)
    fsync_dir(path.parent)
    return digests


def fsync_dir(path: Path) -> None:
    """Make a rename or a new entry in ``path`` survive a power cut."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
