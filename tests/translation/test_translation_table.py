"""docs/restore.md's translation table is what the plans compute from the engines' capabilities."""

from __future__ import annotations

import re
from pathlib import Path

from airflow_provider_vectorbackup.sources.registry import ENGINES
from tests.translation.matrix import predicted_table

RESTORE_DOC = Path(__file__).resolve().parents[2] / "docs" / "restore.md"


def test_the_documented_table_is_the_one_the_plans_compute() -> None:
    capabilities = {engine.kind: engine.load().capabilities for engine in ENGINES}
    found = re.search(r"<!-- translation-table:start -->\n(.*?)\n?<!-- translation-table:end -->",
                      RESTORE_DOC.read_text(), re.S)
    assert found, "docs/restore.md lost its translation-table markers"
    expected = predicted_table(capabilities)
    assert found.group(1).strip() == expected, f"paste this table between the markers:\n{expected}"
