"""The command line entry point, and the pytest fixtures a data team uses."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from astrapy import DataAPIClient


@pytest.mark.slow
def test_command_line_prints_url_and_serves():
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_vectorbackup.testing.astra", "--port", "0", "--token", "T0k",
         "--page-size", "50", "--keyspace", "ks"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        db = DataAPIClient(environment="other").get_database(url, token="T0k", keyspace="ks")
        coll = db.create_collection("c")
        coll.insert_many([{"_id": i} for i in range(60)])
        assert len(coll.find({}).fetch_next_page().results) == 50
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_astra_connection_fixture(astra_connection, astra_stand_in):
    from airflow.sdk.bases.hook import BaseHook  # imported here: Airflow's import costs seconds

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
