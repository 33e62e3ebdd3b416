"""Fault injection and regression mode, seen by httpx (exact schedules) and by astrapy (what it raises)."""

from __future__ import annotations

import time

import httpx
import pytest
from astrapy import DataAPIClient
from astrapy.api_options import APIOptions, TimeoutOptions
from astrapy.exceptions import DataAPIHttpException, DataAPITimeoutException

from airflow_provider_vectorbackup.testing.astra import AstraStandIn, FaultPlan


def _post(client: httpx.Client, stand_in: AstraStandIn) -> httpx.Response:
    return client.post(f"{stand_in.url}/v1/default_keyspace", json={"findCollections": {}},
                       headers={"Token": stand_in.token})


def test_rate_limit_schedule_is_exact_with_retry_after(astra_stand_in):
    astra_stand_in.faults.configure(rate_limit_every=7, retry_after_seconds=2)
    with httpx.Client() as client:
        responses = [_post(client, astra_stand_in) for _ in range(21)]
    limited = [i + 1 for i, r in enumerate(responses) if r.status_code == 429]
    assert limited == [7, 14, 21]
    assert all(r.status_code == 200 for r in responses if r.status_code != 429)
    assert responses[6].headers["retry-after"] == "2"
    assert responses[6].json()["errors"][0]["errorCode"] == "TOO_MANY_REQUESTS"
    assert astra_stand_in.request_counts["findCollections"] == 18  # faulted requests never reach the engine


def test_server_errors_every_n_and_runtime_reconfiguration():
    with AstraStandIn(faults=FaultPlan(server_error_every=3, server_error_status=502)) as stand_in:
        with httpx.Client() as client:
            statuses = [_post(client, stand_in).status_code for _ in range(6)]
            assert statuses == [200, 200, 502, 200, 200, 502]
            stand_in.faults.configure(server_error_every=0)
            assert {_post(client, stand_in).status_code for _ in range(6)} == {200}
        assert stand_in.faults.injected["server_error"] == 2


def test_astrapy_does_not_retry_429_or_5xx(astra_stand_in, db):
    coll = db.create_collection("c")
    astra_stand_in.faults.configure(rate_limit_every=1, retry_after_seconds=1)
    with pytest.raises(DataAPIHttpException) as info:
        coll.find_one({})
    assert info.value.response.status_code == 429
    assert astra_stand_in.faults.injected["rate_limit"] == 1  # one attempt: astrapy surfaces it
    astra_stand_in.faults.configure(rate_limit_every=0, server_error_every=1, server_error_status=503)
    with pytest.raises(DataAPIHttpException) as info:
        coll.insert_one({"a": 1})
    assert info.value.response.status_code == 503
    astra_stand_in.faults.reset()
    assert coll.estimated_document_count() == 0  # the 503'd insert never happened


def test_dropped_connection_is_a_transport_error(astra_stand_in, db):
    coll = db.create_collection("c")
    astra_stand_in.faults.configure(drop_every=2)
    coll.insert_one({"_id": 1})  # request 1 passes
    with pytest.raises(httpx.TransportError):
        coll.insert_one({"_id": 2})  # request 2 is dropped without a response
    assert astra_stand_in.faults.injected["drop"] == 1
    astra_stand_in.faults.reset()
    assert [d["_id"] for d in coll.find({})] == [1]


def test_latency_is_added(astra_stand_in, db):
    coll = db.create_collection("c")
    astra_stand_in.faults.configure(latency_ms=150)
    started = time.perf_counter()
    coll.find_one({})
    assert time.perf_counter() - started >= 0.15


def test_astrapy_request_timeout_fires_on_latency(astra_stand_in):
    astra_stand_in.create_collection("default_keyspace", "c")
    astra_stand_in.faults.configure(latency_ms=500)
    client = DataAPIClient(environment="other",
                           api_options=APIOptions(timeout_options=TimeoutOptions(request_timeout_ms=100)))
    coll = client.get_database(astra_stand_in.url, token=astra_stand_in.token,
                               keyspace="default_keyspace").get_collection("c")
    with pytest.raises(DataAPITimeoutException):
        coll.find_one({})


def test_regression_mode_never_returns_vector(astra_stand_in, vectors):
    vectors.insert_many([{"_id": i, "$vector": [1, i, 0]} for i in range(30)])
    astra_stand_in.regression_mode = True
    assert all("$vector" not in d for d in vectors.find({}, projection={"*": True}))
    assert "$vector" not in vectors.find_one({"_id": 1}, projection={"$vector": True})
    raw = vectors.command({"find": {"sort": {"$vector": [1, 0, 0]}, "projection": {"*": True}}})
    assert all("$vector" not in d for d in raw["data"]["documents"])
    assert all("$vector" in d for d in astra_stand_in.dump_collection("default_keyspace", "vectors"))
    astra_stand_in.regression_mode = False
    assert all("$vector" in d for d in vectors.find({}, projection={"*": True}))


def test_reset_restores_the_constructed_state():
    with AstraStandIn(page_size=50, faults=FaultPlan(latency_ms=1)) as stand_in:
        db = DataAPIClient(environment="other").get_database(stand_in.url, token=stand_in.token,
                                                             keyspace="default_keyspace")
        db.create_collection("c").insert_one({"a": 1})
        db.get_database_admin().create_keyspace("extra")
        stand_in.regression_mode, stand_in.page_size = True, 20
        stand_in.faults.configure(rate_limit_every=5)
        stand_in.reset()
        assert stand_in.request_counts == {}
        assert (stand_in.regression_mode, stand_in.page_size) == (False, 50)
        assert stand_in.faults.plan == FaultPlan(latency_ms=1)
        assert db.list_collection_names() == []
        assert db.get_database_admin().list_keyspaces() == ["default_keyspace"]


def _command(client: httpx.Client, stand_in: AstraStandIn, body: dict, collection: str = "c") -> httpx.Response:
    return client.post(f"{stand_in.url}/v1/default_keyspace/{collection}", json=body,
                       headers={"Token": stand_in.token})


def test_in_band_errors_answer_http_200_on_an_exact_schedule(astra_stand_in, db):
    from astrapy.exceptions import DataAPIResponseException

    db.create_collection("c").insert_many([{"_id": i} for i in range(3)])
    astra_stand_in.in_band_error_every = 3
    with httpx.Client() as client:
        responses = [_command(client, astra_stand_in, {"countDocuments": {}}) for _ in range(6)]
    assert {r.status_code for r in responses} == {200}
    failed = [i + 1 for i, r in enumerate(responses) if "errors" in r.json()]
    assert failed == [3, 6] and astra_stand_in.in_band_errors_served == 2
    error = responses[2].json()["errors"][0]
    assert (error["family"], error["scope"], error["errorCode"]) == ("SERVER", "DATABASE", "UNAVAILABLE_DATABASE")
    assert "safe to retry" in error["message"] and "status" not in responses[2].json()
    astra_stand_in.in_band_error_code = "TIMEOUT_READING_DATA"
    with pytest.raises(DataAPIResponseException) as raised:  # astrapy raises it, HTTP 200 or not
        for _ in range(3):
            db.get_collection("c").count_documents({}, upper_bound=10)
    assert raised.value.error_descriptors[0].error_code == "TIMEOUT_READING_DATA"


def test_a_partial_insert_writes_half_the_documents_and_reports_none(astra_stand_in, db):
    db.create_collection("c")
    astra_stand_in.partial_insert_every = 2
    with httpx.Client() as client:
        first = _command(client, astra_stand_in, {"insertMany": {"documents": [{"_id": i} for i in range(4)]}})
        second = _command(client, astra_stand_in, {"insertMany": {"documents": [{"_id": i} for i in range(4, 9)]}})
    assert first.json() == {"status": {"insertedIds": [0, 1, 2, 3]}}
    assert second.status_code == 200 and "status" not in second.json()
    assert second.json()["errors"][0]["errorCode"] == "FAILED_CONCURRENT_OPERATIONS"
    assert second.json()["errors"][0]["family"] == "SERVER"
    assert [d["_id"] for d in astra_stand_in.dump_collection("default_keyspace", "c")] == [0, 1, 2, 3, 4, 5, 6]
    assert astra_stand_in.partial_inserts_served == 1


@pytest.mark.parametrize("refused, bound", [("string", "a"), ("date", {"$date": 0})])
def test_an_older_release_refuses_id_range_bounds_of_a_type(astra_stand_in, db, refused, bound):
    db.create_collection("c").insert_many([{"_id": "x"}, {"_id": 5}])
    astra_stand_in.refuse_id_ranges = [refused]
    with httpx.Client() as client:
        refusal = _command(client, astra_stand_in, {"find": {"filter": {"$and": [{"_id": {"$gte": bound}}]}}})
        numbers = _command(client, astra_stand_in, {"find": {"filter": {"_id": {"$gte": 0}}}})
        equality = _command(client, astra_stand_in, {"find": {"filter": {"_id": bound}}})
    error = refusal.json()["errors"][0]
    assert refusal.status_code == 200 and "data" not in refusal.json()
    assert (error["family"], error["scope"]) == ("REQUEST", "FILTER")
    assert error["errorCode"] == "FILTER_UNSUPPORTED_DATA_TYPE"
    assert refused.capitalize() in error["message"]
    assert numbers.json()["data"]["documents"] == [{"_id": 5}]  # number bounds are still served
    assert "errors" not in equality.json()  # equality on _id is not a range
    astra_stand_in.refuse_id_ranges = []
    assert "errors" not in db.get_collection("c").command({"find": {"filter": {"_id": {"$gte": bound}}}})


def test_refused_id_range_kinds_are_checked():
    with pytest.raises(ValueError, match="refuse_id_ranges takes"):
        AstraStandIn(refuse_id_ranges=["uuid"])


def test_the_command_line_sets_in_band_errors_and_refusals():
    import argparse

    from airflow_provider_vectorbackup.testing.astra.__main__ import add_arguments, build_app
    from airflow_provider_vectorbackup.testing.server import BackgroundServer

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--in-band-error-every", "2", "--in-band-error-code", "FAILED_READ_REQUEST",
                              "--partial-insert-every", "3", "--refuse-id-ranges", "string",
                              "--refuse-id-ranges", "date"])
    server = BackgroundServer(build_app(args))
    url = server.start()
    try:
        with httpx.Client(base_url=url, headers={"Token": args.token}) as client:
            client.post("/v1/default_keyspace", json={"createCollection": {"name": "c"}})
            second = client.post("/v1/default_keyspace/c", json={"find": {}}).json()
            third = client.post("/v1/default_keyspace/c", json={"find": {"filter": {"_id": {"$lt": {"$date": 1}}}}})
    finally:
        server.stop()
    assert second["errors"][0]["errorCode"] == "FAILED_READ_REQUEST"
    assert third.json()["errors"][0]["errorCode"] == "FILTER_UNSUPPORTED_DATA_TYPE"
    assert (args.partial_insert_every, args.refuse_id_ranges) == (3, ["string", "date"])
