"""Segment compression: gzip (the default, standard library), zstd (optional), or none.

zstd compresses a vector snapshot's JSON Lines 16 to 20 times faster than gzip level 1 and a
little smaller (docs/format.md, section 11), but needs the ``zstandard`` package
(``pip install 'airflow-provider-vectorbackup[zstd]'``), for writing and for reading. A
snapshot with zstd segments has ``format_version`` 2, so a reader that predates zstd refuses it
with "upgrade" instead of misreading it.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from typing import Any, BinaryIO

READ_CHUNK = 1 << 20
_OUTPUT_CHUNK = 1 << 20
_ZSTD_SLICE = 256
"""A zstd block of at most 128 KiB costs at least 4 input bytes, so 256 input bytes yield at most 8 MiB."""

MAX_LINE_BYTES = 32 << 20
"""The longest document line a reader accepts (docs/format.md, 4.2): a Data API document holds at most
4,000,000 characters of JSON (at most 16,000,000 bytes of UTF-8), which leaves room for its vector."""
UNRECORDED_SEGMENT_CEILING = 4 << 30
"""The most plaintext a segment whose manifest entry records no ``uncompressed_bytes`` may hold."""

COMPRESSIONS = ("gzip", "zstd", "none")
SUFFIXES = {"gzip": ".jsonl.gz", "zstd": ".jsonl.zst", "none": ".jsonl"}
FORMAT_VERSION_FOR = {"gzip": 1, "zstd": 2, "none": 1}
"""The lowest ``format_version`` whose readers understand each compression."""


class BoundExceeded(Exception):
    """Decompressing went past what the manifest allows (a hostile or damaged file): reading stopped there."""

    def __init__(self, message: str, bound: int) -> None:
        super().__init__(message)
        self.bound = bound


class CompressionUnavailable(RuntimeError):
    """The snapshot uses a compression whose package is not installed; the message says what to install."""


def _zstandard(why: str) -> Any:
    try:
        import zstandard
    except ImportError:
        raise CompressionUnavailable(
            f"{why} needs the zstandard package: pip install 'airflow-provider-vectorbackup[zstd]'") from None
    return zstandard


def check_compression(compression: str, *, for_writing: bool) -> str:
    """Refuse an unknown compression; ``for_writing`` also refuses zstd without its package.

    Without ``for_writing`` (e.g. when a DAG is parsed) the package may not matter yet: it is
    needed only where segments are written or read.
    """
    if compression not in COMPRESSIONS:
        raise ValueError(f"compression must be one of {COMPRESSIONS}, not {compression!r}")
    if for_writing and compression == "zstd":
        _zstandard("writing zstd segments")
    return compression


def compression_of(path: str) -> str:
    """A segment's compression, from its (plaintext) file name."""
    for compression, suffix in SUFFIXES.items():
        if compression != "none" and path.endswith(suffix):
            return compression
    return "none"


def compressing(raw: BinaryIO, compression: str, level: int) -> Any:
    """A write-only stream that compresses into ``raw``; :func:`finish` it, then close ``raw`` yourself.

    The output is a pure function of the content: gzip with ``mtime`` 0 and no name; zstd as one
    frame with its content checksum, so damage inside the frame is detected on reading.
    """
    if compression == "gzip":
        return gzip.GzipFile(filename="", mode="wb", compresslevel=level, fileobj=raw, mtime=0)
    if compression == "zstd":
        compressor = _zstandard("writing zstd segments").ZstdCompressor(level=level, write_checksum=True)
        return compressor.stream_writer(raw, closefd=False)
    return raw


def finish(stream: Any, raw: BinaryIO) -> None:
    """Write the compressed stream's trailer without closing ``raw``."""
    if stream is not raw:
        stream.close()


def lines(raw: BinaryIO, compression: str, max_bytes: int | None = None) -> Iterator[bytes]:
    """The plaintext lines of ``raw``, each with its ``\\n``, decompressed and split in bounded chunks.

    No step holds more than a few MiB of output beyond the line being assembled, whatever the
    input's compression ratio, so a hostile file (a "decompression bomb") cannot exhaust memory.

    :param max_bytes: the most plaintext bytes the stream may hold (a segment's recorded
        ``uncompressed_bytes``); ``None`` means :data:`UNRECORDED_SEGMENT_CEILING`.
    :raises BoundExceeded: the plaintext passes ``max_bytes``, or a line passes :data:`MAX_LINE_BYTES`.
    :raises EOFError: the stream ends before its compressed data does (a truncated file).
    :raises OSError: corrupt compressed data, a checksum that does not match, or trailing data.
    """
    if compression == "gzip":
        chunks = _gzip_chunks(raw)
    elif compression == "zstd":
        chunks = _zstd_chunks(raw)
    else:
        chunks = iter(lambda: raw.read(READ_CHUNK), b"")
    yield from _split(_bounded(chunks, UNRECORDED_SEGMENT_CEILING if max_bytes is None else max_bytes))


def _gzip_chunks(raw: BinaryIO) -> Iterator[bytes]:
    """One gzip member (header, CRC-32 and length checked by zlib), at most :data:`_OUTPUT_CHUNK` bytes at a time."""
    member = zlib.decompressobj(16 + zlib.MAX_WBITS)
    for chunk in iter(lambda: raw.read(READ_CHUNK), b""):
        if member.eof:
            raise OSError("data after the end of the gzip member")
        while chunk and not member.eof:
            yield member.decompress(chunk, _OUTPUT_CHUNK)
            chunk = member.unconsumed_tail
        if member.unused_data:
            raise OSError("data after the end of the gzip member")
    while not member.eof:  # output held back by the last call's limit
        out = member.decompress(b"", _OUTPUT_CHUNK)
        if not out:
            raise EOFError("the gzip member is cut short")
        yield out


def _zstd_chunks(raw: BinaryIO) -> Iterator[bytes]:
    """One zstd frame, fed a slice at a time so that no call can return more than a few MiB."""
    zstandard = _zstandard("reading zstd segments")
    frame = zstandard.ZstdDecompressor().decompressobj()
    try:
        for chunk in iter(lambda: raw.read(READ_CHUNK), b""):
            view = memoryview(chunk)
            for start in range(0, len(view), _ZSTD_SLICE):
                if frame.eof:
                    raise OSError("data after the end of the zstd frame")
                yield frame.decompress(view[start:start + _ZSTD_SLICE])
        if not frame.eof:
            raise EOFError("the zstd frame is cut short")
        if frame.unused_data:
            raise OSError("data after the end of the zstd frame")
    except zstandard.ZstdError as exc:
        raise OSError(str(exc)) from None


def _bounded(chunks: Iterator[bytes], max_bytes: int) -> Iterator[bytes]:
    total = 0
    for chunk in chunks:
        total += len(chunk)
        if total > max_bytes:
            raise BoundExceeded(f"it decompresses to more than {max_bytes} bytes, the most its manifest entry allows "
                                f"(uncompressed_bytes, or the ceiling of {UNRECORDED_SEGMENT_CEILING} when none is "
                                f"recorded)", max_bytes)
        yield chunk


def _split(chunks: Iterator[bytes]) -> Iterator[bytes]:
    pending: list[bytes] = []  # the start of a line that continues in the next chunk
    pending_size = 0
    for chunk in chunks:
        parts = chunk.split(b"\n")
        pending.append(parts[0])
        pending_size += len(parts[0])
        if pending_size > MAX_LINE_BYTES:
            raise BoundExceeded(f"a line is longer than {MAX_LINE_BYTES} bytes, the most a document line may hold",
                                MAX_LINE_BYTES)
        if len(parts) == 1:
            continue
        yield b"".join(pending) + b"\n"
        for part in parts[1:-1]:
            yield part + b"\n"
        pending, pending_size = [parts[-1]], len(parts[-1])
    if pending_size:
        yield b"".join(pending)


DECOMPRESSION_ERRORS: tuple[type[BaseException], ...] = (EOFError, OSError, zlib.error)
"""What :func:`lines` raises for a damaged stream."""
