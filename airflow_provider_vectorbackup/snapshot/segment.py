"""One data file of a collection being written: JSON lines, compressed or not, hashed as they reach disk."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from airflow_provider_vectorbackup.snapshot.compression import compressing, finish
from airflow_provider_vectorbackup.snapshot.files import HashingWriter
from airflow_provider_vectorbackup.snapshot.manifest import FileEntry

_WRITE_BUFFER = 1 << 20


class SegmentFile:
    """One data file being written: JSON lines, compressed (gzip or zstd) or not, hashed as they reach disk."""

    def __init__(self, path: Path, relative_path: str, compression: str, compress_level: int) -> None:
        self.path = path
        self.relative_path = relative_path
        self._raw = HashingWriter(path)
        self._stream: Any = compressing(self._raw, compression, compress_level)
        self._buffer: list[bytes] = []
        self._buffered = 0
        self.documents = 0
        self.uncompressed_bytes = 0

    def write_line(self, line: bytes) -> None:
        self._buffer.append(line)
        self._buffered += len(line)
        self.documents += 1
        self.uncompressed_bytes += len(line)
        if self._buffered >= _WRITE_BUFFER:
            self._flush_buffer()

    def _flush_buffer(self) -> None:
        if self._buffer:
            self._stream.write(b"".join(self._buffer))
            self._buffer.clear()
            self._buffered = 0

    def close(self) -> FileEntry:
        self._flush_buffer()
        finish(self._stream, self._raw)  # the compression trailer; the underlying file stays open
        digests = self._raw.close()
        return FileEntry(self.relative_path, self._raw.size, digests.sha256, self.documents, self.uncompressed_bytes,
                         sha1=digests.sha1)

    def discard(self) -> None:
        self._raw.discard()
