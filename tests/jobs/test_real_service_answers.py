"""What the real Data API does that a dump and a restore must survive (issue 13): transient errors
answered in-band with HTTP 200, and self-managed releases that refuse String or Date bounds on ``_id``.

Real hooks and astrapy over HTTP against the stand-in, into a local-folder store.
"""

from __future__ import annotations

import pytest

from airflow_provider_vectorbackup.hooks.astra import AstraDBHook
from airflow_provider_vectorbackup.sources.astra.retry import RetryPolicy
from airflow_provider_vectorbackup.jobs.dump import DumpOptions, dump_snapshot
from airflow_provider_vectorbackup.jobs.restore import RestoreOptions, restore_snapshot
from airflow_provider_vectorbackup.stores.local import LocalStore
from tests.jobs.test_dump_pipeline import seed_uuid_collections

# Parallel streams share the stand-in's counter, so one request may meet the error several times in a row.
PATIENT = RetryPolicy(max_attempts=20, initial_wait=0.001, max_wait=0.01)
SIZES = {"alpha": 400, "beta": 130}


def test_a_dump_retries_in_band_errors_and_records_them_in_the_scan_record(astra_stand_in, astra_connection,
                                                                            tmp_path) -> None:
    expected = seed_uuid_collections(astra_stand_in, SIZES)
    astra_stand_in.in_band_error_every = 5
    outcome = dump_snapshot(AstraDBHook(retry_policy=PATIENT).get_conn(), LocalStore(tmp_path), "20260501T000000Z")
    assert outcome.manifest.status == "complete" and not outcome.failures
    retried = 0
    for name, digest in expected.items():
        entry = outcome.manifest.collection(name)
        assert entry.content_digest == digest and entry.document_count == SIZES[name]
        assert set(entry.scan["in_band_retries"]) == {"UNAVAILABLE_DATABASE"}
        retried += entry.scan["in_band_retries"]["UNAVAILABLE_DATABASE"]
    # Every error served was retried; the few not in a scan record hit the collection list or the ETA estimate.
    assert 10 < retried <= astra_stand_in.in_band_errors_served


def test_a_restore_retries_in_band_errors_reconciles_partly_applied_batches_and_validates(
        astra_stand_in, astra_connection, tmp_path) -> None:
    expected = seed_uuid_collections(astra_stand_in, SIZES)
    store = LocalStore(tmp_path)
    hook = AstraDBHook(retry_policy=PATIENT).get_conn()
    dump_snapshot(hook, store, "20260501T000000Z")
    astra_stand_in.in_band_error_every = 11
    astra_stand_in.partial_insert_every = 4
    report = restore_snapshot(store, "20260501T000000Z", hook, RestoreOptions(target_prefix="back_", chunk_size=10))
    assert report["ok"] and astra_stand_in.partial_inserts_served > 5
    for name, digest in expected.items():
        result = report["collections"][name]
        assert result["digest_restored"] == digest and result["documents_restored"] == SIZES[name]
        assert result["failures"] == [] and result["inserted"] + result["already_present"] == SIZES[name]
        assert result["in_band_retries"]["UNAVAILABLE_DATABASE"] > 0
    partial = sum(r["in_band_retries"].get("FAILED_CONCURRENT_OPERATIONS", 0) for r in report["collections"].values())
    assert partial == astra_stand_in.partial_inserts_served
    assert sum(r["already_present"] for r in report["collections"].values()) > 0  # written before the error


@pytest.mark.parametrize("refused, instead", [
    (["string"], "single"), (["string", "date"], "single"), (["date"], "id-ranges without the date shards"),
])
def test_a_dump_from_an_older_release_falls_back_and_matches_a_single_stream_dump(
        astra_stand_in, astra_connection, tmp_path, refused, instead) -> None:
    seed_uuid_collections(astra_stand_in, SIZES)
    vector = [1.0] + [0.0] * 7
    astra_stand_in.seed("default_keyspace", "alpha", [{"_id": {"$date": 5}, "n": -1, "$vector": vector},
                                                      {"_id": 7, "n": -2, "$vector": vector}])
    hook = AstraDBHook(retry_policy=PATIENT).get_conn()
    store = LocalStore(tmp_path)
    single = dump_snapshot(hook, store, "20260501T000000Z-single", DumpOptions(scan_mode="single"))
    astra_stand_in.refuse_id_ranges = refused
    old = dump_snapshot(hook, store, "20260501T000000Z-old")
    assert old.manifest.status == "complete" and not old.failures
    for name in SIZES:
        entry = old.manifest.collection(name)
        assert entry.content_digest == single.manifest.collection(name).content_digest
        assert entry.scan["fallback"] == {"refused": sorted(refused), "error": "FILTER_UNSUPPORTED_DATA_TYPE",
                                          "instead": instead}
    assert "fallback" not in single.manifest.collection("alpha").scan


def test_a_restore_validates_against_an_older_release_with_its_scan_mode(astra_stand_in, astra_connection,
                                                                         tmp_path) -> None:
    expected = seed_uuid_collections(astra_stand_in, SIZES)
    store = LocalStore(tmp_path)
    hook = AstraDBHook(retry_policy=PATIENT).get_conn()
    dump_snapshot(hook, store, "20260501T000000Z")
    astra_stand_in.refuse_id_ranges = ["string", "date"]
    report = restore_snapshot(store, "20260501T000000Z", hook, RestoreOptions(target_prefix="auto_"))
    assert report["ok"] and report["collections"]["alpha"]["digest_restored"] == expected["alpha"]
    assert report["collections"]["alpha"]["scan"]["fallback"]["instead"] == "single"
    ranged = restore_snapshot(store, "20260501T000000Z", hook,
                              RestoreOptions(target_prefix="single_", scan_mode="single"))
    assert ranged["ok"] and ranged["collections"]["alpha"]["scan"]["reason"] == "single scan requested"
    with pytest.raises(ValueError, match="scan_mode must be one of"):
        RestoreOptions(scan_mode="fast")
