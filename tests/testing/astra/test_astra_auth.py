"""The ``Token`` header: application tokens, the Cassandra:b64:b64 form, and 401 refusals."""

from __future__ import annotations

import httpx
import pytest
from astrapy import DataAPIClient
from astrapy.authentication import UsernamePasswordTokenProvider
from astrapy.exceptions import DataAPIHttpException

from airflow_provider_vectorbackup.testing.astra import AstraStandIn


def _db(url: str, token):
    return DataAPIClient(environment="hcd").get_database(url, token=token, keyspace="default_keyspace")


def test_configured_token_is_accepted(astra_stand_in):
    assert _db(astra_stand_in.url, astra_stand_in.token).list_collection_names() == []


def test_wrong_token_is_401_unauthenticated(astra_stand_in):
    with pytest.raises(DataAPIHttpException) as info:
        _db(astra_stand_in.url, "AstraCS:wrong").list_collection_names()
    assert info.value.response.status_code == 401
    assert [e.error_code for e in info.value.error_descriptors] == ["UNAUTHENTICATED_REQUEST"]


def test_missing_token_is_401_missing_authentication_token(astra_stand_in):
    response = httpx.post(f"{astra_stand_in.url}/v1/default_keyspace", json={"findCollections": {}})
    assert response.status_code == 401
    (error,) = response.json()["errors"]
    assert error["errorCode"] == "MISSING_AUTHENTICATION_TOKEN"
    assert error["family"] == "REQUEST" and error["scope"] == "SECURITY"
    with pytest.raises(DataAPIHttpException) as info:
        _db(astra_stand_in.url, None).list_collection_names()
    assert info.value.response.status_code == 401


def test_cassandra_username_password_form():
    with AstraStandIn(username="backup", password="s3cret") as stand_in:
        ok = _db(stand_in.url, UsernamePasswordTokenProvider("backup", "s3cret"))
        assert ok.list_collection_names() == []
        with pytest.raises(DataAPIHttpException) as info:
            _db(stand_in.url, UsernamePasswordTokenProvider("backup", "wrong")).list_collection_names()
        assert info.value.response.status_code == 401
        assert stand_in.request_counts["findCollections"] == 1  # refused requests never reach a command
