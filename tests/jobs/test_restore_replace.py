"""``if_exists="replace"`` backs up what it drops first, verified record by record, and drops nothing when it can't."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_provider_vectorbackup.check.stored import check_stored
from airflow_provider_vectorbackup.hooks.astra import AstraDBHook
from airflow_provider_vectorbackup.jobs import replace as replace_module
from airflow_provider_vectorbackup.jobs.dump import DumpOptions, dump_snapshot
from airflow_provider_vectorbackup.jobs.restore import RestoreOptions, RestoreRefused, restore_snapshot
from airflow_provider_vectorbackup.stores.local import LocalStore
from airflow_provider_vectorbackup.testing import sample_data

KS = sample_data.KEYSPACE
SNAPSHOT = "20261001T000000Z"
REPLACE = RestoreOptions(if_exists="replace", validation_queries=2)


@pytest.fixture
def live(astra_stand_in, astra_connection, tmp_path: Path) -> LocalStore:
    """A snapshot of 30 articles; since then the live collection gained 5 more."""
    sample_data.seed(astra_stand_in, {"articles": 30, "products": 0, "faq": 0})
    store = LocalStore(tmp_path)
    assert not dump_snapshot(AstraDBHook().get_conn(), store, SNAPSHOT, DumpOptions(collections=["articles"])).failures
    astra_stand_in.seed(KS, "articles", list(sample_data.articles(35))[30:])
    return store


def test_replace_backs_up_the_live_collection_verified_and_reports_its_snapshot(live: LocalStore,
                                                                                 tmp_path: Path) -> None:
    source = AstraDBHook().get_conn()
    report = restore_snapshot(live, SNAPSHOT, source, REPLACE)
    backup = report["replaced_backup"]
    assert report["ok"] and backup.endswith("-before-replace")
    assert source.count_documents("articles").count == 30
    manifest = json.loads((tmp_path / backup / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["producer"] == {"tool": "vectorbackup-restore",
                                                                         "replaced_by": SNAPSHOT}
    assert [(c["name"], c["document_count"]) for c in manifest["collections"]] == [("articles", 35)]
    assert check_stored(live, live.get(backup), "records").ok

    back = restore_snapshot(live, backup, source, RestoreOptions(target_prefix="undo_", validation_queries=0))
    assert back["ok"] and source.count_documents("undo_articles").count == 35  # the replaced data, back again


def test_without_an_existing_target_there_is_nothing_to_back_up(live: LocalStore, tmp_path: Path) -> None:
    report = restore_snapshot(live, SNAPSHOT, AstraDBHook().get_conn(),
                              RestoreOptions(if_exists="replace", target_prefix="new_", validation_queries=0))
    assert report["ok"] and report["replaced_backup"] is None
    assert sorted(p.name for p in tmp_path.iterdir()) == [SNAPSHOT]
    other = restore_snapshot(live, SNAPSHOT, AstraDBHook().get_conn(),
                             RestoreOptions(target_prefix="plain_", validation_queries=0))
    assert "replaced_backup" not in other  # only a replacing restore reports it


def test_a_backup_that_fails_drops_nothing(live: LocalStore, tmp_path: Path) -> None:
    source = AstraDBHook().get_conn()
    scan = source.scan

    class Broken:  # the read starts, then the database goes away
        record = None

        def pages(self):
            yield from []
            raise ConnectionError("the database went away")

    def broken_scan(name, definition, **kwargs):
        return Broken()

    source.scan = broken_scan
    with pytest.raises(RestoreRefused, match=r"refusing to replace \['articles'\].*their backup, snapshot "
                                             r"\d{8}T\d{6}Z-before-replace.*is incomplete \(articles: "
                                             r"ConnectionError: the database went away\); nothing was dropped"):
        restore_snapshot(live, SNAPSHOT, source, REPLACE)
    source.scan = scan
    assert source.count_documents("articles").count == 35
    backups = [p for p in tmp_path.iterdir() if "-before-replace" in p.name]
    assert len(backups) == 1 and json.loads((backups[0] / "manifest.json").read_text())["status"] == "incomplete"


def test_a_backup_that_does_not_verify_drops_nothing(live: LocalStore, monkeypatch) -> None:
    dump = replace_module.dump_snapshot

    def dump_then_rot(source, store, snapshot_id, options):
        outcome = dump(source, store, snapshot_id, options)
        segment = next((store.root / snapshot_id / "collections" / "articles").glob("part-*"))
        segment.write_bytes(segment.read_bytes()[:-8])  # the stored bytes rot before they are verified
        return outcome

    monkeypatch.setattr(replace_module, "dump_snapshot", dump_then_rot)
    source = AstraDBHook().get_conn()
    with pytest.raises(RestoreRefused, match=r"(?s)does not verify; nothing was dropped\.\n.*part-00000.*"
                                             r"\[checksum_mismatch\]"):
        restore_snapshot(live, SNAPSHOT, source, REPLACE)
    assert source.count_documents("articles").count == 35


def test_in_an_encrypted_store_the_backup_is_encrypted_to_the_restorers_identities(astra_stand_in, astra_connection,
                                                                                    tmp_path: Path) -> None:
    from pyrage import x25519

    from airflow_provider_vectorbackup.snapshot.encryption import AgeEncryption, AgeIdentities

    identity = x25519.Identity.generate()
    sample_data.seed(astra_stand_in, {"articles": 10, "products": 0, "faq": 0})
    store = LocalStore(tmp_path)
    dump_snapshot(AstraDBHook().get_conn(), store, SNAPSHOT, DumpOptions(
        collections=["articles"], encryption=AgeEncryption.from_recipients([str(identity.to_public())])))
    identities = AgeIdentities([identity])
    report = restore_snapshot(store, SNAPSHOT, AstraDBHook().get_conn(),
                              RestoreOptions(if_exists="replace", identities=identities, validation_queries=0))
    manifest = json.loads((tmp_path / report["replaced_backup"] / "manifest.json").read_text())
    assert manifest["encryption"]["recipients_fingerprint"] == AgeEncryption.from_recipients(
        identities.recipients).fingerprint
    assert all(f["path"].endswith(".age") for c in manifest["collections"] for f in c["segments"])


def test_a_restore_over_mapped_tasks_backs_up_in_its_plan_and_reports_it_at_the_commit(live: LocalStore) -> None:
    from airflow_provider_vectorbackup.jobs.restore_scale_out import (
        RestorePlan, commit_restore, plan_restore, restore_slice,
    )

    source = AstraDBHook().get_conn()
    plan = plan_restore(live, SNAPSHOT, source, REPLACE, slices_per_collection=2)
    assert plan.replaced_backup.endswith("-before-replace") and check_stored(live, live.get(plan.replaced_backup),
                                                                             "records").ok
    plan = RestorePlan.from_dict(json.loads(json.dumps(plan.to_dict())))  # as the mapped tasks get it, from XCom
    reports = [restore_slice(live, plan, item, source, RestoreOptions()) for item in plan.work_items]
    summary = commit_restore(live, plan, reports, source, RestoreOptions(validation_queries=2))
    assert summary["ok"] and summary["replaced_backup"] == plan.replaced_backup
    assert source.count_documents("articles").count == 30
