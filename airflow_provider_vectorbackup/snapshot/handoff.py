"""Handing finished files on (encrypt, upload) while the writer goes on with the next one.

With ``concurrency`` 0 a hand-off runs inline, as a plain call. Otherwise it runs on a pool of
that many threads, and :meth:`FileHandoff.submit` blocks while all of them are busy: that
back-pressure is what keeps local staging at most ``concurrency`` files in flight plus the
one being written per collection, whatever the snapshot size.
"""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class FileHandoff:
    def __init__(self, concurrency: int = 0) -> None:
        if concurrency < 0:
            raise ValueError("concurrency must be 0 (inline) or positive")
        self.concurrency = concurrency
        self._slots = threading.BoundedSemaphore(concurrency) if concurrency else None
        self._pool = (concurrent.futures.ThreadPoolExecutor(concurrency, thread_name_prefix="vectorbackup-handoff")
                      if concurrency else None)

    def submit(self, job: Callable[[], T]) -> concurrent.futures.Future[T]:
        """Run ``job`` and return its future; its exception, if any, is kept in the future."""
        if self._pool is None or self._slots is None:
            future: concurrent.futures.Future[T] = concurrent.futures.Future()
            try:
                future.set_result(job())
            except BaseException as exc:  # handed to whoever reads the future, like a pooled job's
                future.set_exception(exc)
            return future
        self._slots.acquire()
        try:
            future = self._pool.submit(job)
        except BaseException:
            self._slots.release()
            raise
        future.add_done_callback(lambda _: self._slots.release() if self._slots is not None else None)
        return future

    def shutdown(self) -> None:
        """Wait for every hand-off in flight, then release the threads."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
