"""fetch_ahead, which every engine's parallel scan reads through: failures reach the consumer, no thread outlives it."""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections import Counter

import pytest

from airflow_provider_vectorbackup.sources.fetch_ahead import fetch_ahead

ENDLESS = 100_000
"""Pages an endless reader would offer; a reader that is stopped reads only a few of them."""


def scan_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("scan-")]


class Sessions:
    """Counts the sessions the reading threads enter and leave."""

    def __init__(self) -> None:
        self.entered = self.left = 0
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def open(self):
        with self._lock:
            self.entered += 1
        try:
            yield self
        finally:
            with self._lock:
                self.left += 1


def test_every_item_is_read_once_and_each_thread_keeps_one_session() -> None:
    sessions = Sessions()

    def read(session: Sessions, item: int):
        assert session is sessions
        return [[item, page] for page in range(3)] + [[]]  # an empty page is passed on as it is

    got = list(fetch_ahead(range(7), read, streams=3, name="scan-all", session=sessions.open))
    assert Counter(item for item, _ in got) == {item: 4 for item in range(7)}
    assert sorted(page for _, page in got if page) == sorted([i, p] for i in range(7) for p in range(3))
    assert sessions.entered == sessions.left == 3
    assert not scan_threads()


def test_the_first_failure_is_raised_to_the_consumer_and_stops_the_other_readers() -> None:
    failure = ValueError("the server went away")
    read_pages: Counter[int] = Counter()
    sessions = Sessions()

    def read(_: Sessions, item: int):
        for page in range(ENDLESS):
            read_pages[item] += 1
            if item == 0 and page == 5:
                raise failure
            yield page

    with pytest.raises(ValueError) as raised:
        for _ in fetch_ahead(range(4), read, streams=4, name="scan-failing", session=sessions.open):
            pass
    assert raised.value is failure
    assert not scan_threads(), "every reader has ended"
    assert sessions.entered == sessions.left == 4
    assert max(read_pages[item] for item in (1, 2, 3)) < 50, f"the others kept reading: {read_pages}"


def test_closing_the_consumer_early_ends_every_reader() -> None:
    sessions = Sessions()

    def read(_: Sessions, item: int):
        yield from ((item, page) for page in itertools.count())

    pages = fetch_ahead(range(6), read, streams=3, name="scan-left", session=sessions.open)
    with contextlib.closing(pages):
        first = next(pages)
        assert len(scan_threads()) == 3
    assert first[0] in range(6)
    assert not scan_threads(), "no reader left running"
    assert sessions.entered == sessions.left == 3


def test_a_session_that_cannot_be_opened_is_raised_to_the_consumer() -> None:
    def refused():
        raise ConnectionRefusedError("no server at that address")

    with pytest.raises(ConnectionRefusedError, match="no server"):
        list(fetch_ahead(range(3), lambda _, item: [item], streams=2, name="scan-refused", session=refused))
    assert not scan_threads()
