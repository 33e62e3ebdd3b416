"""docs/restore.md, "If Airflow itself is down": the runbook's script restores with no metadata database."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from airflow_provider_vectorbackup.hooks.astra import AstraDBHook
from tests.airflow_context import RecordingTI, context_for

DOC = Path(__file__).resolve().parents[2] / "docs" / "restore.md"


def runbook_script() -> str:
    text = DOC.read_text()
    return re.search(r"python - <<'EOF'\n(.*?)\nEOF", text, re.S).group(1)


def test_the_runbook_restores_from_box_without_airflow(seeded, tmp_path: Path) -> None:
    from airflow_provider_vectorbackup.operators.dump import VectorDumpOperator

    astra, _ = seeded
    VectorDumpOperator(task_id="dump", box_folder="vector-backups", snapshot_id="20260301T000000Z",
                       collections=["articles", "products"]).execute(context_for(RecordingTI(task_id="dump")))
    script = runbook_script().replace("/tmp/restore", str(tmp_path / "restore"))
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path / "no-airflow-here")}  # no airflow.db: nothing to read
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "articles 120 inserted, 0 already present, 0 failed" in result.stdout
    assert not (tmp_path / "no-airflow-here" / "airflow.db").exists()
    assert AstraDBHook().get_conn().count_documents("restored_products").count == 40
