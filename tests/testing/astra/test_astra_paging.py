"""Paging through the stand-in with astrapy's cursor: page size, pageState, limit, projections."""

from __future__ import annotations

import asyncio
import base64
import struct

import httpx
import pytest
from astrapy import DataAPIClient
from astrapy.api_options import APIOptions, DataAPIURLOptions
from astrapy.data_types import DataAPIVector

from airflow_provider_vectorbackup.testing.astra import AstraStandIn


def _docs(n: int) -> list[dict]:
    """Half with array vectors, half with $binary vectors, as different writers would store them."""
    docs = []
    for i in range(n):
        vector = [i / n, 1.0, -0.5]
        if i % 2:
            stored = {"$binary": base64.b64encode(struct.pack(">3f", *vector)).decode()}
        else:
            stored = vector
        docs.append({"_id": f"doc-{i:05d}", "n": i, "$vector": stored})
    return docs


def test_iterates_1000_plus_documents_default_projection_drops_vector(astra_stand_in, vectors):
    astra_stand_in.seed("default_keyspace", "vectors", _docs(1234))
    astra_stand_in.reset_request_counts()

    found = list(vectors.find({}))

    assert [d["n"] for d in found] == list(range(1234))
    assert all("$vector" not in d for d in found)
    assert astra_stand_in.request_counts["find"] == 62  # ceil(1234 / 20)


def test_star_projection_keeps_vector_in_both_stored_forms(astra_stand_in, vectors):
    docs = _docs(1050)
    astra_stand_in.seed("default_keyspace", "vectors", docs)

    found = list(vectors.find({}, projection={"*": True}))

    assert len(found) == 1050
    for doc in found:
        assert isinstance(doc["$vector"], DataAPIVector)
        assert list(doc["$vector"]) == pytest.approx([doc["n"] / 1050, 1.0, -0.5], abs=1e-6)
    raw = vectors.command({"find": {"filter": {"_id": {"$in": ["doc-00000", "doc-00001"]}},
                                    "projection": {"*": True}}})
    by_id = {d["_id"]: d for d in raw["data"]["documents"]}
    assert by_id["doc-00000"]["$vector"] == docs[0]["$vector"]  # array echoed as array
    assert by_id["doc-00001"]["$vector"] == docs[1]["$vector"]  # $binary echoed as $binary
    assert raw["data"]["nextPageState"] is None


def test_raw_pages_always_carry_next_page_state_and_resume(astra_stand_in, plain_coll):
    astra_stand_in.seed("default_keyspace", "plain", [{"_id": i} for i in range(45)])
    seen, state, pages = [], None, []
    while True:
        options = {"pageState": state} if state else {}
        data = plain_coll.command({"find": {"filter": {}, "options": options}})["data"]
        assert "nextPageState" in data
        pages.append(len(data["documents"]))
        seen += [d["_id"] for d in data["documents"]]
        state = data["nextPageState"]
        if state is None:
            break
        base64.b64decode(state, validate=True)
    assert pages == [20, 20, 5]
    assert seen == list(range(45))


def test_page_size_50_and_limit_enforced_across_pages(astra_stand_in, plain_coll):
    astra_stand_in.page_size = 50
    astra_stand_in.seed("default_keyspace", "plain", [{"_id": i} for i in range(200)])

    first = plain_coll.command({"find": {"options": {"limit": 70}}})["data"]
    assert len(first["documents"]) == 50
    second = plain_coll.command({"find": {"options": {"limit": 70, "pageState": first["nextPageState"]}}})["data"]
    assert len(second["documents"]) == 20  # the server enforces limit, not the client
    assert second["nextPageState"] is None
    assert len(list(plain_coll.find({}, limit=123))) == 123


def test_resumable_export_with_fetch_next_page(astra_stand_in, plain_coll):
    astra_stand_in.seed("default_keyspace", "plain", [{"_id": i} for i in range(30)])
    page0 = plain_coll.find({}).fetch_next_page()
    assert len(page0.results) == 20 and page0.next_page_state
    page1 = plain_coll.find({}, initial_page_state=page0.next_page_state).fetch_next_page()
    assert [d["_id"] for d in page1.results] == list(range(20, 30))
    assert page1.next_page_state is None


def test_deletes_between_pages_neither_skip_nor_repeat(astra_stand_in, plain_coll):
    astra_stand_in.seed("default_keyspace", "plain", [{"_id": i} for i in range(40)])
    page0 = plain_coll.command({"find": {}})["data"]
    plain_coll.delete_one({"_id": 3})
    page1 = plain_coll.command({"find": {"options": {"pageState": page0["nextPageState"]}}})["data"]
    assert [d["_id"] for d in page1["documents"]] == list(range(20, 40))


def test_filtered_find_pages(astra_stand_in, plain_coll):
    astra_stand_in.seed("default_keyspace", "plain", [{"_id": i, "even": i % 2 == 0} for i in range(100)])
    assert [d["_id"] for d in plain_coll.find({"even": True})] == list(range(0, 100, 2))


def test_empty_page_with_page_state_stops_astrapy_cursor_early(astra_stand_in, plain_coll):
    astra_stand_in.seed("default_keyspace", "plain", [{"_id": i} for i in range(100)])
    astra_stand_in.empty_page_every = 3

    via_cursor = list(plain_coll.find({}))
    assert len(via_cursor) == 40  # astrapy treats the empty third page as the end
    assert astra_stand_in.empty_pages_served == 1

    astra_stand_in.empty_page_every = 3
    ids, state = [], None
    while True:  # a careful reader that follows nextPageState through empty pages gets everything
        data = plain_coll.command({"find": {"options": {"pageState": state} if state else {}}})["data"]
        ids += [d["_id"] for d in data["documents"]]
        state = data["nextPageState"]
        if state is None:
            break
    assert ids == list(range(100))
    assert astra_stand_in.empty_pages_served == 2  # one more: the last page has no pageState to keep

    astra_stand_in.empty_page_every = 1  # every page that has documents and a successor comes back empty once
    page = plain_coll.find({}).fetch_next_page()
    assert page.results == [] and page.next_page_state  # fetch_next_page exposes the state to follow
    page = plain_coll.find({}, initial_page_state=page.next_page_state).fetch_next_page()
    assert page.results == [] and page.next_page_state  # same position again: k=1 empties every such page


def test_api_json_path_form_with_astra_environment_custom_domain(astra_stand_in):
    astra_stand_in.create_collection("default_keyspace", "c")
    astra_stand_in.seed("default_keyspace", "c", [{"_id": i} for i in range(25)])
    db = DataAPIClient(environment="prod").get_database(astra_stand_in.url, token=astra_stand_in.token)
    coll = db.get_collection("c")
    assert coll._api_commander.full_path == f"{astra_stand_in.url}/api/json/v1/default_keyspace/c"
    assert db.list_collection_names() == ["c"]
    assert len(coll.find({}).to_list()) == 25


def test_url_options_override_the_prefix(astra_stand_in):
    astra_stand_in.create_collection("default_keyspace", "c")
    options = APIOptions(data_api_url_options=DataAPIURLOptions(api_path="/api/json", api_version="v1"))
    db = DataAPIClient(environment="hcd", api_options=options).get_database(
        astra_stand_in.url, token=astra_stand_in.token, keyspace="default_keyspace")
    assert db.list_collection_names() == ["c"]


def test_http_level_refusals(astra_stand_in):
    headers = {"Token": astra_stand_in.token}
    url = f"{astra_stand_in.url}/v1/default_keyspace"
    assert httpx.post(astra_stand_in.url + "/v2/default_keyspace", json={"findCollections": {}},
                      headers=headers).status_code == 404
    assert httpx.get(url, headers=headers).status_code == 405
    response = httpx.post(url, content=b'{"findCollections": {}}', headers={**headers, "Content-Type": "text/plain"})
    assert response.status_code == 415
    assert response.json()["errors"][0]["errorCode"] == "UNSUPPORTED_CONTENT_TYPE"
    response = httpx.post(url, content=b"{not json", headers={**headers, "Content-Type": "application/json"})
    assert response.json()["errors"][0]["errorCode"] == "REQUEST_NOT_JSON"
    response = httpx.post(url, json={"findCollections": {}, "createCollection": {}}, headers=headers)
    assert response.json()["errors"][0]["errorCode"] == "REQUEST_STRUCTURE_MISMATCH"


def test_page_size_from_constructor():
    with AstraStandIn(page_size=50) as stand_in:
        stand_in.create_collection("default_keyspace", "c")
        stand_in.seed("default_keyspace", "c", [{"_id": i} for i in range(60)])
        db = DataAPIClient(environment="other").get_database(stand_in.url, token=stand_in.token,
                                                             keyspace="default_keyspace")
        page = db.get_collection("c").find({}).fetch_next_page()
        assert len(page.results) == 50


def test_async_client_pages_the_same_way(astra_stand_in, plain_coll):
    astra_stand_in.seed("default_keyspace", "plain", [{"_id": i} for i in range(55)])

    async def read_all() -> list:
        return [d["_id"] async for d in plain_coll.to_async().find({})]

    assert asyncio.run(read_all()) == list(range(55))
