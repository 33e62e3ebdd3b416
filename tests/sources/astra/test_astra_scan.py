"""Parallel, prefetched collection scans against the Astra stand-in, through the real AstraSource and astrapy.

The point of these tests is completeness: whatever the mix of ``_id`` types, every document is
read exactly once, and the scan record says how and why.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections import Counter

import pytest

from airflow_provider_vectorbackup.sources.astra.client import AstraSource
from airflow_provider_vectorbackup.sources.astra.retry import RetryPolicy
from airflow_provider_vectorbackup.sources.astra.scan import CollectionScan, id_range_shards, rangeable_id
from airflow_provider_vectorbackup.sources.base import Partition

KS = "default_keyspace"
DEFINITION = {"vector": {"dimension": 2, "metric": "cosine"}}


@pytest.fixture
def hook(astra_source) -> AstraSource:
    return astra_source(retry_policy=RetryPolicy(max_attempts=3, initial_wait=0.001, max_wait=0.01))


def string_ids(count: int, seed: int = 5) -> list[str]:
    rng = __import__("random").Random(seed)
    return [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(count)]


ODD_STRINGS = ["", "Zulu", "~tilde", "é-accent", "東京", "0", "f", "ffff", "10", "😀"]
RANGEABLE_OTHERS = [0, -1, 7, 2.5, -1e300, 2**53, {"$date": 0}, {"$date": -86_400_000}, {"$date": 1_760_000_000_000},
                    True, False]
UNRANGEABLE = [{"$uuid": "12345678-1234-4234-8234-567812345678"}, {"$objectId": "5f1a2b3c4d5e6f7a8b9c0d1e"}]


def seed(astra_stand_in, name: str, ids: list, definition: dict = DEFINITION) -> None:
    astra_stand_in.create_collection(KS, name, definition)
    astra_stand_in.seed(KS, name, ({"_id": i, "$vector": [1.0, float(n + 1)], "n": n} for n, i in enumerate(ids)))


def read_all(scan: CollectionScan) -> list[dict]:
    with contextlib.closing(scan.pages()) as pages:
        return [document for page in pages for document in page]


def key(value) -> str:
    return repr(sorted(value.items())) if isinstance(value, dict) else f"{type(value).__name__}:{value!r}"


def assert_each_read_once(documents: list[dict], ids: list) -> None:
    seen = Counter(key(d["_id"]) for d in documents)
    assert seen == Counter(key(i) for i in ids), "every document exactly once"


def test_the_shards_cover_every_rangeable_id_type_and_only_those() -> None:
    shards = id_range_shards()
    assert len({s.name for s in shards}) == len(shards) == 22
    assert all(rangeable_id(i) for i in ODD_STRINGS + RANGEABLE_OTHERS)
    assert not any(rangeable_id(i) for i in UNRANGEABLE + [None, [1]])


def test_generated_uuid_ids_are_read_in_parallel_and_reconciled(hook, astra_stand_in) -> None:
    ids = string_ids(300) + ODD_STRINGS
    seed(astra_stand_in, "docs", ids)
    scan = CollectionScan(hook, "docs", DEFINITION, streams=4)
    documents = read_all(scan)
    assert_each_read_once(documents, ids)
    record = scan.record
    assert record.mode == "id-ranges" and record.streams == 4 and record.documents == len(ids)
    assert sum(record.shards.values()) == len(ids) and record.shards["string[,1)"] >= 2  # "" and "0" sort first
    assert record.server_count == len(ids) and record.server_count_exact is True
    assert record.full_pass_documents is None, "nothing was missing, so no second pass"


def test_mixed_id_types_are_all_read_exactly_once(hook, astra_stand_in) -> None:
    # Strings first, so the probe page sees only strings and the scan goes by range; numbers, dates and
    # booleans are then read by the typed shards, and $uuid/$objectId ids (which no range can select)
    # by the reconciling full pass that the server's count triggers.
    ids = string_ids(60) + ODD_STRINGS + RANGEABLE_OTHERS + UNRANGEABLE
    seed(astra_stand_in, "mixed", ids)
    scan = CollectionScan(hook, "mixed", DEFINITION, streams=3)
    documents = read_all(scan)
    assert_each_read_once(documents, ids)
    record = scan.record
    assert record.mode == "id-ranges"
    assert record.shards["number<0"] == 2 and record.shards["number>=0"] == 4
    assert record.shards["date<1970"] == 1 and record.shards["date>=1970"] == 2
    assert record.shards["boolean:true"] == 1 and record.shards["boolean:false"] == 1
    assert record.full_pass_documents == len(UNRANGEABLE)
    assert record.documents == len(ids) == record.server_count


def test_a_probe_page_with_other_id_types_means_one_scan_resumed_after_the_probe(hook, astra_stand_in) -> None:
    ids = UNRANGEABLE + RANGEABLE_OTHERS + string_ids(50)
    seed(astra_stand_in, "odd_first", ids)
    scan = CollectionScan(hook, "odd_first", DEFINITION, streams=4)
    documents = read_all(scan)
    assert_each_read_once(documents, ids)
    assert scan.record.mode == "single" and "not strings" in scan.record.reason


def test_default_id_collections_and_single_mode_use_one_scan(hook, astra_stand_in) -> None:
    definition = {**DEFINITION, "defaultId": {"type": "uuidv7"}}
    seed(astra_stand_in, "v7", string_ids(45), definition)
    scan = CollectionScan(hook, "v7", definition, streams=4)
    assert len(read_all(scan)) == 45
    assert scan.record.mode == "single" and "defaultId" in scan.record.reason
    single = CollectionScan(hook, "v7", definition, mode="single")
    assert len(read_all(single)) == 45 and single.record.reason == "single scan requested"


def test_a_collection_of_one_page_is_read_by_the_probe_alone(hook, astra_stand_in) -> None:
    seed(astra_stand_in, "small", string_ids(5))
    scan = CollectionScan(hook, "small", DEFINITION, streams=4)
    assert len(read_all(scan)) == 5 and scan.record.mode == "single"


def test_a_fault_that_outlasts_the_retries_is_raised_to_the_reader(hook, astra_stand_in) -> None:
    seed(astra_stand_in, "flaky", string_ids(200))
    astra_stand_in.faults.configure(server_error_every=1)
    with pytest.raises(Exception, match="503|Service Unavailable|server"):
        read_all(CollectionScan(hook, "flaky", DEFINITION, streams=4))


def test_leaving_early_stops_the_fetchers(hook, astra_stand_in) -> None:
    seed(astra_stand_in, "big", string_ids(400))
    scan = CollectionScan(hook, "big", DEFINITION, streams=4)
    with contextlib.closing(scan.pages()) as pages:
        first = next(pages)
    assert first
    assert not [t for t in threading.enumerate() if t.name.startswith("scan-big")], "no fetcher left running"


@pytest.mark.parametrize("estimate", [0, 1050, 5000], ids=["estimate-zero", "estimate-below", "estimate-above"])
def test_beyond_the_exact_count_only_an_equal_estimate_spares_the_full_pass(hook, astra_stand_in, estimate) -> None:
    # 1,100 string ids and then $uuid/$objectId ids: countDocuments stops at 1,000, so only the estimate is left,
    # and a stale one (the stand-in's is exact, hence the patch) must not let the unrangeable ids go unread.
    ids = string_ids(1100) + UNRANGEABLE
    seed(astra_stand_in, "large", ids)
    hook.estimated_document_count = lambda name: estimate
    scan = CollectionScan(hook, "large", DEFINITION, streams=4)
    assert_each_read_once(read_all(scan), ids)
    assert scan.record.server_count_exact is False and scan.record.full_pass_documents == len(UNRANGEABLE)
    assert scan.record.reconciliation.startswith("full pass")


def test_an_estimate_equal_to_what_was_found_proves_it_and_ranges_mode_trusts(hook, astra_stand_in) -> None:
    ids = string_ids(1100)
    seed(astra_stand_in, "strings", ids)
    exact = CollectionScan(hook, "strings", DEFINITION, streams=4)
    assert_each_read_once(read_all(exact), ids)
    assert exact.record.reconciliation == "estimated count equals the documents found"
    assert exact.record.full_pass_documents is None
    hook.estimated_document_count = lambda name: 0
    trusting = CollectionScan(hook, "strings", DEFINITION, streams=4, mode="ranges")
    assert_each_read_once(read_all(trusting), ids)
    assert trusting.record.reconciliation.startswith("trusted") and trusting.record.full_pass_documents is None


# -- older Data API releases and in-band errors ----------------------------------------------

def test_without_string_bounds_the_scan_falls_back_to_one_stream(hook, astra_stand_in) -> None:
    ids = string_ids(120) + RANGEABLE_OTHERS + UNRANGEABLE
    seed(astra_stand_in, "old", ids)
    astra_stand_in.refuse_id_ranges = ["string", "date"]
    scan = CollectionScan(hook, "old", DEFINITION, streams=4)
    assert_each_read_once(read_all(scan), ids)
    assert scan.record.mode == "single" and "String bounds" in scan.record.reason
    assert scan.record.fallback == {"refused": ["date", "string"], "error": "FILTER_UNSUPPORTED_DATA_TYPE",
                                    "instead": "single"}
    assert scan.record.to_dict()["fallback"]["instead"] == "single"


@pytest.mark.parametrize("mode", ["auto", "ranges"])
def test_without_date_bounds_the_other_shards_are_read_and_date_ids_by_the_full_pass(hook, astra_stand_in,
                                                                                     mode) -> None:
    ids = string_ids(120) + ODD_STRINGS + RANGEABLE_OTHERS + UNRANGEABLE
    seed(astra_stand_in, "old", ids)
    astra_stand_in.refuse_id_ranges = ["date"]
    scan = CollectionScan(hook, "old", DEFINITION, streams=4, mode=mode)
    assert_each_read_once(read_all(scan), ids)  # even "ranges" cannot trust shards that skip a type
    record = scan.record
    assert record.mode == "id-ranges" and not any(name.startswith("date") for name in record.shards)
    assert record.fallback == {"refused": ["date"], "error": "FILTER_UNSUPPORTED_DATA_TYPE",
                               "instead": "id-ranges without the date shards"}
    assert record.full_pass_documents == 3 + len(UNRANGEABLE)  # the three date ids, then $uuid and $objectId
    assert id_range_shards(frozenset({"date"})) == [s for s in id_range_shards() if not s.name.startswith("date")]
    assert not rangeable_id({"$date": 0}, frozenset({"date"})) and not rangeable_id("a", frozenset({"string"}))


def test_a_refusal_is_detected_before_any_shard_is_read(hook, astra_stand_in) -> None:
    seed(astra_stand_in, "old", string_ids(120))
    astra_stand_in.refuse_id_ranges = ["string"]
    astra_stand_in.reset_request_counts()
    read_all(CollectionScan(hook, "old", DEFINITION, streams=4))
    # the probe page of 20, one range request per type, then the other 100 documents in 5 pages: no shard at all
    assert astra_stand_in.request_counts["find"] == 1 + 2 + 5


def test_in_band_errors_during_a_scan_are_retried_and_recorded_by_code(astra_stand_in, astra_source) -> None:
    hook = astra_source(retry_policy=RetryPolicy(max_attempts=8, initial_wait=0.001, max_wait=0.01))
    ids = string_ids(500) + UNRANGEABLE
    seed(astra_stand_in, "busy", ids)
    seed(astra_stand_in, "quiet", string_ids(10))
    read_all(CollectionScan(hook, "quiet", DEFINITION, streams=4))
    astra_stand_in.in_band_error_every = 5
    scan = CollectionScan(hook, "busy", DEFINITION, streams=4)
    assert_each_read_once(read_all(scan), ids)
    served = astra_stand_in.in_band_errors_served
    assert served > 5 and scan.record.in_band_retries == {"UNAVAILABLE_DATABASE": served}
    assert scan.record.to_dict()["in_band_retries"] == {"UNAVAILABLE_DATABASE": served}
    again = CollectionScan(hook, "quiet", DEFINITION, streams=4)  # another scan counts only its own retries
    astra_stand_in.in_band_error_every = 0
    read_all(again)
    assert again.record.in_band_retries == {} and "in_band_retries" not in again.record.to_dict()


# -- partitions, for readers in other processes -----------------------------------------------

def read_partitions(hook: AstraSource, name: str, partitions: list[Partition]) -> dict[str, list[dict]]:
    return {p.name: [d for page in hook.read_partition(name, Partition.from_dict(p.to_dict())) for d in page]
            for p in partitions}


def test_partitions_are_the_shards_and_a_rest_holding_only_what_no_shard_can(hook, astra_stand_in) -> None:
    ids = string_ids(120) + ODD_STRINGS + RANGEABLE_OTHERS + UNRANGEABLE
    seed(astra_stand_in, "parts", ids)
    partitions = hook.partitions("parts", DEFINITION)
    assert [p.name for p in partitions] == [s.name for s in id_range_shards()] + ["rest"]
    read = read_partitions(hook, "parts", partitions)
    assert_each_read_once([d for documents in read.values() for d in documents], ids)
    assert Counter(key(d["_id"]) for d in read["rest"]) == Counter(key(i) for i in UNRANGEABLE)
    trusted = hook.partitions("parts", DEFINITION, mode="ranges")
    assert [p.name for p in trusted] == [s.name for s in id_range_shards()], "ranges mode trusts, as the scan does"


@pytest.mark.parametrize("why", ["single mode", "defaultId", "one page", "odd ids on the probe page",
                                 "no string bounds"])
def test_one_partition_wherever_the_scan_would_read_with_one_scan(hook, astra_stand_in, why) -> None:
    ids = UNRANGEABLE + string_ids(60) if why == "odd ids on the probe page" else string_ids(10 if why == "one page"
                                                                                          else 60)
    definition = {**DEFINITION, "defaultId": {"type": "uuid"}} if why == "defaultId" else DEFINITION
    seed(astra_stand_in, "whole", ids, definition)
    if why == "no string bounds":
        astra_stand_in.refuse_id_ranges = ["string"]
    partitions = hook.partitions("whole", definition, mode="single" if why == "single mode" else "auto")
    assert [p.to_dict() for p in partitions] == [{"name": "all", "spec": {"filter": {}}}]
    assert_each_read_once(read_partitions(hook, "whole", partitions)["all"], ids)


def test_without_date_bounds_date_ids_are_read_by_the_rest_partition(hook, astra_stand_in) -> None:
    ids = string_ids(120) + RANGEABLE_OTHERS + UNRANGEABLE
    seed(astra_stand_in, "old", ids)
    astra_stand_in.refuse_id_ranges = ["date"]
    partitions = hook.partitions("old", DEFINITION, mode="ranges")  # even "ranges" cannot trust a skipped type
    assert partitions[-1].to_dict() == {"name": "rest", "spec": {"filter": {}, "keep": "unrangeable",
                                                                 "refused": ["date"]}}
    read = read_partitions(hook, "old", partitions)
    assert_each_read_once([d for documents in read.values() for d in documents], ids)
    assert len(read["rest"]) == 3 + len(UNRANGEABLE)
