"""The dump and restore jobs with a Weaviate source: tenants and named vectors survive the round trip, and an
inactive tenant fails its collection (named) while the other collections are still backed up."""

from __future__ import annotations

from airflow_provider_vectorbackup.jobs.dump import dump_snapshot
from airflow_provider_vectorbackup.jobs.restore import RestoreOptions, restore_snapshot
from airflow_provider_vectorbackup.sources.weaviate.client import InactiveTenants
from airflow_provider_vectorbackup.stores.local import LocalStore
from tests.sources.test_conformance import digest_of, scanned
from tests.sources.weaviate.test_weaviate_source import _create, _document


def test_a_dump_restores_tenants_and_named_vectors_and_an_inactive_tenant_fails_only_its_collection(
        weaviate_source, weaviate_stand_in, tmp_path) -> None:
    source = weaviate_source(page_size=8)
    _create(source, "Notes")
    _create(source, "Shared", tenants=True)
    notes = [_document(i) for i in range(20)]
    shared = [_document(i, tenant) for tenant in ("acme", "globex") for i in range(10)]
    assert source.insert_documents("Notes", notes).ok and source.insert_documents("Shared", shared).ok
    store = LocalStore(tmp_path / "store")

    outcome = dump_snapshot(source, store, "20260601T000000Z")
    assert outcome.failures == {}

    report = restore_snapshot(store, "20260601T000000Z", source, RestoreOptions(target_prefix="Copy"))
    assert report["ok"] is True, report
    for name, documents in (("Notes", notes), ("Shared", shared)):
        copy = source.collection_definition(f"Copy{name}")
        assert copy == source.collection_definition(name)
        assert digest_of(scanned(source, f"Copy{name}", copy)) == digest_of(documents)

    weaviate_stand_in.set_tenant_status("Shared", "globex", "FROZEN")
    outcome = dump_snapshot(source, store, "20260602T000000Z")
    assert set(outcome.failures) == {"Shared"}
    assert isinstance(outcome.failures["Shared"], InactiveTenants) and "'globex'" in str(outcome.failures["Shared"])
    entries = {c.name: (c.status, c.document_count) for c in outcome.manifest.collections}
    assert entries["Notes"][1] == 20 and entries.get("Shared", ("failed",))[0] != "complete", entries
    assert outcome.manifest.status == "incomplete"
