"""Issue 6's offline drill: encrypted, signed snapshots handled by the CLI alone, with no Airflow database."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyrage
import pytest

from airflow_provider_vectorbackup.hooks.astra import AstraDBHook
from airflow_provider_vectorbackup.testing import sample_data
from tests.cli.test_cli import cli, run

SNAPSHOT = "20260301T000000Z"


@pytest.fixture
def small(astra_stand_in, astra_connection, box_stand_in, box_connection):
    sample_data.seed(astra_stand_in, {"articles": 60, "products": 20, "faq": 5})
    return astra_stand_in, box_stand_in


@pytest.fixture
def identity(tmp_path: Path) -> tuple[Path, str]:
    key = pyrage.x25519.Identity.generate()
    path = tmp_path / "backup.age"
    path.write_text(f"# backup identity\n{key}\n")
    return path, str(key.to_public())


def test_offline_drill_with_encryption(small, identity, tmp_path: Path) -> None:
    identity_file, recipient = identity
    store = ["--local-folder", str(tmp_path / "share")]
    dumped = cli("dump", *store, "--snapshot-id", SNAPSHOT, "--recipient", recipient, tmp_path=tmp_path)
    assert dumped.returncode == 0, dumped.stderr
    stored = b"".join(p.read_bytes() for p in (tmp_path / "share").rglob("*") if p.is_file())
    for plaintext in (b"article-000001", b"Produkt 3", "東京".encode(), b"How do I"):
        assert plaintext not in stored, plaintext

    assert "articles(60)" in cli("snapshots", *store, tmp_path=tmp_path).stdout
    files = cli("verify", *store, SNAPSHOT, tmp_path=tmp_path)
    assert files.returncode == 0, files.stdout + files.stderr  # no key needed for ciphertext checks
    keyless = cli("verify", *store, SNAPSHOT, "--deep", tmp_path=tmp_path)
    assert keyless.returncode == 2 and "identity_required" in keyless.stdout
    deep = cli("verify", *store, SNAPSHOT, "--deep", "--identity-file", str(identity_file), tmp_path=tmp_path)
    assert deep.returncode == 0 and "records verification passed" in deep.stdout, deep.stdout + deep.stderr

    restored = cli("restore", *store, SNAPSHOT, "--identity-file", str(identity_file), "--target-prefix", "drill_",
                   "--validation-queries", "3", "--json", tmp_path=tmp_path)
    assert restored.returncode == 0, restored.stderr
    report = json.loads(restored.stdout)
    assert report["ok"] and report["collections"]["articles"]["documents_restored"] == 60
    assert report["collections"]["articles"]["recall_at_10"] == 1.0


def test_a_wrong_identity_fails_cleanly_and_writes_nothing(small, identity, tmp_path: Path) -> None:
    astra, _ = small
    _, recipient = identity
    store = ["--local-folder", str(tmp_path / "share")]
    assert run("dump", *store, "--snapshot-id", SNAPSHOT, "--recipient", recipient, tmp_path=tmp_path).returncode == 0
    stranger = pyrage.x25519.Identity.generate()
    wrong = tmp_path / "wrong.age"
    wrong.write_text(str(stranger))
    inserts = astra.request_counts.get("insertMany", 0)
    refused = run("restore", *store, SNAPSHOT, "--identity-file", str(wrong), "--target-prefix", "x_",
                  tmp_path=tmp_path)
    assert refused.returncode == 2 and "decryption_failed" in refused.stderr
    assert str(stranger) not in refused.stderr + refused.stdout
    assert AstraDBHook().get_conn().collection_definition("x_articles") is None
    assert astra.request_counts.get("insertMany", 0) == inserts


def test_a_signed_manifest_edited_with_its_files_fails_verification(small, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_VECTORBACKUP_SIGNING", json.dumps(
        {"conn_type": "generic", "password": "a-long-enough-hmac-secret", "extra": {"algorithm": "hmac-sha256"}}))
    store = ["--local-folder", str(tmp_path / "share")]
    signing = ["--signing-conn-id", "vectorbackup_signing"]
    assert run("dump", *store, "--snapshot-id", SNAPSHOT, *signing, tmp_path=tmp_path).returncode == 0
    assert run("verify", *store, SNAPSHOT, *signing, tmp_path=tmp_path).returncode == 0

    folder = tmp_path / "share" / SNAPSHOT
    segment = folder / "collections/products/part-00000.jsonl.gz"
    forged = segment.read_bytes()[:-8] + b"\0" * 8
    segment.write_bytes(forged)
    manifest = json.loads((folder / "manifest.json").read_text())
    for entry in next(c for c in manifest["collections"] if c["name"] == "products")["segments"]:
        entry.update(bytes=len(forged), sha256=hashlib.sha256(forged).hexdigest(), sha1=hashlib.sha1(forged).hexdigest())
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))

    assert run("verify", *store, SNAPSHOT, tmp_path=tmp_path).returncode == 0, "consistent edits pass plain checks"
    signed = run("verify", *store, SNAPSHOT, *signing, tmp_path=tmp_path)
    assert signed.returncode == 2 and "signature_invalid" in signed.stdout
