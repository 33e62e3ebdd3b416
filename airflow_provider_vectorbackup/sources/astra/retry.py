"""Which Data API failures are worth another attempt, and how long to wait before it.

astrapy does not retry: a 429, a 5xx, a timeout or a dropped connection surfaces at once.
Nor does it retry a transient failure the server reports in-band, as HTTP 200 with an
``errors`` list (an overloaded or waking database answers ``UNAVAILABLE_DATABASE`` this way).
A backup scan of millions of documents meets all of these, so every idempotent request the
source sends goes through this policy (tenacity, which Airflow already installs).
"""

from __future__ import annotations

import collections
import logging
import random
import threading
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import httpx
from astrapy.exceptions import DataAPIHttpException, DataAPIResponseException, DataAPITimeoutException
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

log = logging.getLogger(__name__)

T = TypeVar("T")

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
TRANSIENT_FAMILY = "SERVER"
TRANSIENT_CODES = frozenset({
    "UNAVAILABLE_DATABASE", "FAILED_TO_CONNECT_TO_DATABASE", "FAILED_READ_REQUEST", "FAILED_WRITE_REQUEST",
    "TIMEOUT_READING_DATA", "TIMEOUT_WRITING_DATA", "COUNT_READ_FAILED", "FAILED_CONCURRENT_OPERATIONS",
    "FAILED_COMPARE_AND_SET", "FAILED_TRUNCATION", "UNKNOWN_KEYSPACE",
})
"""The SERVER-family codes whose description in the Data API's errors.yaml ends "It is safe to retry this
request". Other SERVER codes say to review the message first or that a retry fails again, and the REQUEST
family (filter, shredding, schema, auth) is the client's to fix: none of those is retried."""


def transient_codes(errors: Iterable[Any]) -> list[str]:
    """The codes of the in-band errors (``errors`` entries of a response) that are safe to retry.

    By family and code, never by HTTP status: these errors arrive with HTTP 200.
    """
    return [e["errorCode"] for e in errors
            if isinstance(e, dict) and e.get("family") == TRANSIENT_FAMILY and e.get("errorCode") in TRANSIENT_CODES]


def raise_if_transient(response: dict[str, Any]) -> None:
    """Raise a response that carries a transient in-band error, as astrapy would have, so it is retried.

    For commands sent with ``raise_api_errors=False`` (``insertMany``, whose per-document errors the
    caller reads). One transient error is enough: an ``insertMany`` answer mixes per-document codes,
    and sending the chunk again is safe because documents already written are reconciled.
    """
    if transient_codes(response.get("errors") or []):
        raise DataAPIResponseException.from_response(command=None, raw_response=response)


def is_retryable(exc: BaseException) -> bool:
    """Throttling, server errors, timeouts, broken connections and transient in-band errors.

    Never a 4xx or a REQUEST-family error the request caused.
    """
    if isinstance(exc, DataAPIHttpException):
        return exc.response.status_code in RETRYABLE_STATUS
    if isinstance(exc, DataAPIResponseException):
        return bool(in_band_codes(exc))
    return isinstance(exc, (DataAPITimeoutException, httpx.TransportError))


def in_band_codes(exc: DataAPIResponseException) -> list[str]:
    """The transient codes among the in-band errors astrapy raised."""
    return transient_codes({"family": d.family, "errorCode": d.error_code} for d in exc.error_descriptors)


def describe(exc: BaseException) -> str:
    """A one-line description without request bodies or headers, safe to log."""
    if isinstance(exc, DataAPIHttpException):
        return f"HTTP {exc.response.status_code}"
    if isinstance(exc, DataAPIResponseException):
        codes = sorted({d.error_code or "?" for d in exc.error_descriptors})
        return f"in-band error {', '.join(codes)}" if codes else type(exc).__name__
    return type(exc).__name__


class Throttled:
    """Requests the server throttled (HTTP 429) and that were sent again, per collection; shared by every thread.

    A restore's inserts read it to send fewer requests at once while the server pushes back.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: collections.Counter[str | None] = collections.Counter()

    def add(self, collection: str | None, exc: BaseException | None) -> None:
        if isinstance(exc, DataAPIHttpException) and exc.response.status_code == 429:
            with self._lock:
                self._counts[collection] += 1

    def of(self, collection: str | None) -> int:
        with self._lock:
            return self._counts[collection]


class InBandRetries:
    """Transient in-band errors that were retried, per collection and code; shared by every thread of a source.

    A scan or a restore reads its collection's tally before and after (:meth:`since`), so concurrent
    collections on one source do not mix their counts.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str | None, collections.Counter[str]] = {}

    def add(self, collection: str | None, exc: BaseException | None) -> None:
        if not isinstance(exc, DataAPIResponseException):
            return
        with self._lock:
            self._counts.setdefault(collection, collections.Counter()).update(in_band_codes(exc))

    def of(self, collection: str | None) -> collections.Counter[str]:
        """A copy of the tally so far for one collection (``None``: keyspace-level commands)."""
        with self._lock:
            return collections.Counter(self._counts.get(collection) or {})

    def since(self, collection: str | None, before: collections.Counter[str]) -> dict[str, int]:
        """The retries by code counted for ``collection`` after ``before`` was taken, sorted by code."""
        return dict(sorted((self.of(collection) - before).items()))


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

    def call(self, what: str, function: Callable[[], T],
             on_retry: Callable[[BaseException | None], None] | None = None) -> T:
        """Call ``function`` until it succeeds, fails for good, or the attempts run out (the last error is raised).

        :param on_retry: called with each error that is about to be retried.
        """
        def before_sleep(state: RetryCallState) -> None:
            _log_retry(what, state)
            if on_retry is not None:
                on_retry(state.outcome.exception() if state.outcome else None)

        retrying = Retrying(
            retry=retry_if_exception(is_retryable), stop=stop_after_attempt(self.max_attempts),
            wait=self.wait_seconds, reraise=True, before_sleep=before_sleep,
        )
        try:
            result = retrying(function)
        except Exception as exc:
            log.debug("%s failed (%s) on attempt %d of %d: %s", what, describe(exc),
                      retrying.statistics["attempt_number"], self.max_attempts,
                      "giving up" if is_retryable(exc) else "not retried, it is not transient")
            raise
        if retrying.statistics["attempt_number"] > 1:
            log.debug("%s succeeded on attempt %d", what, retrying.statistics["attempt_number"])
        return result


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
