"""``--embedding-model`` on dump and restore, ``--allow-model-change``, and what ``--if-exists replace`` backs up."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_provider_vectorbackup.hooks.astra import AstraDBHook
from airflow_provider_vectorbackup.testing import sample_data
from tests.cli.test_cli import run

SNAPSHOT = "20260901T000000Z"


@pytest.fixture
def store(astra_stand_in, astra_connection, tmp_path: Path) -> list[str]:
    sample_data.seed(astra_stand_in, {"articles": 20, "products": 0, "faq": 0})
    return ["--local-folder", str(tmp_path / "share")]


@pytest.fixture
def dumped(store: list[str]) -> list[str]:
    dumped = run("dump", *store, "--collections", "articles", "--snapshot-id", SNAPSHOT,
                 "--embedding-model", "text-embedding-3-small@2024-01")
    assert dumped.returncode == 0, dumped.stderr
    return store


def test_dump_records_the_model_and_inspect_shows_it(dumped: list[str], tmp_path: Path) -> None:
    manifest = json.loads((tmp_path / "share" / SNAPSHOT / "manifest.json").read_text())
    assert manifest["collections"][0]["embedding_models"] == {
        "$vector": {"model": "text-embedding-3-small", "version": "2024-01", "from": "argument"}}
    shown = run("inspect", *dumped, SNAPSHOT)
    assert "embedding model of $vector: text-embedding-3-small@2024-01 (from argument)" in shown.stdout


def test_restore_refuses_another_model_with_exit_4_and_restores_with_allow_model_change(dumped: list[str]) -> None:
    refused = run("restore", *dumped, SNAPSHOT, "--target-prefix", "m_", "--embedding-model", "$vector=bge-m3")
    assert refused.returncode == 4
    assert "made by text-embedding-3-small@2024-01 (argument), and the target declares bge-m3" in refused.stderr
    assert "--allow-model-change" in refused.stderr
    assert AstraDBHook().get_conn().collection_definition("m_articles") is None

    allowed = run("restore", *dumped, SNAPSHOT, "--target-prefix", "m_", "--embedding-model", "$vector=bge-m3",
                  "--allow-model-change", "--validation-queries", "2")
    assert allowed.returncode == 0, allowed.stderr
    assert AstraDBHook().get_conn().count_documents("m_articles").count == 20


@pytest.mark.parametrize("arguments, message", [
    (["dump", "--collections", "articles", "--embedding-model", "title=m"], "names vector field 'title'"),
    (["dump", "--embedding-model", "m@"], "--embedding-model[''] must be MODEL or MODEL@VERSION"),
    (["dump", "--embedding-model", "=m"], "the field is empty"),
    (["restore", SNAPSHOT, "--embedding-model", "a", "--embedding-model", "b"], "gives the only vector field twice"),
])
def test_malformed_or_unknown_models_are_bad_usage(store: list[str], arguments: list[str], message: str) -> None:
    result = run(arguments[0], *store, *arguments[1:])
    assert result.returncode == 4 and message in result.stderr, result.stderr


def test_restore_if_exists_replace_names_the_backup_of_what_it_replaced(dumped: list[str], tmp_path: Path) -> None:
    replaced = run("restore", *dumped, SNAPSHOT, "--if-exists", "replace", "--validation-queries", "0")
    assert replaced.returncode == 0, replaced.stderr
    backup = next(p.name for p in (tmp_path / "share").iterdir() if p.name.endswith("-before-replace"))
    assert f"what it replaced was backed up first, verified: snapshot {backup}" in replaced.stdout
