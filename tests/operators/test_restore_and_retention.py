"""RestoreOperator refusals and validation; RetentionOperator against Box with foreign snapshots."""

from __future__ import annotations

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException

from airflow_provider_vectorbackup.hooks.astra import AstraDBHook
from airflow_provider_vectorbackup.hooks.box import BoxHook
from airflow_provider_vectorbackup.operators.dump import VectorDumpOperator
from airflow_provider_vectorbackup.operators.restore import RestoreOperator
from airflow_provider_vectorbackup.operators.retention import LEDGER_KEY, RetentionOperator
from tests.airflow_context import RecordingTI, context_for

KS = "default_keyspace"
FOLDER = "backups/vectors"


def dump(snapshot_id: str) -> dict:
    ti = RecordingTI(task_id="dump")
    return VectorDumpOperator(task_id="dump", box_folder=FOLDER, snapshot_id=snapshot_id).execute(context_for(ti))


def restore(**kwargs) -> dict:
    operator = RestoreOperator(task_id="restore", box_folder=FOLDER, **kwargs)
    return operator.execute(context_for(RecordingTI(task_id="restore")))


def test_restore_validates_counts_digests_and_vector_recall(seeded) -> None:
    astra, _ = seeded
    dump("20260301T000000Z")
    report = restore(target_prefix="copy_", collections=["articles", "faq"], validation_queries=5)
    articles, faq = report["collections"]["articles"], report["collections"]["faq"]
    assert report["ok"] and articles["target"] == "copy_articles"
    assert articles["documents_restored"] == 120 and articles["digest_matches_manifest"] is True
    assert articles["digest_restored"] == articles["digest_expected"]
    assert articles["recall_at_10"] == 1.0 and articles["queries"] == 5
    assert faq["vectorize_text_dropped"] == 10 and faq["digest_matches_manifest"] is False  # documented trade-off
    assert AstraDBHook().get_conn().collection_definition("copy_products") is None, "only the selected collections"


def test_restore_reads_back_with_its_scan_mode_and_refuses_an_unknown_one_at_parse_time(seeded) -> None:
    dump("20260301T000000Z")
    report = restore(target_prefix="copy_", collections=["articles"], validation_queries=0, scan_mode="single")
    assert report["ok"] and report["collections"]["articles"]["scan"]["reason"] == "single scan requested"
    with pytest.raises(ValueError, match="scan_mode must be one of"):
        RestoreOperator(task_id="restore", box_folder=FOLDER, scan_mode="fast")


def test_in_place_restore_over_live_data_needs_replace(seeded) -> None:
    astra, _ = seeded
    dump("20260301T000000Z")
    before = astra.request_counts.get("insertMany", 0)
    with pytest.raises(AirflowFailException, match="already exists.*with documents.*Nothing was written"):
        restore(collections=["products"])
    assert astra.request_counts.get("insertMany", 0) == before
    astra.seed(KS, "products", [{"_id": "stray", "$vector": [0.0] * 63 + [1.0]}])
    report = restore(collections=["products"], if_exists="replace")
    assert report["collections"]["products"]["documents_restored"] == 40
    assert all(d["_id"] != "stray" for d in astra.dump_collection(KS, "products"))
    backup = report["replaced_backup"]  # what was replaced, stray document included, is in Box first
    assert backup.endswith("-before-replace") and restore(snapshot_id=backup, target_prefix="undo_",
                                                           validation_queries=0)["ok"]
    assert any(d["_id"] == "stray" for d in astra.dump_collection(KS, "undo_products"))


def test_a_rerun_after_a_crash_resumes_to_the_same_collection(seeded) -> None:
    astra, _ = seeded
    dump("20260301T000000Z")
    partial = astra.dump_collection(KS, "articles")[:50]
    astra.create_collection(KS, "copy_articles", astra.collection_options(KS, "articles"))
    astra.seed(KS, "copy_articles", partial)  # what a crashed restore left behind
    with pytest.raises(AirflowFailException, match="if_exists='resume'"):
        restore(collections=["articles"], target_prefix="copy_")
    report = restore(collections=["articles"], target_prefix="copy_", if_exists="resume")
    result = report["collections"]["articles"]
    assert result["already_present"] == 50 and result["inserted"] == 70 and result["ok"]


def test_name_clashes_unknown_collections_and_incomplete_snapshots_are_refused(seeded) -> None:
    astra, _ = seeded
    dump("20260301T000000Z")
    with pytest.raises(AirflowFailException, match="same name"):
        restore(collections=["articles", "products"], name_mapping={"articles": "x", "products": "x"})
    with pytest.raises(AirflowFailException, match=r"no collection\(s\) \['nope'\]"):
        restore(collections=["nope"])
    astra.regression_mode = True
    with pytest.raises(Exception, match="Vector loss"):
        dump("20260302T000000Z")
    with pytest.raises(AirflowFailException, match="INCOMPLETE"):
        restore(snapshot_id="20260302T000000Z", target_prefix="copy_")


def test_retention_prunes_only_this_dags_snapshots(seeded) -> None:
    box_hook = BoxHook().get_conn()
    ids = [f"202603{day:02d}T000000Z" for day in range(1, 6)]
    for snapshot_id in ids:
        dump(snapshot_id)
    root = box_hook.ensure_folder(FOLDER)
    box_hook.ensure_folder("20260101T000000Z", root)  # someone else's snapshot folder, unknown to this DAG
    ti = RecordingTI(task_id="retention")
    ti.xcoms[("retention", LEDGER_KEY)] = {sid: {} for sid in ids[:-1]}
    ti.xcoms[("dump", "snapshot_id")] = ids[-1]
    ti.xcoms[("verify", "return_value")] = {"ok": True, "snapshot": ids[-1]}
    plan = RetentionOperator(task_id="retention", box_folder=FOLDER, keep_last=2).execute(context_for(ti))
    deleted = sorted(d["snapshot_id"] for d in plan["decisions"] if d["delete"])
    assert deleted == ids[:3]
    remaining = sorted(item.name for item in box_hook.list_folder(root))
    assert remaining == ["20260101T000000Z", *ids[3:]]
    assert set(ti.xcoms[("retention", LEDGER_KEY)]) == set(ids), "the ledger is pushed before deleting"


def test_retention_deletes_nothing_when_this_run_did_not_verify(seeded) -> None:
    box_hook = BoxHook().get_conn()
    ids = ["20260301T000000Z", "20260302T000000Z", "20260303T000000Z"]
    for snapshot_id in ids:
        dump(snapshot_id)
    ti = RecordingTI(task_id="retention")
    ti.xcoms[("retention", LEDGER_KEY)] = {sid: {} for sid in ids}
    ti.xcoms[("dump", "snapshot_id")] = ids[-1]
    ti.xcoms[("verify", "return_value")] = {"ok": False, "snapshot": ids[-1]}  # e.g. records level found rot
    plan = RetentionOperator(task_id="retention", box_folder=FOLDER, keep_last=1).execute(context_for(ti))
    assert not any(d["delete"] for d in plan["decisions"]) and plan["hold"], "a failing verify task withholds"
    del ti.xcoms[("verify", "return_value")]  # the sensor raised (e.g. a records-level digest mismatch): no report
    plan = RetentionOperator(task_id="retention", box_folder=FOLDER, keep_last=1).execute(context_for(ti))
    assert not any(d["delete"] for d in plan["decisions"]) and plan["hold"], "no passing report withholds"
    ti.xcoms[("verify", "return_value")] = {"ok": True, "snapshot": ids[0]}  # a pass about another snapshot
    plan = RetentionOperator(task_id="retention", box_folder=FOLDER, keep_last=1).execute(context_for(ti))
    assert not any(d["delete"] for d in plan["decisions"]) and plan["hold"], "a pass about another snapshot withholds"
    # A pass from the verify task is not enough: the checker's own files-level report on the snapshot decides.
    ti.xcoms[("verify", "return_value")] = {"ok": True, "snapshot": ids[-1]}
    folder = box_hook.find_item(box_hook.ensure_folder(FOLDER), ids[-1])
    segments = box_hook.find_item(box_hook.find_item(folder.id, "collections").id, "articles")
    box_hook.delete_file(next(i for i in box_hook.list_folder(segments.id) if i.name.startswith("part-")).id)
    plan = RetentionOperator(task_id="retention", box_folder=FOLDER, keep_last=1).execute(context_for(ti))
    assert not any(d["delete"] for d in plan["decisions"]) and plan["current_run_verified"] is False
    newest = next(d for d in plan["decisions"] if d["snapshot_id"] == ids[-1])
    assert newest["verified"] is False


def test_ledgers_from_prior_runs_merge_whatever_xcom_returns() -> None:
    from airflow_provider_vectorbackup.operators.retention import merge_ledgers

    assert merge_ledgers(None) == {}
    assert merge_ledgers({"a": {}}) == {"a": {}}
    merged = merge_ledgers([{"a": {"verified": False}, "b": {"verified": True}}, None, {"a": {}}])
    assert merged == {"a": {}, "b": {}}, "ledgers of earlier versions are read; their verified flag is not"
