"""Reading a collection's parts on a few threads, a few pages ahead of the consumer.

A scan is bounded by the engine's round trips, so its parts (shards, key ranges) are read on
background threads into a bounded queue: reading overlaps with encoding, and memory stays at a
few pages per stream. The consumer must see the first read failure as its own, and must be able
to stop at any page (a killed task, a failed write) without leaving a thread behind. Every
engine's scan needs exactly this, so it lives here once.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

Item = TypeVar("Item")
Page = TypeVar("Page")
Session = TypeVar("Session")

PAGES_PER_STREAM = 2


@dataclass(frozen=True)
class _StreamEnded:
    """A reading thread is done: with its error if it failed."""

    error: BaseException | None = None


def fetch_ahead(items: Sequence[Item], read: Callable[[Session, Item], Iterable[Page]], *, streams: int, name: str,
                session: Callable[[], contextlib.AbstractContextManager[Session]] = contextlib.nullcontext,
                pages_per_stream: int = PAGES_PER_STREAM) -> Iterator[tuple[Item, Page]]:
    """Yield ``(item, page)`` as up to ``streams`` threads, named ``<name>-<n>``, read the items' pages.

    Each thread enters one ``session()`` (a connection in a shared snapshot, say) and passes what it
    gives to ``read(session, item)`` for item after item from a shared to-do list, until none is
    left. The first failure on any thread (including entering its session) is raised here and
    stops the other threads at their next page; leaving early stops them too. Either way every
    thread has ended when this generator ends.
    """
    todo: queue.SimpleQueue[Item] = queue.SimpleQueue()
    for item in items:
        todo.put(item)
    count = min(streams, len(items))
    pages: queue.Queue[tuple[Item, Page] | _StreamEnded] = queue.Queue(maxsize=max(1, count) * pages_per_stream)
    stop = threading.Event()

    def stream() -> None:
        try:
            with session() as opened:
                while not stop.is_set():
                    try:
                        item = todo.get_nowait()
                    except queue.Empty:
                        break
                    for page in read(opened, item):
                        if stop.is_set():
                            break
                        pages.put((item, page))
        except BaseException as exc:  # handed to the consuming thread, which raises it
            pages.put(_StreamEnded(exc))
            return
        pages.put(_StreamEnded())

    started: list[threading.Thread] = []
    running = 0
    try:
        for number in range(count):
            thread = threading.Thread(target=stream, name=f"{name}-{number}", daemon=True)
            thread.start()
            started.append(thread)
            running += 1
        while running:
            got = pages.get()
            if isinstance(got, _StreamEnded):
                running -= 1
                if got.error is not None:
                    raise got.error
                continue
            yield got
    finally:
        stop.set()
        while running:  # unblock threads waiting on a full queue until every one has ended
            if isinstance(pages.get(), _StreamEnded):
                running -= 1
        for thread in started:
            thread.join()
