"""The command line over deduplicated snapshots: dump, verify a data subset, download with packs, prune and its
garbage collection, unlock."""

from __future__ import annotations

import json
from pathlib import Path

from airflow_provider_vectorbackup.check.verify import verify
from airflow_provider_vectorbackup.stores.local import LocalStore
from airflow_provider_vectorbackup.stores.locking import EXCLUSIVE, StoreLock
from airflow_provider_vectorbackup.testing import sample_data
from tests.cli.test_cli import run


def test_a_deduplicated_dump_verifies_downloads_prunes_and_a_dead_lock_is_unlocked(
        astra_stand_in, astra_connection, tmp_path: Path) -> None:
    sample_data.seed(astra_stand_in, {"articles": 80, "faq": 5})
    share = tmp_path / "share"
    store = ["--local-folder", str(share)]
    for day in ("20261101T000000Z", "20261102T000000Z"):
        dumped = run("dump", *store, "--snapshot-id", day, "--deduplicate", "--segment-max-bytes", "20000", "--json")
        assert dumped.returncode == 0, dumped.stderr
    packs = sorted(p.name for p in (share / "data").iterdir())
    assert packs and not list((share / "20261102T000000Z").rglob("*.jsonl.gz")), "documents live in data/ only"

    inspected = run("inspect", *store, "latest")
    assert "0 document(s) stored by this dump (0 bytes), deduplicated against 20261101T000000Z" in inspected.stdout

    subset = run("verify", *store, "latest", "--read-data-subset", "1/1", "--json")
    assert subset.returncode == 0, subset.stderr
    manifest = LocalStore(share).read_manifest(LocalStore(share).get("latest"))
    assert json.loads(subset.stdout)["documents_checked"] == sum(c.document_count for c in manifest.collections)
    bad = run("verify", *store, "latest", "--read-data-subset", "2/1")
    assert bad.returncode == 4 and "n/t" in bad.stderr
    records_too = run("verify", *store, "latest", "--level", "records", "--read-data-subset", "1/2")
    assert records_too.returncode == 4 and "--level files" in records_too.stderr

    copied = run("download", *store, "20261101T000000Z", str(tmp_path / "copy"))
    assert copied.returncode == 0, copied.stderr
    assert verify(tmp_path / "copy" / "20261101T000000Z", "records").ok, "the download brought the packs it needs"

    dead = StoreLock(LocalStore(share), EXCLUSIVE, "a prune that was killed")
    dead.acquire()
    refused = run("dump", *store, "--snapshot-id", "20261103T000000Z", "--deduplicate", "--lock-wait", "0")
    assert refused.returncode == 1 and "a prune that was killed" in refused.stderr
    kept = run("unlock", *store)
    assert kept.returncode == 0 and "a prune that was killed" in kept.stdout, "an unexpired lock is only listed"
    cleared = run("unlock", *store, "--remove-all", "--json")
    assert json.loads(cleared.stdout)["removed"] == [dead.name]

    dry = run("prune", *store, "--keep-last", "1", "--dry-run", "--json")
    garbage = json.loads(dry.stdout)["garbage"]
    assert dry.returncode == 0 and garbage["dry_run"] and garbage["swept"]
    pruned = run("prune", *store, "--keep-last", "1", "--json")
    assert pruned.returncode == 0, pruned.stderr
    assert json.loads(pruned.stdout)["garbage"]["bytes_freed"] == garbage["bytes_freed"]
    assert verify(share / "20261102T000000Z", "records").ok
