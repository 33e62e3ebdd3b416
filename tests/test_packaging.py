"""The package installs as an Airflow provider, and its format core stays free of Airflow."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

import airflow_provider_vectorbackup
from airflow_provider_vectorbackup.get_provider_info import get_provider_info

PACKAGE = Path(airflow_provider_vectorbackup.__file__).parent


def test_provider_info_is_registered_through_the_entry_point() -> None:
    (entry_point,) = [ep for ep in metadata.entry_points(group="apache_airflow_provider")
                      if ep.value.startswith("airflow_provider_vectorbackup")]
    info = entry_point.load()()
    assert info == get_provider_info()
    assert info["package-name"] == "airflow-provider-vectorbackup" == metadata.metadata("airflow-provider-vectorbackup")["Name"]
    assert info["versions"] == [airflow_provider_vectorbackup.__version__]


@pytest.mark.slow
def test_airflow_providers_list_shows_the_package_and_both_connection_types(tmp_path: Path) -> None:
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    out = subprocess.run([sys.executable, "-m", "airflow", "providers", "list", "--output", "json"],
                         env=env, capture_output=True, text=True, timeout=300, check=True).stdout
    listing = next(line for line in out.splitlines() if line.startswith("[{"))  # log lines may come first
    providers = {p["package_name"]: p for p in json.loads(listing)}
    assert providers["airflow-provider-vectorbackup"]["version"] == airflow_provider_vectorbackup.__version__
    out = subprocess.run([sys.executable, "-m", "airflow", "providers", "hooks", "--output", "json"],
                         env=env, capture_output=True, text=True, timeout=300, check=True).stdout
    hooks = json.loads(next(line for line in out.splitlines() if line.startswith("[{")))
    ours = {h["connection_type"]: h["class"] for h in hooks if h["package_name"] == "airflow-provider-vectorbackup"}
    assert ours == {"astra_db": "airflow_provider_vectorbackup.hooks.astra.AstraDBHook",
                    "box": "airflow_provider_vectorbackup.hooks.box.BoxHook"}


def test_the_format_core_imports_nothing_from_airflow_statically() -> None:
    offenders = []
    for path in (PACKAGE / "snapshot").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            offenders += [f"{path.name}: {n}" for n in names if n == "airflow" or n.startswith("airflow.")]
    assert offenders == []


def test_the_format_core_loads_no_airflow_module_at_runtime() -> None:
    code = ("import sys, airflow_provider_vectorbackup.snapshot as s; "
            "print(sorted(m for m in sys.modules if m == 'airflow' or m.startswith('airflow.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def _package_modules(skip_testing: bool = True) -> list[str]:
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if skip_testing and parts[1:2] == ("testing",):
            continue
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def test_provider_info_lists_every_hook_operator_sensor_trigger_notifier_and_link() -> None:
    """What Airflow shows (`airflow providers hooks/triggers/notifications/links`) is what the package has."""
    import importlib
    import inspect

    from airflow.sdk import BaseHook, BaseNotifier, BaseOperator, BaseOperatorLink, BaseSensorOperator
    from airflow.triggers.base import BaseTrigger

    found: dict[str, set[str]] = {kind: set() for kind in ("hooks", "operators", "sensors", "triggers")}
    classes: dict[str, set[str]] = {"notifications": set(), "extra-links": set(), "connection-types": set()}
    for name in _package_modules():
        module = importlib.import_module(name)
        for cls in vars(module).values():
            if not inspect.isclass(cls) or cls.__module__ != name or inspect.isabstract(cls):
                continue
            path = f"{name}.{cls.__name__}"
            if issubclass(cls, BaseSensorOperator):
                found["sensors"].add(name)
            elif issubclass(cls, BaseOperator):
                found["operators"].add(name)
            elif issubclass(cls, BaseTrigger):
                found["triggers"].add(name)
            elif issubclass(cls, BaseHook):
                found["hooks"].add(name)
                classes["connection-types"].add(path)
            elif issubclass(cls, BaseNotifier):
                classes["notifications"].add(path)
            elif issubclass(cls, BaseOperatorLink):
                classes["extra-links"].add(path)

    info = get_provider_info()
    integrations = {entry["integration-name"] for entry in info["integrations"]}
    for kind, modules in found.items():
        assert {entry["integration-name"] for entry in info[kind]} <= integrations, kind
        assert {m for entry in info[kind] for m in entry["python-modules"]} == modules, kind
    assert set(info["notifications"]) == classes["notifications"]
    assert set(info["extra-links"]) == classes["extra-links"]
    assert {c["hook-class-name"] for c in info["connection-types"]} == classes["connection-types"]

