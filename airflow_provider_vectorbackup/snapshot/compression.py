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

COMPRESSIONS = ("gzip", "zstd", "none")
SUFFIXES = {"gzip": ".jsonl.gz", "zstd": ".jsonl.zst", "none": ".jsonl"}
FORMAT_VERSION_FOR = {"gzip": 1, "zstd": 2, "none": 1}
"""The lowest ``format_version`` whose readers understand each compression."""


class CompressionUnavailable(RuntimeError):
    """The snapshot uses a compression whose package is not installed; the message says what to install."""


def _zstandard(why: str) -> Any:
    try:
        import zstandard
    except ImportError:
        raise CompressionUnavailable(
            f"{why} needs the zstandard package: pip install 'airflow-provider-vectorbackup[zstd]'") from None
    return zstandard


def check_name(compression: str) -> str:
    """Refuse an unknown compression (e.g. when a DAG is parsed, where the package may not matter yet)."""
    if compression not in COMPRESSIONS:
        raise ValueError(f"compression must be one of {COMPRESSIONS}, not {compression!r}")
    return compression


def check(compression: str) -> None:
    """Refuse an unknown compression, or zstd without its package, before anything is written."""
    check_name(compression)
    if compression == "zstd":
        _zstandard("writing zstd segments")


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


def lines(raw: BinaryIO, compression: str) -> Iterator[bytes]:
    """The plaintext lines of ``raw``, each with its ``\\n``, read in bounded chunks.

    :raises EOFError: the stream ends before its compressed data does (a truncated file).
    :raises OSError: corrupt compressed data, a checksum that does not match, or trailing data.
    """
    if compression == "gzip":
        yield from gzip.GzipFile(filename="", mode="rb", fileobj=raw)
    elif compression == "zstd":
        yield from _split(_zstd_chunks(raw))
    else:
        yield from _split(iter(lambda: raw.read(READ_CHUNK), b""))


def _zstd_chunks(raw: BinaryIO) -> Iterator[bytes]:
    zstandard = _zstandard("reading zstd segments")
    frame = zstandard.ZstdDecompressor().decompressobj()
    try:
        for chunk in iter(lambda: raw.read(READ_CHUNK), b""):
            if frame.eof:
                raise OSError("data after the end of the zstd frame")
            yield frame.decompress(chunk)
        if not frame.eof:
            raise EOFError("the zstd frame is cut short")
        if frame.unused_data:
            raise OSError("data after the end of the zstd frame")
    except zstandard.ZstdError as exc:
        raise OSError(str(exc)) from None


def _split(chunks: Iterator[bytes]) -> Iterator[bytes]:
    rest = b""
    for chunk in chunks:
        parts = (rest + chunk).split(b"\n")
        rest = parts.pop()
        for part in parts:
            yield part + b"\n"
    if rest:
        yield rest


DECOMPRESSION_ERRORS: tuple[type[BaseException], ...] = (EOFError, OSError, zlib.error)
"""What :func:`lines` raises for a damaged stream."""
