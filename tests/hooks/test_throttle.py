"""Throttling: the token bucket on a fake clock, and both hooks paced through it against the stand-ins.

Nothing here sleeps for real or reads the wall clock: limiters get a :class:`FakeClock`, whose
time moves only when a caller "sleeps", and every assertion is about the slots the limiter
handed out (the moments callers were allowed to send), checked against the token-bucket
guarantee: in any interval of ``T`` seconds at most ``burst + rate * T`` permits.
"""

from __future__ import annotations

import json
import math
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_vectorbackup.connection import ConnectionSettings
from airflow_provider_vectorbackup.hooks.astra import AstraDBHook
from airflow_provider_vectorbackup.sources.astra.client import AstraConnectionError, AstraSource
from airflow_provider_vectorbackup.sources.astra.retry import RetryPolicy
from airflow_provider_vectorbackup.hooks.box import BoxHook
from airflow_provider_vectorbackup.get_provider_info import get_provider_info
from airflow_provider_vectorbackup.stores.box.auth import (
    BOX_REQUESTS_PER_MINUTE,
    BOX_UPLOADS_PER_MINUTE,
    DEFAULT_REQUESTS_PER_MINUTE,
    DEFAULT_UPLOADS_PER_MINUTE,
    BoxConnectionError,
    BoxRateLimits,
    ThrottledAdapter,
    parse_rate_limits,
)
from airflow_provider_vectorbackup.testing.astra import AstraStandIn
from airflow_provider_vectorbackup.testing.box import BoxStandIn
from airflow_provider_vectorbackup.throttle import RateLimiter, once, parse_limit
from tests.stores.box.helpers import MIB, box_api, write_file

KS = "default_keyspace"
DEFINITION = {"vector": {"dimension": 4, "metric": "cosine", "sourceModel": "other"}}
FAST_RETRIES = RetryPolicy(max_attempts=30, initial_wait=0.001, max_wait=0.01)
UPLOAD_OPERATIONS = ("upload_file", "upload_file_version", "create_upload_session", "create_file_version_upload_session",
                     "upload_part", "get_upload_session", "list_upload_session_parts", "commit_upload_session",
                     "abort_upload_session", "plan_upload_session")
"""The stand-in's operations under the upload URL (``/api/2.0/...``)."""


class FakeClock:
    """Monotonic time that moves only when someone sleeps.

    A sleeper wakes at its own last reading plus the pause, and time becomes the latest such
    moment: as if real time had passed while it slept. Thread-safe.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._readings = threading.local()
        self.now = 0.0
        self.sleeps = 0

    def monotonic(self) -> float:
        with self._lock:
            self._readings.last = self.now
            return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0
        with self._lock:
            self.sleeps += 1
            self.now = max(self.now, self._readings.last + seconds)

    def last_reading(self) -> float:
        """What the calling thread last read."""
        return self._readings.last


def on_fake_clock(limiter: RateLimiter, clock: FakeClock) -> list[float]:
    """Put ``limiter`` on ``clock`` and record the slot (send time) of every permit it hands out."""
    limiter.clock, limiter.sleep = clock.monotonic, clock.sleep
    slots: list[float] = []
    slots_lock = threading.Lock()
    acquire = limiter.acquire

    def recording_acquire() -> float:
        wait = acquire()
        with slots_lock:
            slots.append(clock.last_reading() + wait)
        return wait

    limiter.acquire = recording_acquire  # type: ignore[method-assign]
    return slots


def violations(slots: list[float], rate: float, burst: float) -> list[tuple[float, float, int]]:
    """Intervals ``[a, b]`` holding more permits than ``burst + rate * (b - a)``."""
    ordered = sorted(slots)
    found = []
    for i, start in enumerate(ordered):
        for j in range(i, len(ordered)):
            if j - i + 1 > burst + rate * (ordered[j] - start) + 1e-9:
                found.append((start, ordered[j], j - i + 1))
    return found


def must_not_be_called(*args: Any) -> float:
    raise AssertionError("an unlimited limiter read the clock or slept")


# -- the limiter on its own -------------------------------------------------------------------

def test_the_budget_checker_catches_a_burst_too_many() -> None:
    assert violations([0.0, 0.1, 0.2], rate=10, burst=1) == []
    assert violations([0.0, 0.0, 0.1], rate=10, burst=1) == [(0.0, 0.0, 2), (0.0, 0.1, 3)]


@pytest.mark.parametrize("limit", [None, 0, 0.0, math.inf])
def test_unlimited_only_counts(limit: float | None) -> None:
    limiter = RateLimiter(limit, clock=must_not_be_called, sleep=must_not_be_called)
    assert limiter.unlimited
    assert [limiter.acquire() for _ in range(1_000)] == [0.0] * 1_000
    assert (limiter.acquisitions, limiter.throttled, limiter.waited) == (1_000, 0, 0.0)


def test_a_burst_goes_at_once_then_permits_are_evenly_spaced() -> None:
    clock = FakeClock()
    limiter = RateLimiter(100, per=1.0, clock=clock.monotonic, sleep=clock.sleep)
    assert limiter.burst == 5  # a twentieth of the limit

    waits = [limiter.acquire() for _ in range(205)]

    assert waits[:5] == [0.0] * 5
    assert waits[5:] == pytest.approx([0.01] * 200)
    assert clock.now == pytest.approx(2.0)  # 200 permits past the burst at 100/s: not slower than the limit either
    assert (limiter.acquisitions, limiter.throttled) == (205, 200)
    assert limiter.waited == pytest.approx(2.0)


def test_a_quiet_spell_refills_the_bucket_only_up_to_the_burst() -> None:
    clock = FakeClock()
    limiter = RateLimiter(200, per=60.0, clock=clock.monotonic, sleep=clock.sleep)
    assert (limiter.rate, limiter.burst) == (pytest.approx(200 / 60), 10)
    slots = on_fake_clock(limiter, clock)
    for _ in range(50):
        limiter.acquire()
    clock.now += 3_600  # an hour without uploads
    for _ in range(450):
        limiter.acquire()

    assert violations(slots, rate=200 / 60, burst=10) == []
    assert sorted(slots)[50:60] == [pytest.approx(slots[49] + 3_600)] * 10  # a fresh burst of 10, not 12,000
    in_any_minute = max(sum(1 for s in slots if start <= s <= start + 60) for start in slots)
    assert in_any_minute <= 210 < 240  # Box's upload limit, with the default of 200 per minute


@pytest.mark.parametrize("threads", [2, 8])
def test_threads_on_a_frozen_clock_get_exactly_the_next_free_slots(threads: int) -> None:
    """Time stands still, so every permit is reserved at t=0: the waits must be the budget's slots, no matter the order."""
    sleeps: list[float] = []
    limiter = RateLimiter(50, per=1.0, burst=5, clock=lambda: 0.0, sleep=sleeps.append)
    start, waits, waits_lock = threading.Barrier(threads), [], threading.Lock()

    def worker() -> None:
        start.wait()
        for _ in range(40):
            wait = limiter.acquire()
            with waits_lock:
                waits.append(wait)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()

    total = 40 * threads
    assert sorted(waits) == pytest.approx([0.0] * 5 + [k / 50 for k in range(1, total - 4)])
    assert sorted(sleeps) == pytest.approx([k / 50 for k in range(1, total - 4)])
    assert (limiter.acquisitions, limiter.throttled) == (total, total - 5)


def test_threads_sharing_a_limiter_never_exceed_the_budget() -> None:
    clock = FakeClock()
    limiter = RateLimiter(30, per=1.0, burst=4, clock=clock.monotonic, sleep=clock.sleep)
    slots = on_fake_clock(limiter, clock)
    start = threading.Barrier(8)

    def worker() -> None:
        start.wait()
        for _ in range(50):
            limiter.acquire()

    pool = [threading.Thread(target=worker) for _ in range(8)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()

    assert len(slots) == limiter.acquisitions == 400
    assert violations(slots, rate=30, burst=4) == []
    assert max(slots) == pytest.approx((400 - 4) / 30)  # and none was held back longer than the budget needs


def test_once_gives_every_racing_thread_the_same_object() -> None:
    class Owner:
        pass

    owner, made, start = Owner(), [], threading.Barrier(16)
    seen: list[object] = []

    def worker() -> None:
        start.wait()
        seen.append(once(owner, "_limiter", lambda: made.append(1) or RateLimiter(None)))

    pool = [threading.Thread(target=worker) for _ in range(16)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    assert len(made) == 1 and len({id(s) for s in seen}) == 1 and seen[0] is owner._limiter


@pytest.mark.parametrize(("value", "expected"), [(None, None), ("", None), ("  ", None), (0, None), ("0", None),
                                                 (2.5, 2.5), ("12", 12.0), (200, 200.0), (math.inf, None)])
def test_limits_from_extras(value: Any, expected: float | None) -> None:
    assert parse_limit(value, "max_requests_per_second") == expected


@pytest.mark.parametrize("value", [-1, "-0.5", "fast", float("nan"), True, [3]])
def test_bad_limits_name_the_extra(value: Any) -> None:
    with pytest.raises(ValueError, match="extra max_uploads_per_minute must be"):
        parse_limit(value, "max_uploads_per_minute")


def test_limiter_arguments_are_checked() -> None:
    with pytest.raises(ValueError):
        RateLimiter(-1)
    with pytest.raises(ValueError):
        RateLimiter(10, per=0)
    with pytest.raises(ValueError):
        RateLimiter(10, burst=0.5)
    assert RateLimiter(0.5).burst == 1  # at least one permit, or nothing could ever go


# -- AstraSource ------------------------------------------------------------------------------

def astra_env(monkeypatch: pytest.MonkeyPatch, stand_in: AstraStandIn, **extras: Any) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_ASTRA_DEFAULT", json.dumps({
        "conn_type": "astra_db", "host": stand_in.url, "password": stand_in.token,
        "extra": {"keyspace": KS, "environment": "other", **extras}}))


def copy_a_collection(hook: AstraSource, stand_in: AstraStandIn) -> int:
    """Scan 200 documents (10 pages) and insert them elsewhere from 4 threads; returns the documents copied."""
    docs = hook.iter_documents("articles")
    hook.create_collection("copy", DEFINITION)
    report = hook.insert_documents("copy", list(docs), chunk_size=10, concurrency=4)
    assert report.ok
    assert len(stand_in.dump_collection(KS, "copy")) == report.inserted
    return report.inserted


@pytest.fixture
def articles(astra_stand_in: AstraStandIn) -> AstraStandIn:
    astra_stand_in.create_collection(KS, "articles", DEFINITION)  # straight into the store: no HTTP
    astra_stand_in.seed(KS, "articles", [{"_id": f"a{i:04d}", "$vector": [1.0, 0.5, 0.25, i / 200]}
                                         for i in range(200)])
    return astra_stand_in


def test_astra_every_request_and_every_retry_takes_a_permit(articles: AstraStandIn,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    astra_env(monkeypatch, articles, max_requests_per_second=20)
    hook = AstraDBHook(retry_policy=FAST_RETRIES).get_conn()
    limiter = hook.request_limiter
    assert (limiter.limit, limiter.per, limiter.burst) == (20, 1.0, 1)
    clock = FakeClock()
    slots = on_fake_clock(limiter, clock)
    articles.faults.configure(rate_limit_every=6, server_error_every=9)  # counts every request from here on

    assert copy_a_collection(hook, articles) == 200

    served = articles.faults.requests
    assert articles.faults.injected["rate_limit"] and articles.faults.injected["server_error"]
    assert limiter.acquisitions == len(slots) == served  # each request the server saw, the retried ones too
    assert violations(slots, rate=20, burst=1) == []
    assert limiter.throttled == served - 1
    assert clock.now == pytest.approx((served - 1) / 20)  # the fake time a paced run takes, to the permit


def test_astra_default_is_unlimited_and_never_waits(articles: AstraStandIn, astra_connection: str) -> None:
    hook = AstraDBHook(retry_policy=FAST_RETRIES).get_conn()
    limiter = hook.request_limiter
    assert limiter.unlimited
    limiter.clock = limiter.sleep = must_not_be_called

    copy_a_collection(hook, articles)

    assert limiter.acquisitions == articles.faults.requests > 20
    assert (limiter.throttled, limiter.waited) == (0, 0.0)


def test_astra_threads_share_one_limiter_per_hook(articles: AstraStandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    astra_env(monkeypatch, articles, max_requests_per_second="5.5")
    hook, start, seen = AstraDBHook().get_conn(), threading.Barrier(8), []

    def first_use() -> None:
        start.wait()
        seen.append(hook.request_limiter)

    pool = [threading.Thread(target=first_use) for _ in range(8)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    assert len({id(limiter) for limiter in seen}) == 1 and seen[0].limit == 5.5
    assert AstraDBHook().get_conn().request_limiter is not seen[0]  # budgets are per hook


@pytest.mark.parametrize("value", [-3, "lots"])
def test_astra_bad_limit_says_which_extra(articles: AstraStandIn, monkeypatch: pytest.MonkeyPatch, value: Any) -> None:
    astra_env(monkeypatch, articles, max_requests_per_second=value)
    hook = AstraDBHook().get_conn()
    with pytest.raises(AstraConnectionError, match="'astra_default': extra max_requests_per_second must be"):
        hook.command({"findCollections": {}})
    ok, message = hook.test_connection()
    assert not ok and "max_requests_per_second" in message and articles.token not in message


# -- Box --------------------------------------------------------------------------------------

@pytest.fixture
def box_extras(box_connection: str, monkeypatch: pytest.MonkeyPatch) -> Callable[..., str]:
    """Change ``box_default``'s extras (``None`` removes one); returns the connection id."""
    variable = f"AIRFLOW_CONN_{box_connection.upper()}"

    def configure(**changes: Any) -> str:
        connection = json.loads(os.environ[variable])
        connection["extra"] = {**connection["extra"], "retry_base_interval": 0.001, **changes}
        connection["extra"] = {key: value for key, value in connection["extra"].items() if value is not None}
        monkeypatch.setenv(variable, json.dumps(connection))
        return box_connection

    return configure


def upload_requests(stand_in: BoxStandIn) -> int:
    counts = stand_in.request_counts
    return sum(counts.get(operation, 0) for operation in UPLOAD_OPERATIONS)


def test_box_every_upload_and_request_takes_a_permit(box_stand_in: BoxStandIn, box_extras: Callable[..., str],
                                                     tmp_path: Path) -> None:
    box_stand_in.chunk_minimum, box_stand_in.part_size = MIB, 256 * 1024
    api = box_api(box_extras(max_uploads_per_minute=60, max_requests_per_minute=600), chunk_threshold=MIB,
                   upload_concurrency=3)
    uploads, requests = api.rate_limits.uploads, api.rate_limits.requests
    assert (uploads.limit, uploads.per, uploads.burst) == (60, 60.0, 3)
    assert (requests.limit, requests.per, requests.burst) == (600, 60.0, 30)
    clock = FakeClock()
    upload_slots, request_slots = on_fake_clock(uploads, clock), on_fake_clock(requests, clock)
    big, small = write_file(tmp_path / "big.bin", 3 * MIB, seed=1), write_file(tmp_path / "small.bin", 1000, seed=2)

    folder = api.ensure_folder("backups/articles")
    assert api.upload(tmp_path / "big.bin", folder).sha1 == big  # a session, 12 parts from 3 threads, a commit
    assert api.upload(tmp_path / "small.bin", folder).sha1 == small  # one direct upload
    assert api.client.folders.get_folder_by_id(folder).id == folder  # around BoxApi: still paced

    assert upload_requests(box_stand_in) == 15
    assert uploads.acquisitions == len(upload_slots) == 15
    assert requests.acquisitions == len(request_slots) == box_stand_in.faults.requests
    assert requests.acquisitions == sum(box_stand_in.request_counts.values()) == 15 + 4  # token, 2 folders, get
    assert violations(upload_slots, rate=1.0, burst=3) == []
    assert violations(request_slots, rate=10.0, burst=30) == []
    assert uploads.throttled == 15 - 3 and clock.now >= (15 - 3) / 1.0


def test_box_retries_inside_boxsdk_take_permits_too(box_stand_in: BoxStandIn, box_extras: Callable[..., str],
                                                    tmp_path: Path) -> None:
    box_stand_in.chunk_minimum, box_stand_in.part_size = MIB, 256 * 1024
    api = box_api(box_extras(max_uploads_per_minute=120, max_requests_per_minute=None), chunk_threshold=MIB,
                   upload_concurrency=2)
    uploads, requests = api.rate_limits.uploads, api.rate_limits.requests
    assert requests.limit == DEFAULT_REQUESTS_PER_MINUTE
    clock = FakeClock()
    upload_slots = on_fake_clock(uploads, clock)
    on_fake_clock(requests, clock)
    api.client.auth.retrieve_token(network_session=api.client.network_session)  # not an upload
    sha1 = write_file(tmp_path / "seg.bin", 3 * MIB, seed=3)
    before = (uploads.acquisitions, requests.acquisitions, upload_requests(box_stand_in))
    box_stand_in.faults.configure(rate_limit_every=3, server_error_every=5)  # counts every request from here on

    assert api.upload(tmp_path / "seg.bin", "0").sha1 == sha1

    faulted = sum(box_stand_in.faults.injected.values())
    assert faulted >= 5
    assert requests.acquisitions - before[1] == box_stand_in.faults.requests
    # Faulted requests never reach an operation; here every request is an upload, so they add up:
    assert uploads.acquisitions - before[0] == upload_requests(box_stand_in) - before[2] + faulted
    assert violations(upload_slots, rate=2.0, burst=6) == []


def test_box_defaults_stay_under_boxs_limits_without_slowing_a_small_backup(
    box_stand_in: BoxStandIn, box_extras: Callable[..., str], tmp_path: Path,
) -> None:
    api = box_api(box_extras(max_uploads_per_minute=None, max_requests_per_minute=None))
    uploads, requests = api.rate_limits.uploads, api.rate_limits.requests
    assert (uploads.limit, uploads.burst) == (DEFAULT_UPLOADS_PER_MINUTE, pytest.approx(11.4)) == (228, 11.4)
    assert (requests.limit, requests.burst) == (DEFAULT_REQUESTS_PER_MINUTE, pytest.approx(47.6)) == (952, 47.6)
    assert uploads.per == requests.per == 60
    # The most any minute can hold (limit + burst) is under Box's documented limit, and within one request of it.
    assert BOX_UPLOADS_PER_MINUTE - 1 < uploads.limit + uploads.burst <= BOX_UPLOADS_PER_MINUTE == 240
    assert BOX_REQUESTS_PER_MINUTE - 1 < requests.limit + requests.burst <= BOX_REQUESTS_PER_MINUTE == 1000
    clock = FakeClock()
    on_fake_clock(uploads, clock)
    on_fake_clock(requests, clock)
    folder = api.ensure_folder("snapshots")
    for i in range(11):
        write_file(tmp_path / f"segment-{i}", 1000, seed=i)
        api.upload(tmp_path / f"segment-{i}", folder)

    assert (uploads.acquisitions, uploads.throttled) == (11, 0)
    assert requests.throttled == 0 and clock.sleeps == 0
    write_file(tmp_path / "segment-11", 1000, seed=11)
    api.upload(tmp_path / "segment-11", folder)  # the 12th upload in no time: past the burst of 11.4
    assert uploads.throttled == 1 and clock.now == pytest.approx((1 - 0.4) * 60 / 228)


def test_box_connection_form_shows_the_defaults_the_hook_uses() -> None:
    fields = get_provider_info()["connection-types"]
    box = next(entry for entry in fields if entry["connection-type"] == "box")["conn-fields"]
    assert box["max_uploads_per_minute"]["schema"]["default"] == DEFAULT_UPLOADS_PER_MINUTE
    assert box["max_requests_per_minute"]["schema"]["default"] == DEFAULT_REQUESTS_PER_MINUTE


def test_box_zero_means_unlimited(box_stand_in: BoxStandIn, box_connection: str, tmp_path: Path) -> None:
    api = box_api(box_connection)  # the stand-in fixture turns throttling off
    limits = api.rate_limits
    assert limits.uploads.unlimited and limits.requests.unlimited
    limits.uploads.clock = limits.uploads.sleep = limits.requests.clock = limits.requests.sleep = must_not_be_called
    write_file(tmp_path / "a.bin", 1000)
    api.upload(tmp_path / "a.bin", "0")
    assert limits.uploads.acquisitions == 1 and limits.requests.acquisitions == box_stand_in.faults.requests == 2


@pytest.mark.parametrize("extra", ["max_uploads_per_minute", "max_requests_per_minute"])
def test_box_bad_limit_fails_the_connection_test_by_name(box_stand_in: BoxStandIn, box_extras: Callable[..., str],
                                                        extra: str) -> None:
    hook = BoxHook(box_extras(**{extra: "-5"}))
    ok, message = hook.test_connection()
    assert not ok
    assert f"extra {extra} must be 0 (unlimited) or a positive number" in message
    assert box_stand_in.client_secret not in message and box_stand_in.faults.requests == 0


def test_parse_rate_limits_reads_the_extras() -> None:
    def limits(**extra: Any) -> tuple[float | None, float | None]:
        parsed = parse_rate_limits(ConnectionSettings(conn_id="b", conn_type="box", extra=extra))
        return parsed.uploads.limit, parsed.requests.limit

    assert limits() == (228, 952)
    assert limits(max_uploads_per_minute="", max_requests_per_minute=None) == (228, 952)
    assert limits(max_uploads_per_minute=0, max_requests_per_minute="0") == (None, None)
    assert limits(max_uploads_per_minute="100", max_requests_per_minute=500.5) == (100, 500.5)
    with pytest.raises(BoxConnectionError, match="'b': extra max_requests_per_minute must be a number"):
        limits(max_requests_per_minute="many")


@pytest.mark.parametrize(("url", "upload"), [
    ("https://upload.box.com/api/2.0/files/content", True),
    ("https://upload.box.com/api/2.0/files/upload_sessions/ABC?offset=0", True),
    ("https://UPLOAD.box.com/api/2.0/files/upload_sessions/ABC/commit", True),
    ("https://api.box.com/2.0/files/content", False),
    ("https://api.box.com/oauth2/token", False),
    ("https://upload.box.com/apix/2.0/files/content", False),
    ("http://upload.box.com/api/2.0/files/content", False),
    ("https://dl.boxcloud.com/d/1/abc/download", False),
])
def test_what_counts_as_an_upload(url: str, upload: bool) -> None:
    unlimited = BoxRateLimits(uploads=RateLimiter(None), requests=RateLimiter(None))
    assert ThrottledAdapter(unlimited, "https://upload.box.com/api/").is_upload(url) is upload
