"""The operators name their source by ``source_conn_id`` (``astra_conn_id`` still works); its type picks the engine."""

from __future__ import annotations

import dataclasses
import json
import warnings
from pathlib import Path

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException

from airflow_provider_vectorbackup.operators.dump import VectorDumpOperator
from airflow_provider_vectorbackup.operators.restore import RestoreOperator
from airflow_provider_vectorbackup.operators.scale_out import (
    PLAN_KEY, RESULT_KEY, CollectionDumpOperator, SnapshotPlanOperator,
)
from airflow_provider_vectorbackup.sources import registry
from tests.airflow_context import RecordingTI, context_for
from tests.operators.test_scale_out import MappedTI

SNAPSHOT = "20260301T120000Z"

OPERATORS = {
    "VectorDumpOperator": lambda folder, **kw: VectorDumpOperator(task_id="dump", local_folder=folder, **kw),
    "SnapshotPlanOperator": lambda folder, **kw: SnapshotPlanOperator(task_id="plan", local_folder=folder, **kw),
    "RestoreOperator": lambda folder, **kw: RestoreOperator(task_id="restore", local_folder=folder, **kw),
}


@pytest.mark.parametrize("name", OPERATORS)
def test_source_conn_id_and_its_old_name(name: str, tmp_path: Path) -> None:
    make = OPERATORS[name]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the new name, or none, warns of nothing
        assert make(str(tmp_path)).source_conn_id == "astra_default"
        assert make(str(tmp_path), source_conn_id="vectors").source_conn_id == "vectors"
    with pytest.warns(DeprecationWarning, match=f"{name}: the argument astra_conn_id is deprecated, use "
                                                 f"source_conn_id") as caught:
        assert make(str(tmp_path), astra_conn_id="old").source_conn_id == "old"
    assert [w.filename for w in caught] == [__file__], "the warning points at the DAG's line"
    with pytest.raises(ValueError, match=r"give source_conn_id \('a'\) or its deprecated old name astra_conn_id "
                                         r"\('a'\), not both"):
        make(str(tmp_path), source_conn_id="a", astra_conn_id="a")


@pytest.fixture
def qdrant_client_missing(monkeypatch: pytest.MonkeyPatch) -> str:
    """A ``qdrant`` connection, and an install without the qdrant extra (faked in the registry's entry)."""
    monkeypatch.setattr(registry, "ENGINES", tuple(
        dataclasses.replace(e, module="airflow_provider_vectorbackup.sources.qdrant.not_installed_here")
        if e.conn_type == "qdrant" else e for e in registry.ENGINES))
    monkeypatch.setenv("AIRFLOW_CONN_VECTORS", json.dumps({"conn_type": "qdrant", "extra": {"path": "/data/q"}}))
    return "vectors"


@pytest.mark.parametrize("name", OPERATORS)
def test_the_connection_type_picks_the_engine_through_the_registry(name: str, qdrant_client_missing: str,
                                                                   tmp_path: Path, monkeypatch) -> None:
    snapshot = {"snapshot_id": SNAPSHOT} if name != "RestoreOperator" else {}
    operator = OPERATORS[name](str(tmp_path / "share"), source_conn_id=qdrant_client_missing, **snapshot)
    with pytest.raises(AirflowFailException, match=r'pip install "airflow-provider-vectorbackup\[qdrant\]"'):
        operator.execute(context_for(RecordingTI(task_id=operator.task_id)))  # no retry can install it
    assert not list((tmp_path / "share").glob(f"*{SNAPSHOT}*")), "nothing was begun"

    monkeypatch.setenv("AIRFLOW_CONN_WRONG", json.dumps({"conn_type": "generic", "host": "db.example"}))
    operator = OPERATORS[name](str(tmp_path / "share"), source_conn_id="wrong", **snapshot)
    with pytest.raises(AirflowFailException) as unknown:
        operator.execute(context_for(RecordingTI(task_id=operator.task_id)))
    assert "connection type 'generic' is not a vector source" in str(unknown.value)
    assert all(f"{e.conn_type!r}" in str(unknown.value) for e in registry.ENGINES), "it names every known type"


def test_the_mapped_dumps_open_the_plans_source_also_from_a_plan_of_before_the_rename(seeded, tmp_path: Path) -> None:
    xcoms: dict = {}
    with pytest.warns(DeprecationWarning):
        plan = SnapshotPlanOperator(task_id="plan", local_folder=str(tmp_path), snapshot_id=SNAPSHOT,
                                    astra_conn_id="astra_default", keyspace="default_keyspace", scan_mode="single")
    assert "faq" in plan.execute(context_for(MappedTI(xcoms, "plan")))
    config = xcoms[("plan", PLAN_KEY, -1)]
    assert (config["source_conn_id"], config["source_options"]) == ("astra_default", {"keyspace": "default_keyspace"})
    assert "astra_conn_id" not in config and "keyspace" not in config, "one name in XCom too"

    def dump_faq() -> str:
        summary = CollectionDumpOperator(task_id="dump", collection="faq").execute(context_for(MappedTI(xcoms, "dump")))
        assert summary["status"] == "complete" and summary["documents"] == 10
        return xcoms[("dump", RESULT_KEY, -1)]["collection"]["scan"]["reason"]

    assert dump_faq() == "single scan requested", "the planned dump options reach the mapped dump"

    # A run in flight across the upgrade: the previous release's plan named the source and the dump options
    # the old way.
    renamed = ("source_conn_id", "source_options", "dump_options")
    old = {key: value for key, value in config.items() if key not in renamed}
    xcoms[("plan", PLAN_KEY, -1)] = {**old, "astra_conn_id": "astra_default", "keyspace": "default_keyspace",
                                     "tuning": config["dump_options"]}
    assert dump_faq() == "single scan requested", "the old plan's options are read too"
