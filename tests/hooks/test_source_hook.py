"""VectorSourceHook: a connection of any type opens the source its type names, through the registry."""

from __future__ import annotations

import dataclasses
import json

import pytest

from airflow_provider_vectorbackup.connection import ConnectionSettings
from airflow_provider_vectorbackup.hooks.source import VectorSourceHook
from airflow_provider_vectorbackup.sources import registry
from airflow_provider_vectorbackup.sources.astra.client import AstraSource
from airflow_provider_vectorbackup.sources.registry import MissingSourceExtra, UnknownSourceType, UnsupportedSourceOption

CANARY = "CANARY-token-93b1"


def _register(monkeypatch: pytest.MonkeyPatch, conn_type: str, **changes: str) -> None:
    """Make the registry's entry for ``conn_type`` point elsewhere (the engines themselves stay as they are)."""
    engines = tuple(dataclasses.replace(e, **changes) if e.conn_type == conn_type else e for e in registry.ENGINES)
    assert engines != registry.ENGINES, f"no registry entry for {conn_type!r}"
    monkeypatch.setattr(registry, "ENGINES", engines)


def _connection(monkeypatch: pytest.MonkeyPatch, conn_id: str, **fields: object) -> str:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(fields))
    return conn_id


def test_init_looks_nothing_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_NOWHERE", raising=False)
    hook = VectorSourceHook("nowhere", keyspace=None)
    assert repr(hook) == "VectorSourceHook(source_conn_id='nowhere')" and hook.source_options == {}
    assert "conn" not in vars(hook) and "settings" not in vars(hook)
    assert (VectorSourceHook.conn_name_attr, VectorSourceHook.default_conn_name) == ("source_conn_id", "astra_default")


def test_the_connection_type_picks_the_source_through_the_registry(astra_stand_in, monkeypatch) -> None:
    """The registry, not the hook, knows which class a type opens: repoint the chroma entry at the Astra client
    and a ``chroma`` connection opens that client, against the real Astra stand-in."""
    _register(monkeypatch, "chroma", module="airflow_provider_vectorbackup.sources.astra.client",
              class_name="AstraSource")
    astra_stand_in.create_collection("default_keyspace", "a")
    conn_id = _connection(monkeypatch, "routed", conn_type="chroma", host=astra_stand_in.url,
                          password=astra_stand_in.token, extra={"environment": "other"})
    hook = VectorSourceHook(conn_id, keyspace="default_keyspace")
    source = hook.get_conn()
    assert isinstance(source, AstraSource) and hook.get_conn() is source
    assert (source.conn_id, source.keyspace) == ("routed", "default_keyspace")
    assert hook.test_connection() == (True, "Connected to astra source 'default_keyspace': 1 collection(s)")


def test_a_missing_extra_names_the_pip_line(monkeypatch: pytest.MonkeyPatch) -> None:
    _register(monkeypatch, "qdrant", module="airflow_provider_vectorbackup.sources.qdrant.not_installed_here")
    conn_id = _connection(monkeypatch, "vectors", conn_type="qdrant", extra={"path": "/data/qdrant"})
    with pytest.raises(MissingSourceExtra) as caught:
        VectorSourceHook(conn_id).get_conn()
    assert 'pip install "airflow-provider-vectorbackup[qdrant]"' in str(caught.value)
    ok, message = VectorSourceHook(conn_id).test_connection()
    assert not ok and "MissingSourceExtra" in message and "[qdrant]" in message


def test_a_missing_client_library_is_named_even_when_the_source_module_would_import(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # A source imports its client lazily, so only the registry's look-up stops it loading without one.
    _register(monkeypatch, "chroma", client_library="chromadb_not_installed_here")
    conn_id = _connection(monkeypatch, "notes", conn_type="chroma", extra={"path": "/data/chroma"})
    with pytest.raises(MissingSourceExtra) as caught:
        VectorSourceHook(conn_id).get_conn()
    assert caught.value.__cause__.name == "chromadb_not_installed_here"
    assert 'pip install "airflow-provider-vectorbackup[chroma]"' in str(caught.value)


def test_an_unknown_connection_type_names_the_known_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    conn_id = _connection(monkeypatch, "wrong_type", conn_type="generic", host="db.example")
    with pytest.raises(UnknownSourceType) as caught:
        VectorSourceHook(conn_id).get_conn()
    message = str(caught.value)
    assert "'generic'" in message
    assert all(f"{t!r}" in message for t in ("astra_db", "qdrant", "postgres", "chroma", "milvus", "pinecone",
                                                  "weaviate"))


class TakesNoOptions:
    """A class with the registry's constructor and nothing else: the option check reads only the signature."""

    @classmethod
    def from_connection(cls, settings: ConnectionSettings) -> TakesNoOptions:
        return cls()


def test_an_option_the_engine_does_not_take_names_the_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    _register(monkeypatch, "milvus", module=__name__, class_name="TakesNoOptions")
    conn_id = _connection(monkeypatch, "lite", conn_type="milvus", extra={"path": "/data/milvus.db"})
    with pytest.raises(UnsupportedSourceOption) as caught:
        VectorSourceHook(conn_id, keyspace="ks").get_conn()
    assert "'lite' is a milvus source" in str(caught.value) and "keyspace" in str(caught.value)
    assert isinstance(VectorSourceHook(conn_id).get_conn(), TakesNoOptions), "no option, no complaint"


class QuotesItsPassword:
    """Fails listing as a client library might: quoting the URL it was given, password and all."""

    kind, namespace = "quoting", "ns"

    def __init__(self, settings: ConnectionSettings) -> None:
        self.settings = settings

    @classmethod
    def from_connection(cls, settings: ConnectionSettings) -> QuotesItsPassword:
        return cls(settings)

    def list_collections(self) -> list:
        raise ConnectionError(f"could not reach http://user:{self.settings.password}@db.example")


def test_a_failed_test_connection_never_shows_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    _register(monkeypatch, "milvus", module=__name__, class_name="QuotesItsPassword")
    conn_id = _connection(monkeypatch, "quoting", conn_type="milvus", host="http://db.example", password=CANARY)
    assert VectorSourceHook(conn_id).test_connection() == (
        False, "ConnectionError: could not reach http://user:***@db.example")
