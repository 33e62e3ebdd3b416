"""Opaque ``pageState`` tokens for unsorted ``find`` scans.

A token carries the scan position (the storage sequence number of the last document returned,
so deletions between pages neither skip nor repeat documents, like the real token-ordered scan)
and how many documents the request's ``limit`` still allows, because the server, not astrapy,
enforces ``limit`` across pages.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses

import msgspec

from airflow_provider_vectorbackup.testing.astra.errors import field_value_invalid


@dataclasses.dataclass(frozen=True)
class PageState:
    after: int
    remaining: int | None


def encode_page_state(state: PageState) -> str:
    payload = msgspec.json.encode([1, state.after, state.remaining])
    return base64.b64encode(b"\x01" + payload).decode("ascii")


def decode_page_state(token: str) -> PageState:
    try:
        raw = base64.b64decode(token, validate=True)
        if raw[:1] != b"\x01":
            raise ValueError("unknown version")
        version, after, remaining = msgspec.json.decode(raw[1:])
        if version != 1 or not isinstance(after, int) or not (remaining is None or isinstance(remaining, int)):
            raise ValueError("bad payload")
    except (binascii.Error, ValueError, TypeError, msgspec.DecodeError) as exc:
        raise field_value_invalid("command.options.pageState", f'"{token[:100]}"',
                                  "not a page state returned by this server") from exc
    return PageState(after, remaining)
