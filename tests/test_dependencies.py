"""Every third-party module the project imports is declared, in the right place (deptry).

Airflow brings many packages along (msgspec, cryptography, starlette, ...), so an undeclared import
works today and breaks on the Airflow release that drops it. deptry compares the imports with
pyproject.toml, using the metadata of the environment it runs in: this test runs it with the running
interpreter, so each `make test` leg checks its own Airflow.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _deptry(*options: str) -> None:
    result = subprocess.run([sys.executable, "-m", "deptry", ".", "--no-ansi", *options], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    findings = [line for line in (result.stdout + result.stderr).splitlines() if " DEP0" in line]
    assert result.returncode == 0, f"deptry {' '.join(options)} found:\n" + "\n".join(findings or [result.stderr])


def test_the_package_example_dags_and_scripts_import_only_declared_packages() -> None:
    """The configuration in pyproject.toml: dependencies plus the testing extra, none unused."""
    _deptry()


def test_code_outside_the_stand_ins_needs_only_the_runtime_dependencies() -> None:
    """`pip install airflow-provider-vectorbackup` with no extra must run everything but testing/,
    and every runtime dependency must be used there (or it belongs in the testing extra)."""
    _deptry("--extend-exclude", "benchmarks", "--extend-exclude", "airflow_provider_vectorbackup/testing/",
            "--optional-dependencies-dev-groups", "testing,test,bench")


def test_the_tests_and_benchmarks_import_only_declared_packages() -> None:
    """tests/ and benchmarks/ may use the test and bench extras (DEP004 is their point), but nothing
    that only arrives through another package; their sibling modules are first party."""
    local = sorted({path.stem for folder in ("tests", "benchmarks") for path in (ROOT / folder).rglob("*.py")})
    first_party = [option for name in ["airflow_provider_vectorbackup", "tests", *local] for option in ("-kf", name)]
    _deptry("--exclude", r"\.venv|\.git|airflow_provider_vectorbackup/|example_dags/|scripts/", *first_party,
            "--ignore", "DEP002,DEP004")

