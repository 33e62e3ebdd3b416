"""AstraSource against the Astra stand-in, with the real astrapy client over HTTP. The client is never mocked."""

from __future__ import annotations

import json
import logging
import random

import pytest
from astrapy import DataAPIClient

from airflow_provider_vectorbackup import __version__
from airflow_provider_vectorbackup.exceptions import CredentialsRejected
from airflow_provider_vectorbackup.connection import ConnectionSettings
from airflow_provider_vectorbackup.sources.astra.client import AstraConnectionError, AstraSource, ScanStalledError
from airflow_provider_vectorbackup.sources.astra.retry import TRANSIENT_CODES, RetryPolicy, is_retryable
from airflow_provider_vectorbackup.sources.astra.insert import InFlightWindow
from airflow_provider_vectorbackup.sources.base import CollectionDefinitionMismatch, DocumentCount
from airflow_provider_vectorbackup.snapshot.vectors import floats_to_binary

KS = "default_keyspace"
DEFINITION = {"vector": {"dimension": 16, "metric": "dot_product", "sourceModel": "other"},
              "indexing": {"deny": ["blob"]}, "defaultId": {"type": "uuid"}}
FAST_RETRIES = RetryPolicy(max_attempts=8, initial_wait=0.001, max_wait=0.01)


def documents(count: int, dimension: int = 16, seed: int = 3) -> list[dict]:
    """Vectors in both encodings, EJSON values, unicode and nested data, as a real collection holds them."""
    rng = random.Random(seed)
    docs = []
    for i in range(count):
        vector = [rng.uniform(-1, 1) for _ in range(dimension)]
        docs.append({
            "_id": f"{i:06d}",
            "$vector": {"$binary": floats_to_binary(vector)} if i % 2 else [float(f"{x:.6f}") for x in vector],
            "title": f"Dokument {i} – 東京",
            "when": {"$date": 1_760_000_000_000 + i},
            "owner": {"$uuid": "12345678-1234-5678-1234-567812345678"},
            "meta": {"n": i, "big": 2**62 + i, "tags": ["x", "y"], "empty": []},
        })
    return docs


@pytest.fixture
def hook(astra_source) -> AstraSource:
    return astra_source(retry_policy=FAST_RETRIES)


@pytest.fixture
def seeded(astra_stand_in):
    astra_stand_in.create_collection(KS, "articles", DEFINITION)
    docs = documents(1_234)
    astra_stand_in.seed(KS, "articles", docs)
    return docs


def source_of(*, retry_policy: RetryPolicy | None = None, **fields) -> AstraSource:
    return AstraSource.from_connection(ConnectionSettings("astra_default", conn_type="astra_db", **fields),
                                       retry_policy=retry_policy)


# -- connection -------------------------------------------------------------------------------

def test_astra_endpoints_default_to_prod_and_default_keyspace() -> None:
    hook = source_of(host="https://0123-us-east1.apps.astra.datastax.com/", password="AstraCS:x")
    assert (hook.endpoint, hook.environment, hook.keyspace) == (
        "https://0123-us-east1.apps.astra.datastax.com", "prod", "default_keyspace")
    assert hook.database.api_options.callers == [("airflow-provider-vectorbackup", __version__)]


def test_self_managed_endpoints_need_a_keyspace() -> None:
    hook = source_of(host="10.0.0.5", port=8181, login="cassandra", password="pw",
                   extra={"environment": "hcd"})
    assert hook.endpoint == "https://10.0.0.5:8181"
    with pytest.raises(AstraConnectionError, match="set the 'keyspace' extra"):
        hook.keyspace


@pytest.mark.parametrize("fields, problem", [
    ({"password": "t"}, "has no host"),
    ({"host": "http://h:1/api/json/v1", "password": "t", "extra": {"keyspace": "k"}}, "without a path"),
    ({"host": "http://h:1", "password": "t", "extra": {"environment": "moon"}}, "not one of"),
    ({"host": "http://h:1", "extra": {"keyspace": "k"}}, "has no password"),
])
def test_bad_connections_say_which_field_to_fix(fields, problem) -> None:
    hook = source_of(**fields)
    with pytest.raises(AstraConnectionError, match=problem):
        hook.database


def test_test_connection_makes_a_real_call(hook, astra_stand_in) -> None:
    astra_stand_in.create_collection(KS, "a")
    ok, message = hook.test_connection()
    assert ok and "1 collection(s)" in message
    assert astra_stand_in.request_counts["findCollections"] == 1


def test_username_and_password_connections_use_the_cassandra_token(astra_stand_in) -> None:
    hook = source_of(host=astra_stand_in.url, login="cassandra", password="cassandra",
                   extra={"keyspace": KS, "environment": "hcd"})
    assert hook.test_connection()[0]


def test_the_token_never_leaks_into_messages_logs_or_repr(astra_stand_in, caplog, capsys) -> None:
    canary = "AstraCS:CANARY-7f3a9c-secret"
    hook = source_of(retry_policy=FAST_RETRIES, host=astra_stand_in.url, password=canary,
                     extra={"keyspace": KS, "environment": "other"})
    with caplog.at_level(logging.DEBUG):
        ok, message = hook.test_connection()
        with pytest.raises(Exception) as caught:
            list(hook.iter_documents("nope"))
    assert not ok and "401" in message
    seen = "\n".join([message, str(caught.value), repr(caught.value), repr(hook), caplog.text, *capsys.readouterr()])
    assert "CANARY" not in seen
    assert "CANARY" not in json.dumps(hook.describe_source())


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_token_is_reported_as_such_naming_the_connection(astra_stand_in, status) -> None:
    """401 (a wrong token) and 403 (a role without the right) are not retried and say what to check."""
    token = "AstraCS:CANARY-0b7d" if status == 401 else astra_stand_in.token
    hook = source_of(retry_policy=FAST_RETRIES, host=astra_stand_in.url, password=token,
                     extra={"keyspace": KS, "environment": "other"})
    if status == 403:
        astra_stand_in.faults.configure(server_error_every=1, server_error_status=403)
    with pytest.raises(CredentialsRejected) as caught:
        hook.list_collections()
    refused = caught.value
    assert (refused.conn_id, refused.service, refused.status) == ("astra_default", "Astra", status)
    assert f"connection 'astra_default' (HTTP {status}" in str(refused) and ": check that " in str(refused)
    assert ("application token" if status == 401 else "findCollections on default_keyspace") in str(refused)
    assert "CANARY" not in str(refused)
    assert astra_stand_in.faults.injected["server_error"] == (1 if status == 403 else 0), "never retried"


# -- reading ----------------------------------------------------------------------------------

def test_list_collections_returns_full_definitions(hook, astra_stand_in) -> None:
    astra_stand_in.create_collection(KS, "articles", DEFINITION)
    astra_stand_in.create_collection(KS, "plain")
    found = {info.name: info.definition for info in hook.list_collections()}
    assert found["articles"] == astra_stand_in.collection_options(KS, "articles")
    assert found["articles"]["vector"]["dimension"] == 16 and found["articles"]["defaultId"] == {"type": "uuid"}
    assert hook.collection_definition("missing") is None


def test_a_scan_returns_every_document_verbatim_with_vectors(hook, astra_stand_in, seeded) -> None:
    scanned = list(hook.iter_documents("articles"))
    assert scanned == astra_stand_in.dump_collection(KS, "articles")  # EJSON, $binary and arrays untouched
    assert len(scanned) == 1_234 and all("$vector" in d for d in scanned)
    assert scanned[1]["$vector"] == seeded[1]["$vector"] and scanned[0]["when"] == {"$date": 1_760_000_000_000}
    assert scanned[5]["meta"]["big"] == 2**62 + 5


def test_astrapys_default_projection_would_have_dropped_the_vectors(seeded, astra_stand_in) -> None:
    database = DataAPIClient(environment="other").get_database(astra_stand_in.url, token=astra_stand_in.token,
                                                               keyspace=KS)
    assert not any("$vector" in d for d in database.get_collection("articles").find({}, limit=50))


def test_scans_expose_page_states_and_resume_after_any_page(hook, seeded) -> None:
    pages = hook.scan_pages("articles")
    first = [next(pages) for _ in range(3)]
    assert first[0].page_state is None and first[1].page_state == first[0].next_page_state
    resumed = list(hook.scan_pages("articles", page_state=first[-1].next_page_state))
    ids = [d["_id"] for page in first + resumed for d in page.documents]
    assert ids == [d["_id"] for d in seeded]
    assert resumed[-1].next_page_state is None


FAULTS = {
    "latency": {"latency_ms": 1},
    "429 every 7th": {"rate_limit_every": 7, "retry_after_seconds": 0},
    "503 every 11th": {"server_error_every": 11},
    "dropped connection every 13th": {"drop_every": 13},
}


@pytest.mark.parametrize("mode", [*FAULTS, "empty page with a page state"])
def test_a_5000_document_scan_survives_each_fault_mode(hook, astra_stand_in, mode) -> None:
    astra_stand_in.create_collection(KS, "big", {"vector": {"dimension": 8}})
    astra_stand_in.seed(KS, "big", documents(5_000, dimension=8))
    if mode in FAULTS:
        astra_stand_in.faults.configure(**FAULTS[mode])
    else:
        astra_stand_in.empty_page_every = 3
    ids = [d["_id"] for d in hook.iter_documents("big") if "$vector" in d]
    assert len(ids) == len(set(ids)) == 5_000
    if mode in FAULTS and mode != "latency":
        assert sum(astra_stand_in.faults.injected.values()) > 10, "the faults must actually have happened"
    else:
        assert mode == "latency" or astra_stand_in.empty_pages_served > 10


def test_astrapys_own_cursor_stops_at_an_empty_page_but_the_hook_does_not(hook, astra_stand_in, seeded) -> None:
    astra_stand_in.empty_page_every = 3
    database = DataAPIClient(environment="other").get_database(astra_stand_in.url, token=astra_stand_in.token,
                                                               keyspace=KS)
    assert len(list(database.get_collection("articles").find({}))) < 1_234
    assert len(list(hook.iter_documents("articles"))) == 1_234


def test_a_server_that_only_answers_empty_pages_stalls_loudly(hook, astra_stand_in, seeded) -> None:
    astra_stand_in.empty_page_every = 1
    with pytest.raises(ScanStalledError, match="empty pages in a row"):
        list(hook.iter_documents("articles"))


def test_retries_give_up_after_the_configured_attempts(astra_stand_in, astra_source, seeded) -> None:
    from astrapy.exceptions import DataAPIHttpException

    astra_stand_in.faults.configure(server_error_every=1)
    hook = astra_source(retry_policy=RetryPolicy(max_attempts=3, initial_wait=0.001))
    with pytest.raises(DataAPIHttpException):
        list(hook.iter_documents("articles"))
    assert astra_stand_in.faults.injected["server_error"] == 3


@pytest.mark.parametrize("code", sorted(TRANSIENT_CODES))
def test_each_transient_in_band_error_is_retried_and_counted(hook, astra_stand_in, seeded, code) -> None:
    astra_stand_in.in_band_error_code = code
    astra_stand_in.in_band_error_every = 4
    ids = [d["_id"] for d in hook.iter_documents("articles")]
    assert len(ids) == len(set(ids)) == 1_234
    served = astra_stand_in.in_band_errors_served
    assert served > 10 and hook.in_band_retries.of("articles") == {code: served}


@pytest.mark.parametrize("error", [
    {"family": "REQUEST", "scope": "FILTER", "errorCode": "FILTER_INVALID_EXPRESSION"},
    {"family": "REQUEST", "scope": "DOCUMENT", "errorCode": "SHRED_DOC_LIMIT_VIOLATION"},
    {"family": "REQUEST", "scope": "SCHEMA", "errorCode": "UNKNOWN_KEYSPACE"},
    {"family": "REQUEST", "scope": "SECURITY", "errorCode": "UNAUTHENTICATED_REQUEST"},
    {"family": "SERVER", "scope": "DATABASE", "errorCode": "UNAUTHORIZED_ACCESS"},
    {"family": "SERVER", "scope": "", "errorCode": "INTERNAL_SERVER_ERROR"},
    {"family": "SERVER", "scope": "DATABASE", "errorCode": "UNEXPECTED_DRIVER_ERROR"},
    {"family": "SERVER", "scope": "DATABASE", "errorCode": "INVALID_DATABASE_QUERY"},
    {"family": "SERVER", "scope": "DATABASE", "errorCode": "UNSUPPORTED_DATABASE_QUERY"},
], ids=lambda e: f"{e['family']}-{e['errorCode']}")
def test_client_and_unknown_server_errors_are_never_retried(error) -> None:
    from astrapy.exceptions import DataAPIResponseException

    calls = []

    def refused() -> None:
        calls.append(1)
        raise DataAPIResponseException.from_response(command=None, raw_response={"errors": [error]})

    with pytest.raises(DataAPIResponseException):
        FAST_RETRIES.call("find on c", refused)
    assert len(calls) == 1 and not is_retryable(DataAPIResponseException.from_response(
        command=None, raw_response={"errors": [error]}))


def test_a_client_error_from_the_stand_in_is_raised_at_once(hook, astra_stand_in, seeded) -> None:
    from astrapy.exceptions import DataAPIResponseException

    with pytest.raises(DataAPIResponseException, match="FILTER_UNSUPPORTED_OPERATOR"):
        list(hook.iter_documents("articles", filter={"_id": {"$foo": 1}}))
    assert astra_stand_in.request_counts["find"] == 1 and hook.in_band_retries.of("articles") == {}


def test_in_band_retries_give_up_after_the_configured_attempts(astra_stand_in, astra_source, seeded) -> None:
    from astrapy.exceptions import DataAPIResponseException

    astra_stand_in.in_band_error_every = 1
    hook = astra_source(retry_policy=RetryPolicy(max_attempts=3, initial_wait=0.001))
    with pytest.raises(DataAPIResponseException, match="UNAVAILABLE_DATABASE"):
        list(hook.iter_documents("articles"))
    assert astra_stand_in.in_band_errors_served == 3
    assert hook.in_band_retries.of("articles") == {"UNAVAILABLE_DATABASE": 2}  # the last one was not retried


def test_counts_are_exact_up_to_the_server_limit(hook, astra_stand_in, seeded) -> None:
    assert hook.count_documents("articles") == DocumentCount(1_000, exact=False)
    assert hook.count_documents("articles", filter={"_id": {"$in": ["000001", "000002"]}}) == DocumentCount(2, True)
    assert hook.estimated_document_count("articles") == 1_234


# -- writing ----------------------------------------------------------------------------------

def test_create_collection_is_idempotent_and_refuses_a_different_definition(hook, astra_stand_in) -> None:
    definition = {"vector": {"dimension": 16, "metric": "cosine", "sourceModel": "other"}}
    assert hook.create_collection("restored", definition) is True
    assert hook.create_collection("restored", hook.collection_definition("restored")) is False
    with pytest.raises(CollectionDefinitionMismatch, match="differs in: vector"):
        hook.create_collection("restored", {"vector": {"dimension": 8, "metric": "cosine", "sourceModel": "other"}})
    hook.drop_collection("restored")
    assert hook.collection_definition("restored") is None


def test_inserts_are_complete_and_a_rerun_is_idempotent(hook, astra_stand_in, seeded) -> None:
    source = list(hook.iter_documents("articles"))
    hook.create_collection("copy", hook.collection_definition("articles"))
    first = hook.insert_documents("copy", source, chunk_size=20, concurrency=4)
    assert (first.inserted, first.already_present, first.ok) == (1_234, 0, True)
    again = hook.insert_documents("copy", source, chunk_size=50, concurrency=2)
    assert (again.inserted, again.already_present, again.ok) == (0, 1_234, True)
    assert sorted(astra_stand_in.dump_collection(KS, "copy"), key=lambda d: d["_id"]) == source  # chunks race


def test_inserts_survive_faults(astra_stand_in, astra_source, seeded) -> None:
    # Concurrent chunks share the fault counter, so one chunk may meet several faults in a row:
    # enough attempts that a run never depends on luck (43% of requests fail; 0.43**30 is negligible).
    hook = astra_source(retry_policy=RetryPolicy(max_attempts=30, initial_wait=0.001, max_wait=0.01))
    source = list(hook.iter_documents("articles"))
    hook.create_collection("copy", hook.collection_definition("articles"))
    astra_stand_in.faults.configure(drop_every=5, rate_limit_every=7, server_error_every=11)
    report = hook.insert_documents("copy", source, chunk_size=10, concurrency=4)
    assert report.ok and report.documents == 1_234
    assert sorted(astra_stand_in.dump_collection(KS, "copy"), key=lambda d: d["_id"]) == source


def test_throttled_inserts_back_off_and_say_so(astra_stand_in, astra_source, seeded) -> None:
    hook = astra_source(retry_policy=RetryPolicy(max_attempts=30, initial_wait=0.001, max_wait=0.01))
    source = list(hook.iter_documents("articles"))
    hook.create_collection("copy", hook.collection_definition("articles"))
    astra_stand_in.faults.configure(rate_limit_every=3)
    report = hook.insert_documents("copy", source, chunk_size=10, concurrency=8)
    assert report.ok and report.documents == 1_234
    assert report.throttled == astra_stand_in.faults.injected["rate_limit"] > 0
    assert report.fewest_in_flight is not None and report.fewest_in_flight < 8
    assert "throttled request(s) sent again (backed off to" in report.summary()
    assert sorted(astra_stand_in.dump_collection(KS, "copy"), key=lambda d: d["_id"]) == source


def test_the_in_flight_window_halves_when_throttled_and_grows_back_one_at_a_time() -> None:
    window = InFlightWindow(8)
    window.completed(throttled=True)
    window.completed(throttled=True)
    assert (window.limit, window.fewest) == (2, 2)
    for _ in range(2):
        window.completed(throttled=False)
    assert window.limit == 3  # one more after a window's worth of calm answers
    for _ in range(100):
        window.completed(throttled=False)
    assert (window.limit, window.fewest) == (8, 2)  # never above the ceiling; the low point is remembered
    window = InFlightWindow(1)
    window.completed(throttled=True)
    assert window.limit == 1  # never below one


def test_inserts_survive_in_band_errors_and_partly_applied_batches(astra_stand_in, astra_source, seeded) -> None:
    hook = astra_source(retry_policy=RetryPolicy(max_attempts=30, initial_wait=0.001, max_wait=0.01))
    source = list(hook.iter_documents("articles"))
    hook.create_collection("copy", hook.collection_definition("articles"))
    astra_stand_in.in_band_error_every = 7
    astra_stand_in.partial_insert_every = 5
    report = hook.insert_documents("copy", source, chunk_size=10, concurrency=4)
    assert report.ok and report.documents == 1_234
    assert report.already_present > 0  # written by a partly applied batch, then confirmed identical
    assert astra_stand_in.partial_inserts_served > 10
    assert sorted(astra_stand_in.dump_collection(KS, "copy"), key=lambda d: d["_id"]) == source
    retried = hook.in_band_retries.of("copy")
    assert retried["FAILED_CONCURRENT_OPERATIONS"] == astra_stand_in.partial_inserts_served
    assert retried["UNAVAILABLE_DATABASE"] > 0


def test_a_different_document_under_an_existing_id_is_a_failure(hook, astra_stand_in, seeded) -> None:
    changed = dict(seeded[0], title="changed")
    report = hook.insert_documents("articles", [changed, seeded[1]], chunk_size=20, concurrency=1)
    assert report.already_present == 1 and len(report.failures) == 1
    assert report.failures[0].id == seeded[0]["_id"] and "different document" in report.failures[0].message
    assert "1 failed" in report.summary()


def test_refused_documents_are_reported_one_by_one(hook, astra_stand_in) -> None:
    astra_stand_in.create_collection(KS, "vectors", {"vector": {"dimension": 3}})
    report = hook.insert_documents("vectors", [{"_id": "good", "$vector": [0.1, 0.2, 0.3]},
                                               {"_id": "short", "$vector": [0.1]}], chunk_size=2, concurrency=1)
    assert report.inserted == 1 and [f.id for f in report.failures] == ["short"]


def test_chunk_size_is_bounded_by_the_data_api_limit(hook) -> None:
    with pytest.raises(ValueError, match="between 1 and 100"):
        hook.insert_documents("x", [], chunk_size=101)
