"""The CLI names its source by connection id or by connection URI; the connection's type picks the engine."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

import pytest

from airflow_provider_vectorbackup.sources import registry
from airflow_provider_vectorbackup.testing import sample_data
from tests.cli.test_cli import cli, run

CANARY = "CANARY-uri-secret-7f3a"
SNAPSHOT = "20260301T000000Z"


def astra_uri(stand_in, token: str, query: str) -> str:
    """An Airflow connection URI for the Astra stand-in, in Airflow's ``<type>://<scheme>://...`` form."""
    url = urlsplit(stand_in.url)
    return f"astra-db://{url.scheme}://:{quote(token, safe='')}@{url.hostname}:{url.port}/?{query}"


@pytest.fixture
def seeded_astra(astra_stand_in, monkeypatch: pytest.MonkeyPatch):
    """The stand-in with sample collections, and no Airflow connection to it: only URIs reach it."""
    sample_data.seed(astra_stand_in, {"articles": 30, "faq": 4})
    monkeypatch.delenv("AIRFLOW_CONN_ASTRA_DEFAULT", raising=False)
    return astra_stand_in


def test_dump_and_restore_through_connection_uris_with_no_airflow_database(seeded_astra, tmp_path: Path) -> None:
    store = ["--local-folder", str(tmp_path / "share")]
    with_query_extras = astra_uri(seeded_astra, seeded_astra.token,
                                  urlencode({"keyspace": sample_data.KEYSPACE, "environment": "other"}))
    dumped = cli("dump", *store, "--source-conn-uri", with_query_extras, "--collections", "articles,faq", "--json",
                 tmp_path=tmp_path)  # a fresh interpreter, whose AIRFLOW_HOME has no database
    assert dumped.returncode == 0, dumped.stderr
    assert json.loads(dumped.stdout)["collections"]["articles"]["documents"] == 30

    with_json_extra = astra_uri(seeded_astra, seeded_astra.token, urlencode({"__extra__": json.dumps(
        {"keyspace": sample_data.KEYSPACE, "environment": "other", "max_attempts": 2})}))
    restored = run("restore", *store, "latest", "--source-conn-uri", with_json_extra, "--target-prefix", "uri_",
                   "--validation-queries", "3")
    assert restored.returncode == 0 and "validated" in restored.stdout, restored.stderr
    assert len(seeded_astra.dump_collection(sample_data.KEYSPACE, "uri_articles")) == 30


def test_a_secret_in_the_uri_never_reaches_the_output(seeded_astra, tmp_path: Path) -> None:
    refused = cli("dump", "--local-folder", str(tmp_path / "share"), "-v", "--source-conn-uri",
                  astra_uri(seeded_astra, f"AstraCS:{CANARY}", "keyspace=default_keyspace&environment=other"),
                  tmp_path=tmp_path)
    assert refused.returncode == 4 and "CredentialsRejected" in refused.stderr, refused.stderr
    assert "'--source-conn-uri'" in refused.stderr, "the message names where the connection came from"
    assert CANARY not in refused.stdout + refused.stderr


@pytest.mark.parametrize("arguments, message", [
    (["--source-conn-uri", f"astra-db://http://:{CANARY}@h://x"], "--source-conn-uri is not a connection URI"),
    (["--source-conn-uri", f"qdrant://:{CANARY}@h/?__extra__=%7Bnot-json"], "the __extra__ of --source-conn-uri"),
    (["--source-conn-uri", f"//:{CANARY}@h"], "--source-conn-uri is not a connection URI"),
    (["--source-conn-id", "vectors", "--source-conn-uri", f"chroma://:{CANARY}@h"],
     "not --source-conn-id and --source-conn-uri"),
    (["--astra-conn-id", "a", "--source-conn-id", "b"], "not --source-conn-id and --astra-conn-id"),
])
def test_a_bad_or_doubled_source_exits_4_without_quoting_the_uri(tmp_path: Path, arguments: list[str],
                                                                  message: str) -> None:
    result = run("dump", "--local-folder", str(tmp_path), *arguments)
    assert result.returncode == 4 and message in result.stderr, result.stderr
    assert CANARY not in result.stdout + result.stderr


def test_the_connection_type_of_a_uri_picks_the_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    unknown = run("dump", "--local-folder", str(tmp_path), "--source-conn-uri", "generic://db.example")
    assert unknown.returncode == 4 and "connection type 'generic' is not a vector source" in unknown.stderr
    assert all(f"{e.conn_type!r}" in unknown.stderr for e in registry.ENGINES), "it names every known type"

    # The engine's client missing from the install, faked in the registry's entry (the engines stay as they are).
    monkeypatch.setattr(registry, "ENGINES", tuple(
        dataclasses.replace(e, module="airflow_provider_vectorbackup.sources.qdrant.not_installed_here")
        if e.conn_type == "qdrant" else e for e in registry.ENGINES))
    missing = run("dump", "--local-folder", str(tmp_path), "--source-conn-uri", "qdrant://?path=/data/qdrant")
    assert missing.returncode == 4 and "MissingSourceExtra" in missing.stderr
    assert 'pip install "airflow-provider-vectorbackup[qdrant]"' in missing.stderr
    assert not any(tmp_path.iterdir()), "nothing was begun"


def test_astra_conn_id_still_names_the_source_with_a_deprecation_note(seeded_astra, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_OLD_NAME", json.dumps({
        "conn_type": "astra_db", "host": seeded_astra.url, "password": seeded_astra.token,
        "extra": {"keyspace": sample_data.KEYSPACE, "environment": "other"}}))
    for flag in ("--source-conn-id", "--astra-conn-id"):
        dumped = run("dump", "--local-folder", str(tmp_path / flag), flag, "old_name", "--collections", "faq")
        assert dumped.returncode == 0, dumped.stderr
        assert ("--astra-conn-id is deprecated: use --source-conn-id" in dumped.stderr) is (flag == "--astra-conn-id")


def test_a_local_qdrant_by_uri_dumps_and_restores_with_no_airflow_connection(tmp_path: Path) -> None:
    """A real engine through the registry: a Qdrant local-mode folder named only by the URI's ``path`` extra."""
    import qdrant_client
    from qdrant_client import models

    folder = tmp_path / "qdrant"
    client = qdrant_client.QdrantClient(path=str(folder))
    client.create_collection("points", vectors_config=models.VectorParams(size=3, distance=models.Distance.EUCLID))
    client.upsert("points", [models.PointStruct(id=i, vector=[i, i + 1.5, -i], payload={"n": i}) for i in range(40)])
    client.close()  # local mode locks its folder: the CLI's process opens it next

    uri = f"qdrant://?{urlencode({'path': str(folder)})}"
    store = ["--local-folder", str(tmp_path / "share")]
    dumped = cli("dump", *store, "--source-conn-uri", uri, "--snapshot-id", SNAPSHOT, "--json", tmp_path=tmp_path)
    assert dumped.returncode == 0, dumped.stderr
    assert json.loads(dumped.stdout)["collections"]["points"]["documents"] == 40
    restored = cli("restore", *store, SNAPSHOT, "--source-conn-uri", uri, "--target-prefix", "copy_",
                   "--validation-queries", "3", "--json", tmp_path=tmp_path)
    assert restored.returncode == 0, restored.stderr
    report = json.loads(restored.stdout)
    assert report["ok"] and report["collections"]["points"]["documents_restored"] == 40
    with_keyspace = cli("dump", *store, "--source-conn-uri", uri, "--keyspace", "ks", tmp_path=tmp_path)
    assert with_keyspace.returncode == 4 and "is a qdrant source" in with_keyspace.stderr, with_keyspace.stderr
