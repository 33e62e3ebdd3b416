"""Deterministic fault injection shared by the stand-ins.

Faults are decided by a request counter, never by the clock or an unseeded RNG, so a test
that asks for "a 429 every 7th request" gets exactly that on every run.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import threading
from collections.abc import Callable
from typing import Any

ErrorBody = Callable[[int], dict[str, Any]]
"""Builds the JSON error body a stand-in's real service would send for a status code."""


@dataclasses.dataclass
class FaultPlan:
    """Which faults to inject. ``0`` switches a fault off.

    Each ``*_every`` counts requests that the plan applies to: with ``rate_limit_every=7`` the
    7th, 14th, ... request is answered 429. When several faults fall on the same request, the
    first of drop, 429, 5xx wins.
    """

    latency_ms: float = 0.0
    rate_limit_every: int = 0
    retry_after_seconds: float = 0.0
    server_error_every: int = 0
    server_error_status: int = 503
    drop_every: int = 0


def add_fault_arguments(parser: argparse.ArgumentParser) -> None:
    """The command-line flags every stand-in accepts for its :class:`FaultPlan`."""
    group = parser.add_argument_group("fault injection (0 switches a fault off)")
    group.add_argument("--latency-ms", type=float, default=0.0, help="added latency per request")
    group.add_argument("--rate-limit-every", type=int, default=0, help="answer every k-th request 429")
    group.add_argument("--retry-after-seconds", type=float, default=0.0, help="Retry-After sent with 429s")
    group.add_argument("--server-error-every", type=int, default=0, help="answer every n-th request 5xx")
    group.add_argument("--server-error-status", type=int, default=503)
    group.add_argument("--drop-every", type=int, default=0, help="drop every m-th connection unanswered")


def fault_plan_from_arguments(args: argparse.Namespace) -> FaultPlan:
    return FaultPlan(
        latency_ms=args.latency_ms, rate_limit_every=args.rate_limit_every,
        retry_after_seconds=args.retry_after_seconds, server_error_every=args.server_error_every,
        server_error_status=args.server_error_status, drop_every=args.drop_every,
    )


class FaultInjector:
    """Thread-safe counter that turns a :class:`FaultPlan` into per-request decisions."""

    def __init__(self, plan: FaultPlan | None = None) -> None:
        self._lock = threading.Lock()
        self.plan = plan or FaultPlan()
        self.requests = 0
        self.injected: dict[str, int] = {"drop": 0, "rate_limit": 0, "server_error": 0}
        self.in_flight = 0
        self.most_in_flight = 0
        """The most requests this plan applied to that were being served at one moment (latency included)."""

    def configure(self, **changes: Any) -> None:
        """Change the plan at runtime; unknown names raise ``TypeError``. Resets the counter."""
        with self._lock:
            self.plan = dataclasses.replace(self.plan, **changes)
            self.requests = 0

    def reset(self) -> None:
        self.configure(**dataclasses.asdict(FaultPlan()))

    def started(self) -> None:
        with self._lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)

    def finished(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def next_fault(self) -> tuple[float, str | None]:
        """Count one request; return ``(latency_seconds, fault)`` with fault in drop/rate_limit/server_error."""
        with self._lock:
            self.requests += 1
            n, plan = self.requests, self.plan
            fault = None
            if plan.drop_every and n % plan.drop_every == 0:
                fault = "drop"
            elif plan.rate_limit_every and n % plan.rate_limit_every == 0:
                fault = "rate_limit"
            elif plan.server_error_every and n % plan.server_error_every == 0:
                fault = "server_error"
            if fault:
                self.injected[fault] += 1
            return plan.latency_ms / 1000.0, fault


class FaultMiddleware:
    """ASGI middleware that applies a :class:`FaultInjector` to the requests ``applies_to`` selects.

    A drop closes the TCP connection before any byte of a response is written, which clients
    see as "server disconnected without sending a response".
    """

    def __init__(
        self, app: Any, injector: FaultInjector, error_body: ErrorBody,
        applies_to: Callable[[dict[str, Any]], bool] = lambda scope: True,
    ) -> None:
        self.app = app
        self.injector = injector
        self.error_body = error_body
        self.applies_to = applies_to

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not self.applies_to(scope):
            await self.app(scope, receive, send)
            return
        self.injector.started()
        try:
            await self._serve(scope, receive, send)
        finally:
            self.injector.finished()

    async def _serve(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        latency, fault = self.injector.next_fault()
        if latency:
            await asyncio.sleep(latency)  # injected latency, not synchronisation
        if fault == "drop":
            _drop_connection(send)
            return
        if fault is None:
            await self.app(scope, receive, send)
            return
        plan = self.injector.plan
        status = 429 if fault == "rate_limit" else plan.server_error_status
        headers = [(b"content-type", b"application/json")]
        if fault == "rate_limit":
            headers.append((b"retry-after", _format_seconds(plan.retry_after_seconds).encode()))
        body = json.dumps(self.error_body(status)).encode()
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _format_seconds(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else repr(float(seconds))


def _drop_connection(send: Any) -> None:
    # uvicorn hands the outermost app a bound method of its request cycle, which owns the
    # transport. Aborting it sends nothing, and marking the cycle disconnected stops uvicorn
    # from answering 500 on a socket that is already gone.
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        raise RuntimeError("dropping a connection needs FaultMiddleware to be the outermost app under uvicorn")
    transport.abort()
    cycle.disconnected = True
