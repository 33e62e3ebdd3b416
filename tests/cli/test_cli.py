"""The vectorbackup command line, run as a subprocess with no Airflow metadata database: every exit code caused."""

from __future__ import annotations

import contextlib
import logging
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_vectorbackup.cli import main
from airflow_provider_vectorbackup.hooks.astra import AstraDBHook
from airflow_provider_vectorbackup.testing import sample_data


def cli(*args: str, tmp_path: Path, env: dict[str, str] | None = None, optimize: bool = False):
    """Run the CLI in a fresh interpreter whose AIRFLOW_HOME has no database."""
    home = tmp_path / "no-airflow-home"
    environment = {**os.environ, "AIRFLOW_HOME": str(home), **(env or {})}
    command = [sys.executable, *(["-O"] if optimize else []), "-m", "airflow_provider_vectorbackup.cli", *args]
    result = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=300)
    assert not (home / "airflow.db").exists(), "the CLI must not need or create a metadata database"
    return result


def run(*args: str, tmp_path: Path | None = None) -> subprocess.CompletedProcess:
    """The same CLI, in this process (Airflow is imported once for all of them): for the many cases where a
    fresh interpreter proves nothing more. The subprocess runs above cover the process boundary and -O."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args), configure_logging=False)
        except SystemExit as exit_:  # argparse
            code = exit_.code
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())


@pytest.fixture
def small(astra_stand_in, astra_connection, box_stand_in, box_connection):
    sample_data.seed(astra_stand_in, {"articles": 60, "products": 20, "faq": 5})
    return astra_stand_in, box_stand_in


def test_dump_list_inspect_verify_restore_prune_and_download_through_a_local_folder(small, tmp_path: Path) -> None:
    store = ["--local-folder", str(tmp_path / "share")]
    dumped = cli("dump", *store, "--snapshot-id", "20260301T000000Z", "--json", tmp_path=tmp_path)
    assert dumped.returncode == 0, dumped.stderr
    assert json.loads(dumped.stdout)["collections"]["articles"]["documents"] == 60
    run("dump", *store, "--snapshot-id", "20260302T000000Z", tmp_path=tmp_path)

    listed = run("snapshots", *store, tmp_path=tmp_path)
    assert listed.returncode == 0 and "20260301T000000Z" in listed.stdout and "articles(60)" in listed.stdout
    inspected = run("inspect", *store, "latest", tmp_path=tmp_path)
    assert inspected.returncode == 0 and "snapshot 20260302T000000Z: complete" in inspected.stdout
    for extra in ([], ["--deep"]):
        checked = run("verify", *store, "20260301T000000Z", *extra, tmp_path=tmp_path)
        assert checked.returncode == 0 and "verification passed" in checked.stdout, checked.stderr

    restored = run("restore", *store, "latest", "--target-prefix", "cli_", "--collections", "articles,products",
                   "--validation-queries", "3", tmp_path=tmp_path)
    assert restored.returncode == 0, restored.stderr
    assert "validated" in restored.stdout and AstraDBHook().get_conn().count_documents("cli_articles").count == 60

    target = tmp_path / "copy"
    copied = run("download", *store, "20260301T000000Z", str(target), tmp_path=tmp_path)
    assert copied.returncode == 0 and (target / "20260301T000000Z" / "manifest.json").is_file()

    dry = run("prune", *store, "--keep-last", "1", "--dry-run", tmp_path=tmp_path)
    assert dry.returncode == 0 and "delete 20260301T000000Z" in dry.stdout
    assert (tmp_path / "share" / "20260301T000000Z").is_dir()
    pruned = run("prune", *store, "--keep-last", "1", tmp_path=tmp_path)
    assert pruned.returncode == 0 and not (tmp_path / "share" / "20260301T000000Z").exists()
    assert (tmp_path / "share" / "20260302T000000Z").is_dir()


def test_restore_reads_back_with_the_scan_mode_asked_for(small, tmp_path: Path) -> None:
    astra, _ = small
    store = ["--local-folder", str(tmp_path / "share")]
    assert run("dump", *store, "--snapshot-id", "20260301T000000Z", tmp_path=tmp_path).returncode == 0
    astra.refuse_id_ranges = ["date"]  # an older Data API release
    for mode, reason in (("single", "single scan requested"), ("ranges", "every id on the probe page is a string")):
        restored = run("restore", *store, "latest", "--target-prefix", f"{mode}_", "--collections", "articles",
                       "--scan-mode", mode, "--json", tmp_path=tmp_path)
        assert restored.returncode == 0, restored.stderr
        scan = json.loads(restored.stdout)["collections"]["articles"]["scan"]
        assert scan["reason"] == reason
    assert scan["fallback"]["refused"] == ["date"] and scan["reconciliation"] == "exact count"
    refused = run("restore", *store, "latest", "--scan-mode", "fast", tmp_path=tmp_path)
    assert refused.returncode != 0 and "--scan-mode" in refused.stderr


def test_restore_takes_its_write_and_read_settings_and_reports_its_phases(small, tmp_path: Path) -> None:
    store = ["--local-folder", str(tmp_path / "share")]
    assert run("dump", *store, "--snapshot-id", "20260301T000000Z", tmp_path=tmp_path).returncode == 0
    restored = run("restore", *store, "latest", "--target-prefix", "tuned_", "--collections", "articles",
                   "--chunk-size", "7", "--concurrency", "2", "--read-streams", "3", "--json", tmp_path=tmp_path)
    assert restored.returncode == 0, restored.stderr
    report = json.loads(restored.stdout)
    assert report["collections"]["articles"]["scan"]["streams"] == 3
    assert set(report["phases"]) == {"prepare", "write", "validate"}
    text = run("restore", *store, "latest", "--target-prefix", "text_", "--collections", "faq", tmp_path=tmp_path)
    assert text.returncode == 0 and "  seconds: prepare " in text.stdout and ", validate " in text.stdout
    refused = run("restore", *store, "latest", "--target-prefix", "zero_", "--concurrency", "0", tmp_path=tmp_path)
    assert refused.returncode != 0 and "concurrency must be at least 1" in refused.stderr
    assert AstraDBHook().get_conn().collection_definition("zero_articles") is None


def test_box_is_a_store_too(small, tmp_path: Path) -> None:
    dumped = run("dump", "--box-folder", "cli-backups", "--collections", "products", tmp_path=tmp_path)
    assert dumped.returncode == 0, dumped.stderr
    checked = run("verify", "--box-folder", "cli-backups", "latest", tmp_path=tmp_path)
    assert checked.returncode == 0 and "files verification passed" in checked.stdout


def test_exit_code_2_when_verification_fails(small, tmp_path: Path) -> None:
    store = ["--local-folder", str(tmp_path / "share")]
    assert run("dump", *store, "--snapshot-id", "20260301T000000Z", tmp_path=tmp_path).returncode == 0
    segment = tmp_path / "share/20260301T000000Z/collections/products/part-00000.jsonl.gz"
    segment.write_bytes(segment.read_bytes()[:-10])
    checked = run("verify", *store, "latest", tmp_path=tmp_path)
    assert checked.returncode == 2 and "products/part-00000.jsonl.gz" in checked.stdout
    refused = run("restore", *store, "latest", "--target-prefix", "x_", tmp_path=tmp_path)
    assert refused.returncode == 2 and "nothing was written" in refused.stderr
    assert AstraDBHook().get_conn().collection_definition("x_articles") is None


def test_exit_code_3_when_vectors_are_lost(small, tmp_path: Path) -> None:
    astra, _ = small
    astra.regression_mode = True
    dumped = run("dump", "--local-folder", str(tmp_path / "share"), tmp_path=tmp_path)
    assert dumped.returncode == 3 and "VectorLossError" in dumped.stderr
    assert [p.name.endswith(".INCOMPLETE") for p in (tmp_path / "share").iterdir()] == [True]


@pytest.mark.parametrize("arguments, message", [
    (["snapshots"], "exactly one of --box-folder"),
    (["restore", "--local-folder", "/tmp", "latest", "--map", "nonsense"], "--map takes SOURCE=TARGET"),
    (["frobnicate"], "invalid choice"),
    (["verify", "--local-folder", "{share}", "20991231T000000Z"], "holds no snapshot"),
])
def test_exit_code_4_for_bad_usage_or_configuration(small, tmp_path: Path, arguments: list[str], message: str) -> None:
    (tmp_path / "share").mkdir()
    result = run(*[a.replace("{share}", str(tmp_path / "share")) for a in arguments], tmp_path=tmp_path)
    assert result.returncode == 4 and message in result.stderr


def test_exit_code_1_when_the_source_stays_unreachable(tmp_path: Path) -> None:
    unreachable = json.dumps({"conn_type": "astra_db", "host": "http://127.0.0.1:9", "password": "t",
                              "extra": {"keyspace": "ks", "environment": "other", "max_attempts": 1}})
    result = cli("dump", "--local-folder", str(tmp_path / "share"), tmp_path=tmp_path,
                 env={"AIRFLOW_CONN_ASTRA_DEFAULT": unreachable})
    assert result.returncode == 1 and "ConnectError" in result.stderr
    assert [p.name.endswith(".INCOMPLETE") for p in (tmp_path / "share").iterdir()] == [True]


def test_exit_codes_hold_under_python_dash_o(small, tmp_path: Path) -> None:
    """No failure may depend on an assert statement, which -O strips."""
    store = ["--local-folder", str(tmp_path / "share")]
    assert cli("dump", *store, "--snapshot-id", "20260301T000000Z", tmp_path=tmp_path, optimize=True).returncode == 0
    segment = tmp_path / "share/20260301T000000Z/collections/articles/part-00000.jsonl.gz"
    data = bytearray(segment.read_bytes())
    data[50] ^= 1
    segment.write_bytes(bytes(data))
    assert cli("verify", *store, "latest", tmp_path=tmp_path, optimize=True).returncode == 2
    assert cli("snapshots", tmp_path=tmp_path, optimize=True).returncode == 4


def test_help_documents_the_exit_codes(tmp_path: Path) -> None:
    result = cli("--help", tmp_path=tmp_path)
    assert result.returncode == 0
    for line in ("0  success", "2  the snapshot is incomplete", "3  the vector-loss guard", "4  bad usage",
                 "1  anything else"):
        assert line in result.stdout


def test_deep_verify_of_box_names_every_file_that_rotted_at_rest_and_exits_2(small, tmp_path: Path) -> None:
    _, box = small
    assert run("dump", "--box-folder", "cli-backups", "--snapshot-id", "20260301T000000Z", tmp_path=tmp_path).returncode == 0
    rotted = sorted(r["path"] for r in box.tree() if r["path"].endswith("part-00000.jsonl.gz")
                    and ("/articles/" in r["path"] or "/faq/" in r["path"]))
    for path in rotted:
        box.corrupt_file(path, offset=30)  # Box's recorded SHA-1 stays the same: only a download sees it
    names = [path.split("20260301T000000Z/", 1)[1] for path in rotted]
    checked = run("verify", "--box-folder", "cli-backups", "latest", "--deep", tmp_path=tmp_path)
    assert checked.returncode == 2, checked.stderr
    lines = [line for line in checked.stdout.splitlines() if line.endswith("[checksum_mismatch]")]
    assert [line.split(": ", 1)[0] for line in lines] == [f"  - {name}" for name in names]  # one line per file
    as_json = json.loads(cli("verify", "--box-folder", "cli-backups", "latest", "--deep", "--json", "--quiet",
                             tmp_path=tmp_path).stdout)
    bad = [p for p in as_json["problems"] if p["problem"] == "checksum_mismatch"]
    assert [p["file"] for p in bad] == names
    assert all(set(p) >= {"file", "problem", "expected", "found"} and p["expected"] != p["found"] for p in bad)
    assert as_json["documents_checked"] == 20, "the intact products segment was still read record by record"
    copied = run("download", "--box-folder", "cli-backups", "latest", str(tmp_path / "copy"), tmp_path=tmp_path)
    assert copied.returncode == 2 and "BoxIntegrityError" in copied.stderr
    refused = run("restore", "--box-folder", "cli-backups", "latest", "--target-prefix", "x_", tmp_path=tmp_path)
    assert refused.returncode == 2 and "nothing was written" in refused.stderr
    assert all(name in refused.stderr for name in names)
    assert AstraDBHook().get_conn().collection_definition("x_products") is None


def test_verify_of_a_local_folder_names_every_bad_file_in_one_run(small, tmp_path: Path) -> None:
    store = ["--local-folder", str(tmp_path / "share")]
    assert run("dump", *store, "--snapshot-id", "20260301T000000Z", tmp_path=tmp_path).returncode == 0
    names = ["collections/articles/part-00000.jsonl.gz", "collections/faq/part-00000.jsonl.gz"]
    for name in names:
        segment = tmp_path / "share/20260301T000000Z" / name
        segment.write_bytes(segment.read_bytes()[:-10])
    for extra in ([], ["--deep"]):
        data = json.loads(cli("verify", *store, "latest", "--json", *extra, tmp_path=tmp_path).stdout)
        assert sorted({p["file"] for p in data["problems"] if p["problem"] == "size_mismatch"}) == names


CANARY = "CANARY-secret-5d1e8b"


def _connection(monkeypatch: pytest.MonkeyPatch, conn_id: str, like: str, **changes: object) -> None:
    """Connection ``conn_id``: a copy of connection ``like`` with ``changes``."""
    connection = {**json.loads(os.environ[f"AIRFLOW_CONN_{like.upper()}"]), **changes}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(connection))


def test_refused_credentials_exit_4_naming_the_connection_never_the_secret(
        small, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
        capsys: pytest.CaptureFixture[str]) -> None:
    local = ["--local-folder", str(tmp_path / "share")]
    earlier = ["--collections", "faq", "--snapshot-id", "20260301T000000Z"]  # a later dump is another snapshot
    assert run("dump", *local, *earlier, tmp_path=tmp_path).returncode == 0
    assert run("dump", "--box-folder", "cli-backups", *earlier, tmp_path=tmp_path).returncode == 0
    _connection(monkeypatch, "astra_backup", "astra_default", password=f"AstraCS:{CANARY}")
    _connection(monkeypatch, "box_backup", "box_default", password=CANARY)
    astra, box = ["--astra-conn-id", "astra_backup"], ["--box-folder", "cli-backups", "--box-conn-id", "box_backup"]
    commands = {  # wrong Astra token, good store; then a wrong Box secret for every command that uses Box
        "astra_backup": [["dump", *local, *astra], ["restore", *local, *astra, "latest", "--target-prefix", "x_"]],
        "box_backup": [["snapshots", *box], ["verify", *box, "latest"], ["prune", *box], ["dump", *box],
                       ["restore", *box, "latest", "--target-prefix", "x_"], ["download", *box, "latest", "here"]],
    }
    seen = []
    with caplog.at_level(logging.DEBUG):
        for conn_id, runs in commands.items():
            for arguments in runs:
                result = run(*arguments, tmp_path=tmp_path)
                assert result.returncode == 4, (arguments, result.stderr)
                assert f"connection {conn_id!r}" in result.stderr and "check" in result.stderr, result.stderr
                assert "CredentialsRejected" in result.stderr
                seen += [result.stdout, result.stderr]
    captured = capsys.readouterr()
    text = "\n".join([*seen, caplog.text, captured.out, captured.err])
    assert "HTTP 401" in text and "invalid_client" in text
    assert CANARY not in text


def test_verbose_shows_retries_and_decisions_and_quiet_by_default_does_not(small, tmp_path: Path) -> None:
    """-v adds our debug lines (a retry that then succeeded, the scan's decisions), still without secrets
    and without the libraries' request-level debug output; without it they are absent."""
    astra, box = small
    outputs = {}
    for flag in ("-v", None):
        astra.faults.configure(server_error_every=7)  # resets the counter: both runs meet the same faults
        result = cli("dump", "--box-folder", f"verbose-{bool(flag)}", "--collections", "articles",
                     *([flag] if flag else []), tmp_path=tmp_path)
        assert result.returncode == 0, result.stderr
        assert "failed (HTTP 503), attempt 1; retrying" in result.stderr  # a retry is a warning either way
        outputs[flag] = result.stderr
    verbose, default = outputs["-v"], outputs[None]
    assert "DEBUG Dump settings: scan_mode=auto, scan_streams=" in verbose
    assert "succeeded on attempt 2" in verbose and "complete by exact count" in verbose
    assert "connect_tcp" not in verbose and "Starting new HTTP connection" not in verbose, "no library debug noise"
    assert astra.token not in verbose and box.client_secret not in verbose
    assert "DEBUG" not in default and "succeeded on attempt" not in default


def test_quiet_and_verbose_together_are_bad_usage(tmp_path: Path) -> None:
    result = run("snapshots", "--local-folder", str(tmp_path), "-q", "-v")
    assert result.returncode == 4 and "argument -v/--verbose: not allowed with argument -q/--quiet" in result.stderr


def test_the_progress_bar_shows_each_collections_stored_megabytes() -> None:
    from rich.console import Console

    from airflow_provider_vectorbackup.cli import _ProgressDisplay
    from airflow_provider_vectorbackup.progress import Progress

    progress = Progress(logging.getLogger("test"), "articles", expected=100)
    progress.advance(40)
    progress.bytes = 2_500_000
    screen = Console(file=io.StringIO(), width=200)
    with _ProgressDisplay(enabled=True) as display:
        display.update(progress)
        screen.print(display._bar.get_renderable())
    assert "articles" in screen.file.getvalue() and "40/100" in screen.file.getvalue()
    assert "2.5 MB" in screen.file.getvalue()


def test_a_restore_progress_bar_shows_an_eta_and_no_megabytes(tmp_path: Path) -> None:
    from rich.console import Console

    from airflow_provider_vectorbackup.cli import _ProgressDisplay
    from airflow_provider_vectorbackup.progress import Progress

    progress = Progress(logging.getLogger("test"), "restore articles into r_articles", expected=1_000)
    progress.advance(250)
    screen = Console(file=io.StringIO(), width=200)
    with _ProgressDisplay(enabled=True) as display:
        display.update(progress)
        display.update(progress)  # the same bar, updated
        screen.print(display._bar.get_renderable())
    shown = screen.file.getvalue()
    assert shown.count("restore articles into r_articles") == 1 and "250/1000" in shown
    assert "MB" not in shown and "ETA 0:00:" in shown  # from the rate so far, as in the task log lines


def test_astra_endpoint_makes_the_connection_in_memory_leaving_the_environment_alone(
        astra_stand_in, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sample_data.seed(astra_stand_in, {"articles": 30, "products": 5, "faq": 2})
    monkeypatch.delenv("AIRFLOW_CONN_ASTRA_DEFAULT", raising=False)  # only the endpoint and the token
    endpoint = ["--astra-endpoint", astra_stand_in.url, "--keyspace", sample_data.KEYSPACE]
    store = ["--local-folder", str(tmp_path / "share")]
    missing = run("dump", *store, *endpoint, tmp_path=tmp_path)
    assert missing.returncode == 4 and "ASTRA_DB_APPLICATION_TOKEN" in missing.stderr
    monkeypatch.setenv("ASTRA_DB_APPLICATION_TOKEN", astra_stand_in.token)
    before = dict(os.environ)
    dumped = run("dump", *store, *endpoint, "--collections", "articles", "--json", tmp_path=tmp_path)
    assert dumped.returncode == 0, dumped.stderr
    assert json.loads(dumped.stdout)["collections"]["articles"]["documents"] == 30
    assert dict(os.environ) == before, "no AIRFLOW_CONN_* variable may be made for the endpoint"


def test_json_output_stays_parseable_when_a_library_prints_to_stdout(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Airflow 3.1 prints a warning on stdout the first time it parses some connections: only results go there."""
    from airflow_provider_vectorbackup.stores.local import LocalStore

    listed = LocalStore.snapshots

    def snapshots_with_a_library_speaking(store: LocalStore) -> list:
        print("2026-12-05T00:06:41Z [warning  ] a library speaking on stdout")
        return listed(store)

    monkeypatch.setattr(LocalStore, "snapshots", snapshots_with_a_library_speaking)
    assert main(["snapshots", "--local-folder", str(tmp_path), "--json"], configure_logging=False) == 0
    printed = capsys.readouterr()
    assert json.loads(printed.out) == [] and "a library speaking on stdout" in printed.err
