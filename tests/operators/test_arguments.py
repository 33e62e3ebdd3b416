"""Operators keep their arguments as given and map them onto the jobs' options only when the task runs."""

from __future__ import annotations

import datetime as dt
import importlib
import sys
import warnings

import pytest

from airflow_provider_vectorbackup.jobs.dump import DumpOptions
from airflow_provider_vectorbackup.operators import dump as dump_module
from airflow_provider_vectorbackup.operators.dump import VectorDumpOperator
from airflow_provider_vectorbackup.operators.retention import RetentionOperator
from airflow_provider_vectorbackup.operators.scale_out import SnapshotPlanOperator
from tests.airflow_context import RecordingTI, context_for

GIVEN = dict(collections=["{{ params.collection }}", "faq"], staging_dir="{{ params.staging }}", scan_streams=8,
             scan_mode="ranges", uploads_at_once=3, max_missing_vector_fraction=0.25, segment_max_bytes=1 << 20,
             compression="none")


class Captured(Exception):
    """Stops the task once the job got its options."""


def test_the_dump_keeps_its_arguments_and_rendering_reaches_the_options(tmp_path, monkeypatch) -> None:
    operator = VectorDumpOperator(task_id="dump", local_folder=str(tmp_path), snapshot_id="20260301T120000Z",
                                  collections_at_once=1, **GIVEN)
    for name, value in GIVEN.items():
        assert getattr(operator, name) == value, f"{name} is kept exactly as given, for `airflow tasks render`"
    assert not hasattr(operator, "tuning") and not hasattr(operator, "vector_policy")

    context = {**context_for(RecordingTI(task_id="dump")), "params": {"collection": "articles",
                                                                       "staging": str(tmp_path / "staging")}}
    operator.render_template_fields(context)
    assert operator.collections == ["articles", "faq"] and operator.staging_dir == str(tmp_path / "staging")
    assert operator.scan_streams == 8 and operator.max_missing_vector_fraction == 0.25

    seen: list[DumpOptions] = []

    def dump_snapshot(astra, store, snapshot_id, options):
        seen.append(options)
        raise Captured

    monkeypatch.setattr(dump_module, "dump_snapshot", dump_snapshot)
    monkeypatch.setenv("AIRFLOW_CONN_ASTRA_DEFAULT", '{"conn_type": "astra_db", "host": "http://127.0.0.1:9", '
                                                     '"password": "token", "extra": {"keyspace": "ks"}}')
    with pytest.raises(Captured):
        operator.execute(context)
    options = seen[0]
    assert options.collections == ["articles", "faq"] and options.staging_dir == str(tmp_path / "staging")
    assert (options.scan_streams, options.scan_mode, options.uploads_at_once, options.collections_at_once) == (
        8, "ranges", 3, 1)
    assert options.vector_policy.max_missing_fraction == 0.25 and options.segment_max_bytes == 1 << 20
    assert options.compression == "none" and options.producer == {"dag_id": "vector_backup", "task_id": "dump",
                                                                 "run_id": "test"}


def test_a_templated_argument_that_renders_unusable_fails_the_task_without_retries(tmp_path) -> None:
    from airflow.providers.common.compat.sdk import AirflowFailException

    operator = VectorDumpOperator(task_id="dump", local_folder=str(tmp_path), snapshot_id="20260301T120000Z",
                                  collections="{{ params.collection }}")  # a template: only known when it runs
    operator.collections = "articles"  # what rendering produced: a string, not a list
    with pytest.raises(AirflowFailException, match="collections must be a list of collection names, not 'articles'"):
        operator.execute(context_for(RecordingTI(task_id="dump")))


def test_the_plan_and_retention_keep_their_arguments_as_given() -> None:
    plan = SnapshotPlanOperator(task_id="plan", box_folder="b", scan_streams=6, max_missing_vector_fraction=0.5)
    assert (plan.scan_streams, plan.max_missing_vector_fraction, plan.compression) == (6, 0.5, "gzip")
    assert not hasattr(plan, "tuning") and not hasattr(plan, "vector_policy")
    grace = dt.timedelta(days=2)
    retention = RetentionOperator(task_id="retention", box_folder="b", keep_last=3, keep_weekly=4,
                                  incomplete_grace=grace)
    assert (retention.keep_last, retention.keep_daily, retention.keep_weekly, retention.keep_monthly) == (3, 0, 4, 0)
    assert retention.incomplete_grace == grace and not hasattr(retention, "policy")
    assert retention.retention_policy().keep_weekly == 4


def test_bad_settings_still_fail_when_the_dag_is_parsed() -> None:
    with pytest.raises(ValueError, match="uploads_at_once must be at least 1"):
        SnapshotPlanOperator(task_id="plan", box_folder="b", uploads_at_once=0)
    with pytest.raises(ValueError, match="compression must be one of"):
        SnapshotPlanOperator(task_id="plan", box_folder="b", compression="brotli")
    with pytest.raises(ValueError, match="max_missing_fraction must be between"):
        VectorDumpOperator(task_id="dump", box_folder="b", max_missing_vector_fraction=2.0)
    with pytest.raises(ValueError, match="retention keep_last must be a whole number"):
        RetentionOperator(task_id="retention", box_folder="b", keep_last=-1)


PACKAGE = "airflow_provider_vectorbackup"


@pytest.mark.parametrize(("old_module", "name", "new_module", "new_name"), [
    (f"{PACKAGE}.exceptions", "VectorLossTaskFailure", f"{PACKAGE}.operators.failures", "VectorLossTaskFailure"),
    (f"{PACKAGE}.links", "BoxFolderLink", f"{PACKAGE}.operators.links", "BoxFolderLink"),
    (f"{PACKAGE}.upstream", "resolve_snapshot_id", f"{PACKAGE}.operators.snapshot_ids", "resolve_snapshot_id"),
    (f"{PACKAGE}.snapshot", "verify", f"{PACKAGE}.check.verify", "verify"),
    (f"{PACKAGE}.snapshot", "VerifyReport", f"{PACKAGE}.check.verify", "VerifyReport"),
    (f"{PACKAGE}.stores.box", "BoxSnapshotStore", f"{PACKAGE}.stores.box.store", "BoxStore"),
    (f"{PACKAGE}.stores.local", "LocalSnapshotStore", f"{PACKAGE}.stores.local", "LocalStore"),
])
def test_a_moved_name_still_imports_from_its_old_module_with_a_deprecation_warning(old_module, name, new_module,
                                                                                  new_name) -> None:
    old = importlib.import_module(old_module)
    with pytest.warns(DeprecationWarning, match=f"{old_module}.{name} moved to {new_module}.{new_name}"):
        found = getattr(old, name)
    assert found is getattr(importlib.import_module(new_module), new_name)
    with pytest.raises(AttributeError):
        getattr(old, "no_such_name")


def test_the_old_scale_out_module_still_imports_with_a_deprecation_warning(monkeypatch) -> None:
    from airflow_provider_vectorbackup.operators import scale_out

    monkeypatch.delitem(sys.modules, "airflow_provider_vectorbackup.operators.partitioned", raising=False)
    with pytest.warns(DeprecationWarning, match="operators.partitioned moved to .*operators.scale_out"):
        old = importlib.import_module("airflow_provider_vectorbackup.operators.partitioned")
    for name in ("SnapshotPlanOperator", "CollectionDumpOperator", "SnapshotCommitOperator", "PLAN_KEY", "RESULT_KEY"):
        assert getattr(old, name) is getattr(scale_out, name)


def test_the_exceptions_without_airflow_stay_importable_without_it() -> None:
    import subprocess

    code = ("import sys; import airflow_provider_vectorbackup.exceptions as e; e.CredentialsRejected; "
            "print(sorted(m for m in sys.modules if m == 'airflow' or m.startswith('airflow.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        from airflow_provider_vectorbackup.exceptions import CredentialsRejected  # noqa: F401  no warning
