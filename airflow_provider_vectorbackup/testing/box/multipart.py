"""Streaming reader for Box's multipart upload body: ``attributes`` JSON, then the file.

The file part goes straight to a staging file while its SHA-1 is computed, so a large
upload never sits in memory. Box insists that ``attributes`` comes before the file part.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, BinaryIO

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from airflow_provider_vectorbackup.testing.box.errors import BoxError

MAX_ATTRIBUTES_BYTES = 1 << 20


@dataclasses.dataclass
class Upload:
    attributes: dict[str, Any]
    sha1: str
    size: int


class _Collector:
    """python-multipart callbacks that sort parts into attributes and file bytes."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.digest = hashlib.sha1()
        self.size = 0
        self.attributes: bytearray | None = None
        self.file_seen = False
        self.file_before_attributes = False
        self.finished = False
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._disposition = b""
        self._sink: str | None = None

    def callbacks(self) -> dict[str, Any]:
        return {
            "on_part_begin": self._part_begin, "on_header_field": self._header_field,
            "on_header_value": self._header_value_data, "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished, "on_part_data": self._part_data,
            "on_end": self._end,
        }

    def _part_begin(self) -> None:
        self._disposition = b""
        self._sink = None

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _header_value_data(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        if bytes(self._header_name).lower() == b"content-disposition":
            self._disposition = bytes(self._header_value)
        self._header_name.clear()
        self._header_value.clear()

    def _headers_finished(self) -> None:
        _, params = parse_options_header(self._disposition)
        if params.get(b"name") == b"attributes" and b"filename" not in params:
            if self.attributes is None and not self.file_seen:
                self.attributes = bytearray()
                self._sink = "attributes"
            elif self.file_seen:
                self.file_before_attributes = True
        elif not self.file_seen:
            self.file_seen = True
            self.file_before_attributes = self.attributes is None
            self._sink = "file"

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self._sink == "file":
            self.out.write(chunk)
            self.digest.update(chunk)
            self.size += len(chunk)
        elif self._sink == "attributes":
            assert self.attributes is not None
            if len(self.attributes) + len(chunk) > MAX_ATTRIBUTES_BYTES:
                raise BoxError(400, "bad_request", "attributes part is too large")
            self.attributes += chunk

    def _end(self) -> None:
        self.finished = True


async def receive_upload(content_type: str | None, body: AsyncIterator[bytes], staged: Path) -> Upload:
    """Read a whole multipart upload (always draining the body), writing the file to ``staged``."""
    kind, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise BoxError(400, "bad_request", "Expected a multipart/form-data body")
    with staged.open("wb") as out:
        collector = _Collector(out)
        parser = MultipartParser(boundary, collector.callbacks())
        failure: BoxError | None = None
        async for chunk in body:
            if failure is None:
                try:
                    parser.write(chunk)
                except MultipartParseError:
                    failure = BoxError(400, "bad_request", "Malformed multipart body")
                except BoxError as refusal:
                    failure = refusal
    if failure is not None:
        raise failure
    if not collector.finished:
        raise BoxError(400, "bad_request", "Malformed multipart body")
    if collector.file_before_attributes:
        raise BoxError(400, "metadata_after_file_contents",
                       "Metadata (attributes) must be sent before the file contents")
    if not collector.file_seen:
        raise BoxError(400, "bad_request", "No file contents were sent")
    try:
        attributes = json.loads(bytes(collector.attributes or b""))
    except ValueError:
        raise BoxError(400, "bad_request", "attributes must be a JSON object") from None
    if not isinstance(attributes, dict):
        raise BoxError(400, "bad_request", "attributes must be a JSON object")
    return Upload(attributes=attributes, sha1=collector.digest.hexdigest(), size=collector.size)
