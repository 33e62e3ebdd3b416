"""Pinecone's refusals, in the two shapes the real service answers them.

The control plane (``api.pinecone.io``) answers ``{"error": {"code", "message"}, "status"}``; an
index's data plane answers as its gRPC gateway does, ``{"code": <gRPC code>, "message", "details"}``.
The ``pinecone`` client reads ``message`` from either, and its exception class from the HTTP status.
"""

from __future__ import annotations

from typing import Any

_GRPC_CODES = {400: 3, 401: 16, 403: 7, 404: 5, 409: 6, 412: 9, 413: 3, 429: 8, 500: 13, 501: 12}
_CONTROL_CODES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "FORBIDDEN", 404: "NOT_FOUND",
                  409: "ALREADY_EXISTS", 412: "FAILED_PRECONDITION", 413: "INVALID_ARGUMENT",
                  422: "INVALID_ARGUMENT", 500: "UNKNOWN"}


class PineconeError(Exception):
    """One refusal with its HTTP status; rendered for the plane that raised it."""

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or _CONTROL_CODES.get(status, "UNKNOWN")

    def control_body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message}, "status": self.status}

    def data_body(self) -> dict[str, Any]:
        return {"code": _GRPC_CODES.get(self.status, 2), "message": self.message, "details": []}


def bad_request(message: str) -> PineconeError:
    return PineconeError(400, message)
