"""The command line entry point, and the pytest fixtures a data team uses."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from astrapy import DataAPIClient
from astrapy.exceptions import DataAPIHttpException


@pytest.mark.slow
def test_command_line_prints_url_and_serves():
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_vectorbackup.testing.astra", "--port", "0", "--token", "T0k",
         "--page-size", "50", "--keyspace", "ks", "--rate-limit-every", "5", "--retry-after-seconds", "3"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        db = DataAPIClient(environment="other").get_database(url, token="T0k", keyspace="ks")
        coll = db.create_collection("c")
        coll.insert_many([{"_id": i} for i in range(60)])
        assert len(coll.find({}).fetch_next_page().results) == 50  # requests 1-4: create, 2 inserts, find
        with pytest.raises(DataAPIHttpException) as rate_limited:  # request 5: the fault flags took effect
            coll.find_one({})
        assert rate_limited.value.response.status_code == 429
        assert rate_limited.value.response.headers["retry-after"] == "3"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_astra_connection_fixture(astra_connection, astra_stand_in):
    from airflow.sdk import BaseHook  # imported here: Airflow's import costs seconds

    assert astra_connection == "astra_default"
    conn = BaseHook.get_connection(astra_connection)
    assert (conn.conn_type, conn.host, conn.password) == ("astra_db", astra_stand_in.url, astra_stand_in.token)
    assert conn.extra_dejson == {"keyspace": "default_keyspace", "environment": "other"}
    db = DataAPIClient(environment=conn.extra_dejson["environment"]).get_database(
        conn.host, token=conn.password, keyspace=conn.extra_dejson["keyspace"])
    assert db.list_collection_names() == []


def test_astra_connection_is_a_json_connection(astra_connection):
    raw = json.loads(os.environ["AIRFLOW_CONN_ASTRA_DEFAULT"])
    assert set(raw) == {"conn_type", "host", "password", "extra"}
