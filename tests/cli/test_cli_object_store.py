"""vectorbackup with --object-folder: the flags, their checks in the CLI's words, and a dump into moto S3."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from airflow_provider_vectorbackup.cli import EXIT_OK, EXIT_USAGE
from airflow_provider_vectorbackup.testing import sample_data
from tests.cli.test_cli import run
from tests.engines.s3 import LOCKED_BUCKET, S3_CONN_ID, S3Server


@pytest.mark.parametrize(("arguments", "message"), [
    (["snapshots", "--object-folder", "s3://aws@b/p", "--local-folder", "/x"],
     "give exactly one of --box-folder .*, --local-folder .* and --object-folder"),
    (["snapshots", "--object-folder", "bucket/prefix"], "--object-folder must be a URL such as s3://"),
    (["dump", "--object-folder", "gs://gcp@b/p", "--object-lock-mode", "governance", "--object-lock-days", "7"],
     "needs an s3:// --object-folder"),
    (["dump", "--object-folder", "s3://aws@b/p", "--object-lock-mode", "governance"],
     "give both --object-lock-mode and --object-lock-days"),
    (["dump", "--local-folder", "/x", "--object-lock-mode", "governance", "--object-lock-days", "7"],
     "apply to an --object-folder .* only"),
    (["dump", "--object-folder", "s3://aws@b/p", "--object-lock-mode", "governance", "--object-lock-days", "0"],
     "--object-lock-days must be a whole number of days >= 1"),
])
def test_store_flags_are_checked_before_anything_runs(arguments: list[str], message: str) -> None:
    result = run(*arguments)
    assert result.returncode == EXIT_USAGE and result.stdout == ""
    assert any(re.search(message, line) for line in result.stderr.splitlines()), result.stderr


def test_an_unknown_lock_mode_is_an_argparse_error() -> None:
    result = run("dump", "--object-folder", "s3://aws@b/p", "--object-lock-mode", "legal", "--object-lock-days", "1")
    assert result.returncode == EXIT_USAGE and "invalid choice: 'legal'" in result.stderr


def test_dump_with_a_lock_then_list_and_verify_on_s3(astra_stand_in, astra_connection, s3: S3Server) -> None:
    sample_data.seed(astra_stand_in, {"articles": 20})
    store = ["--object-folder", f"s3://{S3_CONN_ID}@{LOCKED_BUCKET}/cli"]
    dumped = run("dump", *store, "--snapshot-id", "20260301T000000Z", "--object-lock-mode", "compliance",
                 "--object-lock-days", "1", "--json")
    assert dumped.returncode == EXIT_OK, dumped.stderr
    assert json.loads(dumped.stdout)["path"] == f"s3://{S3_CONN_ID}@{LOCKED_BUCKET}/cli/20260301T000000Z"
    manifest = s3.client().head_object(Bucket=LOCKED_BUCKET, Key="cli/20260301T000000Z/manifest.json")
    assert manifest["ObjectLockMode"] == "COMPLIANCE"
    listed = run("snapshots", *store)
    assert listed.returncode == EXIT_OK and "20260301T000000Z" in listed.stdout
