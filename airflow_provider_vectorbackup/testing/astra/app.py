"""The Starlette app: Data API routes behind the token check, wrapped in fault injection.

``FaultMiddleware`` is the outermost layer so that dropped connections abort uvicorn's
transport; everything else is plain Starlette routing to :class:`Engine`.
"""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from airflow_provider_vectorbackup.testing.astra.auth import Credentials
from airflow_provider_vectorbackup.testing.astra.engine import Engine
from airflow_provider_vectorbackup.testing.astra.errors import DataAPIError, unsupported_content_type
from airflow_provider_vectorbackup.testing.faults import FaultInjector, FaultMiddleware

_encoder = msgspec.json.Encoder()
_TRANSIENT = {
    429: ("TOO_MANY_REQUESTS", "Too many requests", "Rate limit exceeded: retry after the delay in Retry-After."),
    502: ("BAD_GATEWAY", "Bad gateway", "Upstream service unavailable."),
    503: ("SERVICE_UNAVAILABLE", "Service unavailable", "The Data API is temporarily unavailable."),
    504: ("GATEWAY_TIMEOUT", "Gateway timeout", "The Data API did not answer in time."),
}


def fault_error_body(status: int) -> dict[str, Any]:
    """The body of an injected 429/5xx: a Data API ``errors`` list from the SERVER family."""
    code, title, message = _TRANSIENT.get(status, ("UNEXPECTED_SERVER_ERROR", "Unexpected server error",
                                                   f"Server failed with HTTP {status}."))
    family = "REQUEST" if status == 429 else "SERVER"
    return {"errors": [DataAPIError(code, message, family=family, title=title).to_json()]}


def _json(status: int, body: dict[str, Any]) -> Response:
    return Response(_encoder.encode(body), status_code=status, media_type="application/json")


def build_app(engine: Engine, credentials: Credentials, injector: FaultInjector) -> FaultMiddleware:
    async def command(request: Request) -> Response:
        try:
            credentials.check(request.headers.get("token"))
            if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
                raise unsupported_content_type()
        except DataAPIError as exc:
            return _json(exc.http_status, {"errors": [exc.to_json()]})
        payload = await request.body()
        status, body = engine.execute(request.path_params.get("keyspace"), request.path_params.get("collection"),
                                      payload)
        return _json(status, body)

    routes = [
        Route(prefix + suffix, command, methods=["POST"])
        for prefix in ("/api/json/v1", "/v1")
        for suffix in ("", "/{keyspace}", "/{keyspace}/{collection}")
    ]
    return FaultMiddleware(Starlette(routes=routes), injector, fault_error_body)
