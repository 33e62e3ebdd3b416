"""Connections become plain settings that never show their secrets."""

from __future__ import annotations

import json

import pytest

from airflow_provider_vectorbackup.hooks.connections import connection_settings, connection_settings_from_uri

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


@pytest.mark.parametrize("uri", [
    "qdrant://?path=%2Fdata%2Fqdrant",
    "chroma://:tok%2Fen@chroma.internal:8000/?tenant=t1&database=d1",
    "milvus://http://:root%3AMilvus@milvus.internal:19530/vectors",
    "postgresql://backup:pw%40x@db.internal:5432/appdb?__extra__=%7B%22pg_schema%22%3A+%22vec%22%7D",
    "astra-db://https://:AstraCS%3Aabc@0123-us-east1.apps.astra.datastax.com/?keyspace=ks",
])
def test_a_uri_is_read_exactly_as_airflow_reads_an_airflow_conn_variable(
        uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_FROM_ENV", uri)
    assert connection_settings_from_uri(uri, conn_id="from_env") == connection_settings("from_env")


def test_empty_fields_are_none() -> None:
    settings = connection_settings_from_uri("qdrant://?path=%2Fdata%2Fq", conn_id="--source-conn-uri")
    assert (settings.conn_type, settings.host, settings.login, settings.password, settings.schema, settings.port) == (
        "qdrant", None, None, None, None, None)
    assert settings.extra == {"path": "/data/q"}


def test_query_string_extras_are_text_and_typed_ones_go_in_extra() -> None:
    """Airflow 3.1 read ``?ssl=true`` in an AIRFLOW_CONN_* variable as True, 3.2+ as "true": the CLI reads it as
    text on both, and ``__extra__`` carries types on both."""
    assert connection_settings_from_uri("chroma://h?ssl=true&port=8", conn_id="u").extra == {"ssl": "true", "port": "8"}
    typed = connection_settings_from_uri('chroma://h?__extra__={"ssl": true, "n": 8}', conn_id="u")
    assert typed.extra == {"ssl": True, "n": 8}


@pytest.mark.parametrize(("value", "expected"), [
    (True, True), (False, False), ("true", True), ("False", False), ("1", True), ("0", False), (None, False), ("", False)])
def test_a_yes_no_extra_reads_the_same_from_json_and_from_a_uri(value, expected) -> None:
    from airflow_provider_vectorbackup.connection import ConnectionSettings

    assert ConnectionSettings("c", extra={"https": value}).flag("https") is expected


def test_a_yes_no_extra_that_is_neither_is_refused_naming_it() -> None:
    from airflow_provider_vectorbackup.connection import ConnectionSettings

    with pytest.raises(ValueError, match="extra 'https' must be true or false"):
        ConnectionSettings("c", extra={"https": "maybe"}).flag("https")


def test_qdrant_reads_https_false_from_a_uri_as_false() -> None:
    from airflow_provider_vectorbackup.connection import ConnectionSettings
    from airflow_provider_vectorbackup.sources.qdrant.client import QdrantSource

    source = QdrantSource.from_connection(ConnectionSettings("q", conn_type="qdrant", host="db", port=6333,
                                                            extra={"https": "false", "prefer_gprc": "true"}))
    assert source.where == "http://db:6333"
