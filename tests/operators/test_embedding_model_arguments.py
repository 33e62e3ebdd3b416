"""``embedding_models`` on VectorDumpOperator and RestoreOperator, and ``allow_model_change``: kept as given,
rendered, and reaching the jobs' options; a malformed one fails at parse time, or when it renders."""

from __future__ import annotations

import pytest

from airflow_provider_vectorbackup.operators import dump as dump_module
from airflow_provider_vectorbackup.operators import restore as restore_module
from airflow_provider_vectorbackup.operators.dump import VectorDumpOperator
from airflow_provider_vectorbackup.operators.restore import RestoreOperator
from tests.airflow_context import RecordingTI, context_for

ASTRA = '{"conn_type": "astra_db", "host": "http://127.0.0.1:9", "password": "token", "extra": {"keyspace": "ks"}}'


class Captured(Exception):
    """Stops the task once the job got its options."""


def test_the_dump_renders_its_models_into_the_options(tmp_path, monkeypatch) -> None:
    given = {"$vector": "{{ params.model }}@{{ params.version }}"}
    operator = VectorDumpOperator(task_id="dump", local_folder=str(tmp_path), snapshot_id="20260301T120000Z",
                                  embedding_models=given)
    assert operator.embedding_models == given and "embedding_models" in operator.template_fields
    context = {**context_for(RecordingTI(task_id="dump")), "params": {"model": "text-embedding-3-small",
                                                                       "version": "2024-01"}}
    operator.render_template_fields(context)
    seen = []

    def dump_snapshot(source, store, snapshot_id, options):
        seen.append(options)
        raise Captured

    monkeypatch.setattr(dump_module, "dump_snapshot", dump_snapshot)
    monkeypatch.setenv("AIRFLOW_CONN_ASTRA_DEFAULT", ASTRA)
    with pytest.raises(Captured):
        operator.execute(context)
    assert seen[0].embedding_models == {"$vector": "text-embedding-3-small@2024-01"}


def test_the_restore_renders_its_models_and_passes_allow_model_change(tmp_path, monkeypatch) -> None:
    operator = RestoreOperator(task_id="restore", local_folder=str(tmp_path), snapshot_id="20260301T120000Z",
                               embedding_models="{{ params.model }}", allow_model_change=True)
    assert "embedding_models" in operator.template_fields
    context = {**context_for(RecordingTI(task_id="restore")), "params": {"model": "bge-m3"}}
    operator.render_template_fields(context)
    seen = []

    def restore_snapshot(store, snapshot_id, source, options):
        seen.append(options)
        raise Captured

    monkeypatch.setattr(restore_module, "restore_snapshot", restore_snapshot)
    monkeypatch.setenv("AIRFLOW_CONN_ASTRA_DEFAULT", ASTRA)
    with pytest.raises(Captured):
        operator.execute(context)
    assert seen[0].embedding_models == {"": "bge-m3"} and seen[0].allow_model_change is True


def test_a_malformed_model_fails_at_parse_time_or_when_it_renders(tmp_path) -> None:
    from airflow.providers.common.compat.sdk import AirflowFailException

    with pytest.raises(ValueError, match=r"embedding_models\['\$vector'\] must be MODEL or MODEL@VERSION"):
        VectorDumpOperator(task_id="dump", box_folder="b", embedding_models={"$vector": "m@"})
    with pytest.raises(ValueError, match=r"embedding_models\[''\] must be MODEL or MODEL@VERSION"):
        RestoreOperator(task_id="restore", box_folder="b", embedding_models="@v1")
    operator = RestoreOperator(task_id="restore", local_folder=str(tmp_path), embedding_models="{{ params.m }}")
    operator.embedding_models = "m@"  # what rendering produced
    with pytest.raises(AirflowFailException, match="must be MODEL or MODEL@VERSION"):
        operator.execute(context_for(RecordingTI(task_id="restore")))
