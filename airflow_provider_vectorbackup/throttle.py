"""A thread-safe token-bucket rate limiter, so a backup does not crowd out production traffic.

One :class:`RateLimiter` is shared by every thread of a hook: each request takes one token
before it is sent, and the bucket refills at the configured rate. Callers that find it empty
are given the next free slot in order and sleep until then, outside the lock, so waiting
threads never block each other's bookkeeping.

The guarantee: over any interval of ``T`` seconds at most ``burst + rate * T`` tokens are
handed out. ``burst`` defaults to one twentieth of the limit (at least one token), so a limit
of ``N`` per period is never exceeded by more than 5 % (plus one request) in any window of
that period, while a short backup still starts at full speed.

A limit of ``None`` or ``0`` means unlimited: ``acquire()`` then only counts, never reads the
clock and never sleeps. Plain Python, no Airflow: the clock and the sleep are injectable so
tests run on a fake clock.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
_CREATION = threading.Lock()

BURST_FRACTION = 1 / 20
"""Default bucket capacity, as a fraction of the limit per period."""


def parse_limit(value: Any, name: str) -> float | None:
    """A limit from a connection extra: ``None``, ``""`` and ``0`` mean unlimited.

    :raises ValueError: not a number, negative or NaN (the message names the extra, never other fields).
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise ValueError(f"extra {name} must be a number, got {value!r}")
    try:
        limit = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"extra {name} must be a number, got {value!r}") from None
    if math.isnan(limit) or limit < 0:
        raise ValueError(f"extra {name} must be 0 (unlimited) or a positive number, got {value!r}")
    return None if limit == 0 or math.isinf(limit) else limit


def once(owner: object, attribute: str, factory: Callable[[], T]) -> T:
    """``owner.<attribute>``, made by ``factory`` the first time, the same object for every thread.

    ``functools.cached_property`` stopped locking in Python 3.12, so two threads using a hook
    for the first time could each build a limiter and split the budget between them.
    """
    with _CREATION:
        existing = owner.__dict__.get(attribute)
        if existing is None:
            existing = factory()
            setattr(owner, attribute, existing)
        return existing


class RateLimiter:
    """At most ``limit`` acquisitions per ``per`` seconds, shared safely between threads.

    :param limit: permits per ``per`` seconds; ``None`` or ``0`` for unlimited.
    :param per: the period ``limit`` refers to, in seconds (1 for "per second", 60 for "per minute").
    :param burst: bucket capacity: permits that may be taken at once after a quiet spell.
        Defaults to ``limit`` / 20, at least 1. The bucket starts full.
    :param name: what is limited, for the log line written when throttling first takes effect.
    :param clock: a monotonic clock in seconds (``time.monotonic``); tests pass a fake one.
    :param sleep: how to wait (``time.sleep``); tests pass a fake one.

    ``clock`` and ``sleep`` are public attributes and may be replaced before first use.
    """

    def __init__(self, limit: float | None, *, per: float = 1.0, burst: float | None = None, name: str = "requests",
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], Any] = time.sleep) -> None:
        if per <= 0:
            raise ValueError(f"per must be positive, got {per!r}")
        if limit is not None and (math.isnan(limit) or limit < 0):
            raise ValueError(f"limit must be None, 0 or positive, got {limit!r}")
        self.limit = None if not limit or math.isinf(limit) else float(limit)
        self.per = float(per)
        self.name = name
        self.clock = clock
        self.sleep = sleep
        if self.limit is None:
            self.rate = math.inf
            self.burst = math.inf
        else:
            self.rate = self.limit / self.per
            self.burst = float(burst) if burst is not None else max(1.0, self.limit * BURST_FRACTION)
            if self.burst < 1:
                raise ValueError(f"burst must be at least 1, got {burst!r}")
        self._lock = threading.Lock()
        self._tokens = self.burst
        self._updated: float | None = None  # clock reading of the last refill; set on first use
        self._acquisitions = 0
        self._throttled = 0
        self._waited = 0.0

    @property
    def unlimited(self) -> bool:
        return self.limit is None

    def acquire(self) -> float:
        """Take one permit, sleeping until one is free; returns the seconds this call waited."""
        if self.limit is None:
            with self._lock:  # only a counter: no clock, no sleep
                self._acquisitions += 1
            return 0.0
        with self._lock:
            now = self.clock()
            if self._updated is not None:
                self._tokens = min(self.burst, self._tokens + max(0.0, now - self._updated) * self.rate)
            self._updated = now
            self._tokens -= 1.0  # may go negative: a reservation of the next free slot
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
            self._acquisitions += 1
            if wait > 0:
                first = self._throttled == 0
                self._throttled += 1
                self._waited += wait
        if wait > 0:
            if first:
                log.info("Throttling %s to %g per %gs; waiting %.3f s for a slot", self.name, self.limit, self.per, wait)
            self.sleep(wait)
        return wait

    @property
    def acquisitions(self) -> int:
        """Permits handed out so far."""
        return self._acquisitions

    @property
    def throttled(self) -> int:
        """Acquisitions that had to wait."""
        return self._throttled

    @property
    def waited(self) -> float:
        """Total seconds callers were told to wait."""
        return self._waited

    def __repr__(self) -> str:
        limit = "unlimited" if self.limit is None else f"{self.limit:g} per {self.per:g}s, burst {self.burst:g}"
        return f"{type(self).__name__}({self.name}: {limit})"
