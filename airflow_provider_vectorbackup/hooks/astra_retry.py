"""Which Data API failures are worth another attempt, and how long to wait before it.

astrapy does not retry: a 429, a 5xx, a timeout or a dropped connection surfaces at once.
A backup scan of millions of documents meets all of these, so every idempotent request the
hook sends goes through this policy (tenacity, which Airflow already installs).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import Any, TypeVar

import httpx
from astrapy.exceptions import DataAPIHttpException, DataAPITimeoutException
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

log = logging.getLogger(__name__)

T = TypeVar("T")

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


def is_retryable(exc: BaseException) -> bool:
    """Throttling, server errors, timeouts and broken connections; never a 4xx the request caused."""
    if isinstance(exc, DataAPIHttpException):
        return exc.response.status_code in RETRYABLE_STATUS
    return isinstance(exc, (DataAPITimeoutException, httpx.TransportError))


def describe(exc: BaseException) -> str:
    """A one-line description without request bodies or headers, safe to log."""
    if isinstance(exc, DataAPIHttpException):
        return f"HTTP {exc.response.status_code}"
    return type(exc).__name__


class RetryPolicy:
    """Exponential backoff with jitter, except that a server's ``Retry-After`` is obeyed (up to ``max_wait``)."""

    def __init__(self, max_attempts: int = 8, initial_wait: float = 0.5, max_wait: float = 30.0) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.max_attempts = max_attempts
        self.initial_wait = initial_wait
        self.max_wait = max_wait

    def wait_seconds(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        retry_after = _retry_after(exc)
        if retry_after is not None:
            return min(retry_after, self.max_wait)
        backoff = min(self.initial_wait * 2 ** (state.attempt_number - 1), self.max_wait)
        return backoff * random.uniform(0.5, 1.0)  # jitter, so parallel workers do not retry in lockstep

    def call(self, what: str, function: Callable[[], T]) -> T:
        retrying = Retrying(
            retry=retry_if_exception(is_retryable), stop=stop_after_attempt(self.max_attempts),
            wait=self.wait_seconds, reraise=True, before_sleep=lambda state: _log_retry(what, state),
        )
        return retrying(function)


def _retry_after(exc: BaseException | None) -> float | None:
    if not isinstance(exc, DataAPIHttpException):
        return None
    value: Any = exc.response.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: fall back to backoff rather than parse clocks


def _log_retry(what: str, state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    log.warning("%s failed (%s), attempt %d; retrying in %.2fs", what, describe(exc) if exc else "?",
                state.attempt_number, state.next_action.sleep if state.next_action else 0.0)
