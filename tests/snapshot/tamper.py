"""Ways to damage a snapshot, as an attacker or a failing disk would."""

from __future__ import annotations

import gzip
import hashlib
import json
import struct
import zlib
from pathlib import Path
from typing import Any


def flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def edit_manifest(snapshot: Path, edit: Any) -> None:
    manifest_path = snapshot / "manifest.json"
    manifest = json.loads(manifest_path.read_bytes())
    edit(manifest)
    manifest_path.write_text(json.dumps(manifest, indent=2))


def rewrite_segment_consistently(snapshot: Path, relative: str, lines: list[bytes]) -> None:
    """Replace a segment's content and fix its sizes and checksums in the manifest, as a careful tamperer would."""
    plain = b"".join(line + b"\n" for line in lines)
    raw = gzip.compress(plain, mtime=0)
    (snapshot / relative).write_bytes(raw)

    def fix(manifest: dict[str, Any]) -> None:
        for collection in manifest["collections"]:
            for segment in collection["segments"]:
                if segment["path"] == relative:
                    segment.update(bytes=len(raw), sha256=hashlib.sha256(raw).hexdigest(),
                                   sha1=hashlib.sha1(raw).hexdigest(), documents=len(lines),
                                   uncompressed_bytes=len(plain))

    edit_manifest(snapshot, fix)


def segment_lines(snapshot: Path, relative: str) -> list[bytes]:
    return gzip.decompress((snapshot / relative).read_bytes()).splitlines()


def plant_segment(snapshot: Path, relative: str, raw: bytes, **fields: Any) -> None:
    """Store ``raw`` as a segment with a manifest entry that matches it, as a hostile writer would."""
    (snapshot / relative).write_bytes(raw)

    def fix(manifest: dict[str, Any]) -> None:
        for collection in manifest["collections"]:
            for segment in collection["segments"]:
                if segment["path"] == relative:
                    segment.update(bytes=len(raw), sha256=hashlib.sha256(raw).hexdigest(),
                                   sha1=hashlib.sha1(raw).hexdigest(), **fields)

    edit_manifest(snapshot, fix)


def bomb(compression: str, mebibytes: int) -> bytes:
    """A decompression bomb: ``mebibytes`` MiB of zero bytes (no newline at all) in one gzip member or zstd frame.

    The gzip one repeats the deflate blocks of one MiB (each ends byte-aligned and, after the first, finds
    the same window of zeros) and writes the trailer's CRC-32 and length itself: seconds faster than deflating.
    """
    chunk = bytes(1 << 20)
    if compression == "gzip":
        packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        first = packer.compress(chunk) + packer.flush(zlib.Z_SYNC_FLUSH)
        repeated = packer.compress(chunk) + packer.flush(zlib.Z_SYNC_FLUSH)
        crc = 0
        for _ in range(mebibytes):
            crc = zlib.crc32(chunk, crc)
        end = packer.flush()[:-8] + struct.pack("<II", crc, (mebibytes << 20) & 0xFFFFFFFF)
        return first + repeated * (mebibytes - 1) + end
    import zstandard

    packer = zstandard.ZstdCompressor(level=3, write_checksum=True).compressobj(size=mebibytes << 20)
    return b"".join(packer.compress(chunk) for _ in range(mebibytes)) + packer.flush()
