"""Progress lines for long dumps and restores: documents per second, bytes, and an ETA when a total is known."""

from __future__ import annotations

import datetime as dt
import logging
import time


class Progress:
    """Logs at most every ``interval`` seconds, so a multi-hour dump shows it is alive without flooding logs.

    :param expected: an estimate of the total (e.g. ``estimatedDocumentCount``), or ``None``.
    """

    def __init__(self, log: logging.Logger, what: str, expected: int | None = None, interval: float = 30.0) -> None:
        self.log = log
        self.what = what
        self.expected = expected or None
        self.interval = interval
        self.documents = 0
        self.bytes = 0
        self._started = time.monotonic()
        self._last = self._started

    def advance(self, documents: int) -> None:
        """Count documents; set :attr:`bytes` directly, from whatever knows how much was stored."""
        self.documents += documents
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            self.log.info("%s", self.line(now))

    @property
    def rate(self) -> float:
        """Documents per second so far."""
        return self.documents / max(time.monotonic() - self._started, 1e-9)

    def remaining(self, now: float | None = None) -> dt.timedelta | None:
        """Time left at the rate so far, when a total is known and not yet reached."""
        rate = self.documents / max((now or time.monotonic()) - self._started, 1e-9)
        if not self.expected or rate <= 0 or self.documents >= self.expected:
            return None
        return dt.timedelta(seconds=round((self.expected - self.documents) / rate))

    def line(self, now: float | None = None) -> str:
        now = now or time.monotonic()
        rate = self.documents / max(now - self._started, 1e-9)
        text = f"{self.what}: {self.documents:,} documents, {rate:,.0f} docs/s"
        if self.bytes:
            text += f", {self.bytes / 1e6:,.1f} MB"
        remaining = self.remaining(now)
        if remaining is not None:
            text += f", ~{self.expected:,} expected, ETA {remaining}"
        return text

    def done(self) -> str:
        line = self.line() + f" in {dt.timedelta(seconds=round(time.monotonic() - self._started))}"
        self.log.info("%s (done)", line)
        return line
