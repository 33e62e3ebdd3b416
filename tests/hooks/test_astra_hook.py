"""AstraDBHook: an Airflow connection in, the AstraSource client out. The client's own tests are in tests/sources/astra."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_vectorbackup.hooks.compat import AIRFLOW_V_3_2_PLUS
from airflow_provider_vectorbackup.get_provider_info import ASTRA_CONNECTION
from airflow_provider_vectorbackup.hooks.astra import AstraDBHook
from airflow_provider_vectorbackup.sources.astra.client import AstraSource
from airflow_provider_vectorbackup.sources.astra.retry import RetryPolicy


def test_init_has_no_side_effects(monkeypatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_ASTRA_DEFAULT", raising=False)
    hook = AstraDBHook("does_not_exist")  # no lookup, no network: DAG parsing must stay cheap
    assert hook.astra_conn_id == "does_not_exist" and repr(hook) == "AstraDBHook(astra_conn_id='does_not_exist')"
    assert "conn" not in vars(hook)


def test_get_conn_is_the_astra_source_of_the_connection_built_once(astra_stand_in, astra_connection) -> None:
    policy = RetryPolicy(max_attempts=2)
    hook = AstraDBHook(astra_connection, keyspace="elsewhere", retry_policy=policy)
    source = hook.get_conn()
    assert isinstance(source, AstraSource) and hook.get_conn() is source is hook.conn
    assert (source.conn_id, source.endpoint, source.keyspace, source.retry_policy) == (
        "astra_default", astra_stand_in.url, "elsewhere", policy)
    assert AstraDBHook().get_conn().keyspace == "default_keyspace"  # the connection's extra


def test_test_connection_makes_a_real_call(astra_stand_in, astra_connection) -> None:
    astra_stand_in.create_collection("default_keyspace", "a")
    ok, message = AstraDBHook().test_connection()
    assert ok and "1 collection(s)" in message
    assert astra_stand_in.request_counts["findCollections"] == 1


def test_test_connection_reports_a_missing_connection(monkeypatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_NOWHERE", raising=False)
    ok, message = AstraDBHook("nowhere").test_connection()
    assert not ok and "nowhere" in message


def test_the_connection_form_is_the_provider_infos() -> None:
    assert (AstraDBHook.conn_type, AstraDBHook.hook_name) == (
        ASTRA_CONNECTION["connection-type"], ASTRA_CONNECTION["hook-name"])
    assert (AstraDBHook.conn_name_attr, AstraDBHook.default_conn_name) == ("astra_conn_id", "astra_default")
    assert ("get_connection_form_widgets" in vars(AstraDBHook)) is not AIRFLOW_V_3_2_PLUS


@pytest.mark.slow
def test_airflow_connections_test_cli(astra_stand_in, astra_connection, tmp_path: Path) -> None:
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__TEST_CONNECTION": "Enabled"}
    result = subprocess.run([sys.executable, "-m", "airflow", "connections", "test", astra_connection],
                            env=env, capture_output=True, text=True, timeout=300)
    assert "Connection success!" in result.stdout, result.stdout + result.stderr
    assert astra_stand_in.token not in result.stdout + result.stderr
