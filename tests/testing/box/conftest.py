"""Fixtures for the Box stand-in conformance suite (``box_stand_in`` and friends come from the plugin)."""

from __future__ import annotations

import pytest
from box_helpers import KIB, MIB
from box_sdk_gen import BoxRetryStrategy

from airflow_provider_vectorbackup.testing.box import BoxStandIn


@pytest.fixture
def fast_retries() -> BoxRetryStrategy:
    """The SDK's own retry strategy with millisecond back-off (for faults sent without Retry-After)."""
    return BoxRetryStrategy(retry_base_interval=0.001)


@pytest.fixture
def small_chunks(box_stand_in: BoxStandIn) -> BoxStandIn:
    """Chunked uploads from 1 MiB with 256 KiB parts, so they stay fast."""
    box_stand_in.chunk_minimum = 1 * MIB
    box_stand_in.part_size = 256 * KIB
    return box_stand_in
