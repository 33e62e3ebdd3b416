"""What GCS adds to the plain object access: each upload is checked against the MD5 that GCS computed itself.

GCS keeps the MD5 (``md5Hash``) of every object uploaded whole, which this store's objects always are
(only composed objects lack one). Comparing it with the MD5 of the local file after the upload catches
bytes damaged between the disk and the bucket; the connection's own ``gcs.consistency`` setting is left
as the user chose it. GCS keeps no SHA-256, so listings read the bytes, as for any plain store.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

from airflow_provider_vectorbackup.stores.object.access import ObjectAccess, ObjectIntegrityError

_READ_CHUNK = 1024 * 1024


class GcsAccess(ObjectAccess):
    """Objects in a GCS bucket through a ``gcsfs.GCSFileSystem``."""

    def _check_stored(self, key: str, info: dict[str, Any], local: Path, size: int) -> None:
        super()._check_stored(key, info, local, size)
        stored = info.get("md5Hash")
        if stored is None:
            raise ObjectIntegrityError(f"GCS reports no MD5 for {key}, so its upload cannot be checked (GCS omits it "
                                       f"only for composed objects, which this store does not write)")
        sent = md5_base64(local)
        if stored != sent:
            raise ObjectIntegrityError(f"{key}: GCS computed MD5 {stored} of what it stored, but the {size} bytes "
                                       f"uploaded have MD5 {sent}: the upload damaged them")


def md5_base64(path: Path) -> str:
    """The file's MD5 in the form GCS reports it (base64 of the digest)."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as file:
        while chunk := file.read(_READ_CHUNK):
            digest.update(chunk)
    return base64.b64encode(digest.digest()).decode("ascii")
