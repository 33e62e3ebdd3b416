"""Box's error responses, raised anywhere in the stand-in and rendered in one place.

Real Box answers API errors with ``{"type": "error", "status", "code", "message",
"request_id", ...}``; the SDK reads ``code`` and ``context_info`` from that body, so every
refusal goes through :class:`BoxError` to keep the shape identical.
"""

from __future__ import annotations

import itertools
import threading
from typing import Any

_request_ids = itertools.count(1)
_request_id_lock = threading.Lock()

_DEFAULT_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    412: "precondition_failed",
    416: "requested_range_not_satisfiable",
    429: "rate_limit_exceeded",
    500: "internal_server_error",
    502: "bad_gateway",
    503: "unavailable",
}

_DEFAULT_MESSAGES = {
    429: "Request rate limit exceeded, please try again later",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Unavailable",
}


def next_request_id() -> str:
    """A request id in Box's style; counter-based so runs are reproducible."""
    with _request_id_lock:
        return f"{next(_request_ids):x}".rjust(16, "0")


class BoxError(Exception):
    """A refusal that the stand-in answers with Box's error body."""

    def __init__(
        self, status: int, code: str | None = None, message: str | None = None, *,
        context_info: dict[str, Any] | None = None, headers: dict[str, str] | None = None,
    ) -> None:
        self.status = status
        self.code = code or _DEFAULT_CODES.get(status, "error")
        self.message = message or _DEFAULT_MESSAGES.get(status, self.code.replace("_", " ").capitalize())
        self.context_info = context_info
        self.headers = headers or {}
        super().__init__(f"{status} {self.code}: {self.message}")

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": "error", "status": self.status, "code": self.code, "message": self.message,
            "help_url": "http://developers.box.com/docs/#errors", "request_id": next_request_id(),
        }
        if self.context_info is not None:
            body["context_info"] = self.context_info
        return body


def error_body(status: int) -> dict[str, Any]:
    """The body of an injected fault (see :class:`~..faults.FaultMiddleware`)."""
    return BoxError(status).body()
