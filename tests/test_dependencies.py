"""Every third-party module the project imports is declared, in the right place (deptry).

Airflow brings many packages along (msgspec, cryptography, starlette, ...), so an undeclared import
works today and breaks on the Airflow release that drops it. deptry compares the imports with
pyproject.toml, using the metadata of the environment it runs in: this test runs it with the running
interpreter, so each `make test` leg checks its own Airflow.
"""

from __future__ import annotations

import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from airflow_provider_vectorbackup.sources.registry import ENGINES

ROOT = Path(__file__).resolve().parents[1]


def _deptry(*options: str) -> None:
    result = subprocess.run([sys.executable, "-m", "deptry", ".", "--no-ansi", *options], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    findings = [line for line in (result.stdout + result.stderr).splitlines() if " DEP0" in line]
    assert result.returncode == 0, f"deptry {' '.join(options)} found:\n" + "\n".join(findings or [result.stderr])


def test_the_package_example_dags_and_scripts_import_only_declared_packages() -> None:
    """The configuration in pyproject.toml: dependencies plus the testing extra, none unused."""
    _deptry()


def test_code_outside_the_stand_ins_and_engine_sources_needs_only_the_runtime_dependencies() -> None:
    """`pip install airflow-provider-vectorbackup` with no extra must run everything but testing/ and
    the engine sources (each needs its own extra), and every runtime dependency must be used there.
    Counting the engine extras as development only, an engine client imported anywhere else fails."""
    engine_sources = [option for engine in ENGINES if engine.extra
                      for option in ("--extend-exclude", engine.module.rpartition(".")[0].replace(".", "/") + "/")]
    engine_extras = [engine.extra for engine in ENGINES if engine.extra]
    _deptry("--extend-exclude", "airflow_provider_vectorbackup/testing/", *engine_sources,
            "--optional-dependencies-dev-groups", ",".join(["testing", "test", "bench", *engine_extras]))


def test_every_engine_extra_is_declared_and_the_test_extra_installs_it() -> None:
    """The registry's "not installed" error names `pip install airflow-provider-vectorbackup[<extra>]`:
    that extra must exist, and `make test` must install it so the engine's tests run."""
    installed = metadata.metadata("airflow-provider-vectorbackup")
    declared = set(installed.get_all("Provides-Extra") or [])
    test_brings = {extra.strip() for requirement in installed.get_all("Requires-Dist") or []
                   if requirement.startswith("airflow-provider-vectorbackup[") and "extra == \"test\"" in requirement
                   for extra in requirement.split("[", 1)[1].split("]", 1)[0].split(",")}
    engine_extras = {engine.extra for engine in ENGINES if engine.extra}
    assert engine_extras <= declared, f"declare in pyproject.toml: {sorted(engine_extras - declared)}"
    assert engine_extras <= test_brings, f"add to the test extra: {sorted(engine_extras - test_brings)}"


def test_the_tests_and_benchmarks_import_only_declared_packages() -> None:
    """tests/ and benchmarks/ may use the test and bench extras (DEP004 is their point), but nothing
    that only arrives through another package; their sibling modules are first party, except where a
    module is named after a declared package (benchmarks/engines/pgvector.py imports pgvector-python)."""
    declared = {re.split(r"[^A-Za-z0-9._-]", requirement, maxsplit=1)[0].lower().replace("-", "_").replace(".", "_")
                for requirement in metadata.requires("airflow-provider-vectorbackup") or []}
    local = sorted({path.stem for folder in ("tests", "benchmarks") for path in (ROOT / folder).rglob("*.py")} - declared)
    first_party = [option for name in ["airflow_provider_vectorbackup", "tests", *local] for option in ("-kf", name)]
    _deptry("--exclude", r"\.venv|\.git|airflow_provider_vectorbackup/|example_dags/|scripts/", *first_party,
            "--ignore", "DEP002,DEP004")

