"""``vectorbackup restore --as-of``: real dumps of the Astra stand-in, one of them tampered with, one INCOMPLETE."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_provider_vectorbackup.hooks.astra import AstraDBHook
from airflow_provider_vectorbackup.testing import sample_data
from tests.cli.test_cli import run

KS = "default_keyspace"
FIRST, TAMPERED, INCOMPLETE, LATER = "20261129T000000Z", "20261130T010000Z", "20261130T013000Z", "20261130T030000Z"


@pytest.fixture
def dumped(astra_stand_in, astra_connection, tmp_path: Path) -> list[str]:
    """Four dumps of ``articles``: 60 documents, then 70 (tampered with in the store), an INCOMPLETE one, 70 again."""
    sample_data.seed(astra_stand_in, {"articles": 60, "products": 0, "faq": 0})
    store = ["--local-folder", str(tmp_path / "share"), "--collections", "articles"]
    assert run("dump", *store, "--snapshot-id", FIRST).returncode == 0
    astra_stand_in.seed(KS, "articles", list(sample_data.articles(70))[60:])
    assert run("dump", *store, "--snapshot-id", TAMPERED).returncode == 0
    segment = tmp_path / "share" / TAMPERED / "collections/articles/part-00000.jsonl.gz"
    segment.write_bytes(segment.read_bytes()[:-10])
    astra_stand_in.regression_mode = True  # the vector-loss guard trips: sealed INCOMPLETE
    assert run("dump", *store, "--snapshot-id", INCOMPLETE).returncode == 3
    astra_stand_in.regression_mode = False
    assert run("dump", *store, "--snapshot-id", LATER).returncode == 0
    return ["--local-folder", str(tmp_path / "share")]


def test_restore_as_of_a_time_takes_the_newest_usable_snapshot_and_says_what_it_skipped(dumped: list[str]) -> None:
    restored = run("restore", *dumped, "--as-of", "2026-11-30T02:00Z", "--target-prefix", "asof_", "--json")
    assert restored.returncode == 0, restored.stderr
    report = json.loads(restored.stdout)
    assert report["snapshot_id"] == FIRST and report["collections"]["articles"]["documents_restored"] == 60
    assert report["as_of"]["requested"] == "2026-11-30T02:00:00Z" and report["as_of"]["chosen"] == FIRST
    skipped = {s["snapshot_id"]: s["reason"] for s in report["as_of"]["skipped"]}
    assert list(skipped) == [INCOMPLETE, TAMPERED]
    assert skipped[INCOMPLETE].startswith("INCOMPLETE") and "part-00000.jsonl.gz" in skipped[TAMPERED]
    assert AstraDBHook().get_conn().count_documents("asof_articles").count == 60

    text = run("restore", *dumped, "--as-of", "2026-11-30T04:00+01:00", "--target-prefix", "text_")  # 03:00Z
    assert text.returncode == 0, text.stderr
    assert f"restore of {LATER} " in text.stdout and f"as of 2026-11-30T03:00:00Z: snapshot {LATER}" in text.stdout
    assert AstraDBHook().get_conn().count_documents("text_articles").count == 70


def test_a_time_before_every_usable_snapshot_is_refused_naming_the_oldest_and_nothing_is_written(
        dumped: list[str]) -> None:
    refused = run("restore", *dumped, "--as-of", "2026-11-28T12:00Z", "--target-prefix", "early_")
    assert refused.returncode == 4
    assert "taken at or before 2026-11-28T12:00:00Z" in refused.stderr and "nothing was written" in refused.stderr
    assert f"oldest complete snapshot there is {FIRST} (taken at 2026-11-29T00:00:00Z)" in refused.stderr
    assert AstraDBHook().get_conn().collection_definition("early_articles") is None


@pytest.mark.parametrize("arguments, message", [
    (["latest", "--as-of", "2026-11-30T02:00Z"], "give a snapshot id (latest) or --as-of, not both"),
    ([], "which snapshot? give an id, latest, or --as-of TIME"),
    (["--as-of", "2026-11-30T02:00"], "--as-of '2026-11-30T02:00' has no time zone, so the moment it names is "
                                      "ambiguous"),
    (["--as-of", "last tuesday"], "--as-of 'last tuesday' is not an ISO 8601 date and time"),
])
def test_an_id_with_a_time_no_choice_at_all_and_a_naive_time_are_bad_usage(tmp_path: Path, arguments: list[str],
                                                                             message: str) -> None:
    (tmp_path / "share").mkdir()
    result = run("restore", "--local-folder", str(tmp_path / "share"), *arguments)
    assert result.returncode == 4 and message in result.stderr, result.stderr
