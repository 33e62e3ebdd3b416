"""Connections become plain settings that never show their secrets."""

from __future__ import annotations

import json

import pytest

from airflow_provider_vectorbackup.hooks.connections import connection_settings

CANARY = "CANARY-pw-0c9f"


def test_an_airflow_connection_becomes_settings_whose_repr_hides_password_and_extra(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_SOME_DB", json.dumps({
        "conn_type": "astra_db", "host": "https://db.example", "port": 8181, "login": "user",
        "password": CANARY, "extra": {"keyspace": "ks", "private_key": f"{CANARY}-key"}}))
    settings = connection_settings("some_db")
    assert (settings.conn_id, settings.conn_type, settings.host, settings.port, settings.login) == (
        "some_db", "astra_db", "https://db.example", 8181, "user")
    assert settings.password == CANARY and settings.extra == {"keyspace": "ks", "private_key": f"{CANARY}-key"}
    assert CANARY not in repr(settings) and CANARY not in str(settings)
