"""The examples of docs/testing.md, run as written: a data team's own tests against the stand-ins."""

from __future__ import annotations

import hashlib
import io

import pytest
from astrapy import DataAPIClient
from astrapy.exceptions import DataAPIHttpException, DataAPIResponseException
from box_sdk_gen import BoxClient, BoxCCGAuth, CCGConfig, NetworkSession, BaseUrls, CreateFolderParent
from box_sdk_gen import UploadFileAttributes, UploadFileAttributesParentField


# --- docs/testing.md: "Astra" ----------------------------------------------------------------
def test_my_export_keeps_vectors(astra_stand_in, astra_connection):
    from airflow.sdk import BaseHook

    astra_stand_in.create_collection("default_keyspace", "articles", {"vector": {"dimension": 3}})
    astra_stand_in.seed("default_keyspace", "articles", [{"_id": f"a{i}", "$vector": [0.1, 0.2, 0.3]} for i in range(45)])

    conn = BaseHook.get_connection(astra_connection)          # what your task would read
    db = DataAPIClient(environment=conn.extra_dejson["environment"]).get_database(
        conn.host, token=conn.password, keyspace=conn.extra_dejson["keyspace"])
    exported = list(db.get_collection("articles").find({}, projection={"*": True}))

    assert len(exported) == 45 and all("$vector" in doc for doc in exported)
    assert astra_stand_in.request_counts["find"] == 3          # 45 documents in pages of 20


# --- docs/testing.md: "Pinecone" -------------------------------------------------------------
def test_each_namespace_is_a_collection(pinecone_stand_in, pinecone_connection):
    from pinecone import Pinecone

    from airflow_provider_vectorbackup.hooks.source import VectorSourceHook

    pc = Pinecone(api_key=pinecone_stand_in.api_key, host=pinecone_stand_in.url)
    pc.indexes.create(name="products", dimension=3, metric="cosine")
    pc.index(name="products").upsert(namespace="en", vectors=[
        {"id": "a", "values": [0.1, 0.2, 0.3], "metadata": {"lang": "en", "stock": 4}}])

    source = VectorSourceHook(pinecone_connection).get_conn()   # what a backup task opens
    assert [c.name for c in source.list_collections()] == ["products", "products.en"]
    assert source.find_by_ids("products.en", ["a"])[0]["payload"] == {"lang": "en", "stock": 4.0}


# --- docs/testing.md: "Box" ------------------------------------------------------------------
def test_my_upload_lands_with_the_right_sha1(box_stand_in, box_connection):
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(box_connection)
    extra = conn.extra_dejson
    client = BoxClient(
        BoxCCGAuth(CCGConfig(conn.login, conn.password, enterprise_id=extra["enterprise_id"])),
        network_session=NetworkSession(base_urls=BaseUrls(
            base_url=extra["base_url"], upload_url=extra["upload_url"], oauth_2_url=extra["oauth2_url"])),
    )
    folder = client.folders.create_folder("backups", CreateFolderParent(id="0"))
    client.uploads.upload_file(UploadFileAttributes("a.jsonl", UploadFileAttributesParentField(folder.id)),
                               io.BytesIO(b'{"_id": 1}\n'))

    (row,) = [r for r in box_stand_in.tree() if r["path"] == "/backups/a.jsonl"]
    assert row["sha1"] == hashlib.sha1(b'{"_id": 1}\n').hexdigest()
    assert box_stand_in.read_file_bytes("/backups/a.jsonl") == b'{"_id": 1}\n'


# --- docs/testing.md: "Astra", a busy or older database ---------------------------------------
def test_my_export_survives_a_waking_database(astra_stand_in):
    astra_stand_in.create_collection("default_keyspace", "articles")
    astra_stand_in.seed("default_keyspace", "articles", [{"_id": i} for i in range(100)])
    astra_stand_in.in_band_error_every = 2
    db = DataAPIClient(environment="other").get_database(astra_stand_in.url, token=astra_stand_in.token,
                                                         keyspace="default_keyspace")
    articles = db.get_collection("articles")
    articles.find_one({})                                     # command 1 is answered
    with pytest.raises(DataAPIResponseException) as caught:  # command 2: HTTP 200, and still an error
        articles.find_one({})
    assert caught.value.error_descriptors[0].error_code == "UNAVAILABLE_DATABASE"


# --- docs/testing.md: "Faults" ---------------------------------------------------------------
def test_my_scan_gives_up_loudly_under_throttling(astra_stand_in):
    astra_stand_in.create_collection("default_keyspace", "articles")
    astra_stand_in.seed("default_keyspace", "articles", [{"_id": i} for i in range(100)])
    astra_stand_in.faults.configure(rate_limit_every=3, retry_after_seconds=1)

    db = DataAPIClient(environment="other").get_database(astra_stand_in.url, token=astra_stand_in.token,
                                                         keyspace="default_keyspace")
    with pytest.raises(DataAPIHttpException) as caught:      # astrapy itself does not retry a 429
        list(db.get_collection("articles").find({}))
    assert caught.value.response.status_code == 429
    assert astra_stand_in.faults.injected["rate_limit"] == 1
