"""Ways to damage a snapshot, as an attacker or a failing disk would."""

from __future__ import annotations

import gzip
import hashlib
import json
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
    """Replace a segment's content and fix its size and checksums in the manifest, as a careful tamperer would."""
    raw = gzip.compress(b"".join(line + b"\n" for line in lines), mtime=0)
    (snapshot / relative).write_bytes(raw)

    def fix(manifest: dict[str, Any]) -> None:
        for collection in manifest["collections"]:
            for segment in collection["segments"]:
                if segment["path"] == relative:
                    segment.update(bytes=len(raw), sha256=hashlib.sha256(raw).hexdigest(),
                                   sha1=hashlib.sha1(raw).hexdigest(), documents=len(lines))

    edit_manifest(snapshot, fix)


def segment_lines(snapshot: Path, relative: str) -> list[bytes]:
    return gzip.decompress((snapshot / relative).read_bytes()).splitlines()
