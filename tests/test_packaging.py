"""The package installs as an Airflow provider, and its format core stays free of Airflow."""

from __future__ import annotations

import ast
import importlib
import json
import os
import pkgutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

import airflow_provider_vectorbackup
from airflow_provider_vectorbackup.get_provider_info import (
    ASTRA_CONNECTION, BOX_CONNECTION, CHROMA_CONNECTION, MILVUS_CONNECTION, get_provider_info,
)
from airflow_provider_vectorbackup.sources.registry import ENGINES

PACKAGE = Path(airflow_provider_vectorbackup.__file__).parent
ROOT = PACKAGE.parent
EXAMPLE_DAGS = ROOT / "example_dags"

OUR_HOOKS = {"astra_db": "airflow_provider_vectorbackup.hooks.astra.AstraDBHook",
             "box": "airflow_provider_vectorbackup.hooks.box.BoxHook",
             "chroma": "airflow_provider_vectorbackup.hooks.chroma.ChromaHook",
             "milvus": "airflow_provider_vectorbackup.hooks.milvus.MilvusHook"}
"""The connection types this package registers; qdrant and postgres are the official providers' own."""


def test_provider_info_is_registered_through_the_entry_point() -> None:
    (entry_point,) = [ep for ep in metadata.entry_points(group="apache_airflow_provider")
                      if ep.value.startswith("airflow_provider_vectorbackup")]
    info = entry_point.load()()
    assert info == get_provider_info()
    assert info["package-name"] == "airflow-provider-vectorbackup" == metadata.metadata("airflow-provider-vectorbackup")["Name"]
    assert info["versions"] == [airflow_provider_vectorbackup.__version__]


@pytest.mark.slow
def test_airflow_providers_list_shows_the_package_and_its_connection_types(tmp_path: Path) -> None:
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
    assert ours == OUR_HOOKS



def test_every_module_imports_on_the_running_airflow() -> None:
    """A name missing from one supported Airflow (say ``airflow.sdk.exceptions.AirflowFailException`` on 3.1) fails here."""
    names = [m.name for m in pkgutil.walk_packages([str(PACKAGE)], prefix="airflow_provider_vectorbackup.")]
    assert "airflow_provider_vectorbackup.operators.dump" in names
    for name in names:
        importlib.import_module(name)


def test_every_example_dag_parses_with_no_import_error() -> None:
    try:
        from airflow.dag_processing.dagbag import DagBag  # Airflow 3.2+
    except ImportError:
        from airflow.models.dagbag import DagBag  # Airflow 3.1

    dagbag = DagBag(dag_folder=str(EXAMPLE_DAGS))  # tests/conftest.py turns Airflow's own examples off
    assert dagbag.import_errors == {}
    assert sorted(dagbag.dag_ids) == sorted(path.stem for path in EXAMPLE_DAGS.glob("*.py"))

# What the UI's connection form endpoint serves, read in a fresh process as the API server does (on
# Airflow 3.1 the hooks must first be loaded with wtforms and flask_appbuilder mocked), with every
# AirflowProviderDeprecationWarning recorded.
UI_CONNECTION_FORMS = """
import json, warnings
from airflow.exceptions import AirflowProviderDeprecationWarning
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService
    forms = {m.connection_type: m for m in HookMetaService.hook_meta_data()}
    from airflow.providers_manager import ProvidersManager
    hooks = {t: ProvidersManager().hooks[t].hook_class_name for t in ("astra_db", "box", "chroma", "milvus")}
print(json.dumps({
    "hooks": hooks,
    "extra": {t: forms[t].extra_fields for t in hooks},
    "standard": {t: forms[t].standard_fields.model_dump(exclude_none=True) for t in hooks},
    "deprecations": [str(w.message) for w in caught if issubclass(w.category, AirflowProviderDeprecationWarning)],
}, default=str))
"""


@pytest.mark.slow
def test_the_ui_shows_every_connection_form_without_deprecation_warnings(tmp_path: Path) -> None:
    """Airflow 3.2+ renders ``conn-fields``; 3.1 calls the hook methods that ``compat.connection_form`` adds."""
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    out = subprocess.run([sys.executable, "-c", UI_CONNECTION_FORMS], env=env, capture_output=True, text=True,
                         timeout=300, check=True).stdout
    ui = json.loads(next(line for line in out.splitlines() if line.startswith('{"hooks"')))
    assert ui["hooks"] == OUR_HOOKS
    assert [m for m in ui["deprecations"] if "airflow_provider_vectorbackup" in m] == []
    for declared in (ASTRA_CONNECTION, BOX_CONNECTION, CHROMA_CONNECTION, MILVUS_CONNECTION):
        extra = ui["extra"][declared["connection-type"]]
        assert extra is not None, f"no extra fields on the {declared['connection-type']} form"
        assert {name: (f["schema"]["title"], f["description"]) for name, f in extra.items()} == \
            {name: (f["label"], f["description"]) for name, f in declared["conn-fields"].items()}
    assert ui["extra"]["box"]["jwt_config"]["schema"]["format"] == "password"
    assert "enum" in ui["extra"]["astra_db"]["environment"]["schema"]
    assert ui["extra"]["astra_db"]["request_timeout_ms"]["value"] == 30000
    astra = ui["standard"]["astra_db"]
    assert astra["host"] == {"hidden": False, "title": "API endpoint",
                             "placeholder": "https://<database-id>-<region>.apps.astra.datastax.com"}
    assert astra["port"]["hidden"] and astra["url_schema"]["hidden"]
    assert ui["standard"]["box"]["host"]["hidden"]
    assert ui["standard"]["box"]["login"]["title"] == "Client ID (CCG)"
    assert ui["extra"]["chroma"]["ssl"]["schema"]["type"] == ["boolean", "null"]  # a switch, not a text box
    assert ui["extra"]["chroma"]["ssl"]["value"] is False
    chroma, milvus = ui["standard"]["chroma"], ui["standard"]["milvus"]
    assert chroma["password"]["title"] == "Auth token" and chroma["login"]["hidden"]
    assert chroma["host"]["title"] == "Server host" and chroma["url_schema"]["hidden"]
    assert (milvus["host"]["title"], milvus["password"]["title"], milvus["url_schema"]["title"]) == (
        "URI", "Token or password", "Database")
    assert milvus["port"]["hidden"] and not milvus["login"]["hidden"]



def test_hooks_define_the_deprecated_form_methods_only_where_airflow_needs_them() -> None:
    from airflow_provider_vectorbackup.hooks.compat import AIRFLOW_V_3_2_PLUS
    from airflow_provider_vectorbackup.hooks.astra import AstraDBHook
    from airflow_provider_vectorbackup.hooks.box import BoxHook
    from airflow_provider_vectorbackup.hooks.chroma import ChromaHook
    from airflow_provider_vectorbackup.hooks.milvus import MilvusHook
    from airflow_provider_vectorbackup.hooks.source import VectorSourceHook

    assert "get_connection_form_widgets" not in vars(VectorSourceHook), "no connection type of its own, no form"
    for hook in (AstraDBHook, BoxHook, ChromaHook, MilvusHook):
        assert ("get_connection_form_widgets" in vars(hook)) is not AIRFLOW_V_3_2_PLUS
        assert ("get_ui_field_behaviour" in vars(hook)) is not AIRFLOW_V_3_2_PLUS

AIRFLOW_LAYERS = ("hooks", "operators", "sensors", "triggers", "notifications")
"""The only packages that may import Airflow (docs/architecture.md); everything else runs without it."""


def _imported_names(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def test_only_the_airflow_layers_import_airflow() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] in AIRFLOW_LAYERS:
            continue
        offenders += [f"{relative}:{line} imports {name}" for line, name in _imported_names(path)
                      if name == "airflow" or name.startswith("airflow.")]
    assert offenders == [], "move the Airflow-dependent code into " + ", ".join(AIRFLOW_LAYERS)


def test_the_lower_layers_never_import_the_jobs() -> None:
    """``sources/``, ``stores/``, ``snapshot/`` and ``translation/`` sit below ``jobs/`` (docs/architecture.md), which
    builds on them."""
    jobs = "airflow_provider_vectorbackup.jobs"
    offenders = []
    for layer in ("sources", "stores", "snapshot", "translation"):
        for path in sorted((PACKAGE / layer).rglob("*.py")):
            offenders += [f"{path.relative_to(PACKAGE)}:{line} imports {name}" for line, name in _imported_names(path)
                          if name == jobs or name.startswith(jobs + ".")]
    assert offenders == []


def test_the_airflow_free_layers_load_no_airflow_module_at_runtime() -> None:
    """Statically clean is not enough: importing a layer must not pull Airflow in through another module."""
    layers = ["snapshot", "sources", "sources.astra", "stores", "stores.box", "stores.local", "stores.spec", "check",
              "translation.plan", "jobs.dump", "jobs.restore", "jobs.retention", "jobs.scale_out", "connection", "keys", "exceptions", "cli"]
    code = ("import importlib, sys\n"
            f"for name in {layers!r}:\n"
            "    importlib.import_module('airflow_provider_vectorbackup.' + name)\n"
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
                if "conn_type" in vars(cls):  # VectorSourceHook opens every type and registers none
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



ENGINE_CLIENTS = ("qdrant_client", "psycopg", "pgvector", "chromadb", "pymilvus", "milvus_lite", "pinecone", "weaviate")
"""The engines' client libraries: each comes with its source's extra, never with the base install."""
ENGINE_SOURCE_PACKAGES = tuple(engine.module.rpartition(".")[0] for engine in ENGINES if engine.extra is not None)
"""The packages that import those clients, each loaded only when a connection of its engine is opened."""


def test_the_base_package_and_the_cli_import_no_engine_client() -> None:
    """Every module but the engines' own sources, and the CLI's help, load without any engine's client library,
    in a fresh interpreter (this one has them loaded by other tests)."""
    modules = [m for m in _package_modules() if not m.startswith(ENGINE_SOURCE_PACKAGES)]
    assert "airflow_provider_vectorbackup.hooks.source" in modules and "airflow_provider_vectorbackup.cli" in modules
    code = ("import contextlib, importlib, io, sys\n"
            f"for name in {modules!r}:\n"
            "    importlib.import_module(name)\n"
            "from airflow_provider_vectorbackup.cli import main\n"
            "for command in ([], ['dump'], ['restore']):\n"
            "    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
            "        main([*command, '--help'])\n"
            f"print(sorted(m for m in sys.modules if m.partition('.')[0] in {ENGINE_CLIENTS!r}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def _constraints(leg: str) -> Path:
    """The pinned set for this Python: constraints/<leg>/py3.X.txt, or the single set it replaces."""
    version = "py%d.%d.txt" % sys.version_info[:2]
    per_leg = ROOT / "constraints" / leg / version
    return per_leg if per_leg.exists() or leg == "floor" else ROOT / "constraints" / version


@pytest.mark.slow
def test_the_built_wheel_installs_and_works_with_no_extra(tmp_path: Path) -> None:
    """Build the wheel from a copy of the tree, install it alone in a fresh venv, and use it."""
    import shutil
    import zipfile

    source = tmp_path / "source"
    shutil.copytree(PACKAGE, source / PACKAGE.name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, source / name)
    clean = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PIP_CONSTRAINT")}

    def run(*command: str | Path, **env: str) -> str:
        result = subprocess.run([str(part) for part in command], cwd=tmp_path, env={**clean, **env},
                                capture_output=True, text=True, timeout=900)
        assert result.returncode == 0, f"{command}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        return result.stdout

    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", tmp_path / "dist", source)
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        dist_info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        metadata_text = archive.read(f"{dist_info}/METADATA").decode()
        entry_points = archive.read(f"{dist_info}/entry_points.txt").decode()
    assert any(n.startswith(f"{dist_info}/") and n.rsplit("/", 1)[1] == "LICENSE" for n in names), names
    assert "Classifier: Framework :: Apache Airflow\n" in metadata_text
    assert "Classifier: Framework :: Apache Airflow :: Provider\n" in metadata_text
    assert any(line in metadata_text for line in ("License: Apache-2.0\n", "License-Expression: Apache-2.0\n"))
    assert "provider_info = airflow_provider_vectorbackup.get_provider_info:get_provider_info" in entry_points
    assert not any(n.startswith("tests/") or n.startswith("example_dags/") for n in names)

    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    bin_dir = venv / "bin"
    run(bin_dir / "python", "-m", "pip", "install", "--quiet", "--constraint", _constraints("newest"), wheel)

    airflow_home = {"AIRFLOW_HOME": str(tmp_path / "airflow-home"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    assert "usage: vectorbackup" in run(bin_dir / "vectorbackup", "--help", **airflow_home)
    listing = run(bin_dir / "airflow", "providers", "list", "--output", "json", **airflow_home)
    providers = {p["package_name"]: p for p in json.loads(next(l for l in listing.splitlines() if l.startswith("[{")))}
    assert providers["airflow-provider-vectorbackup"]["version"] == airflow_provider_vectorbackup.__version__
    modules = [name for name in _package_modules() if not name.startswith(ENGINE_SOURCE_PACKAGES)]
    imported = run(bin_dir / "python", "-c",
                   "import importlib, sys\n"
                   f"for name in {modules!r}:\n    importlib.import_module(name)\n"
                   "print(importlib.import_module('airflow_provider_vectorbackup').__file__)", **airflow_home)
    assert imported.strip().splitlines()[-1].startswith(str(venv)), imported  # the wheel's copy, not the source
    # Each engine source without its extra: the registry's error names the missing client and the pip line.
    missing = json.loads(run(bin_dir / "python", "-c", ENGINES_WITHOUT_EXTRAS, **airflow_home).strip().splitlines()[-1])
    assert sorted(missing) == sorted(engine.extra for engine in ENGINES if engine.extra)
    for extra, (module, message) in missing.items():
        assert not module.startswith("airflow_provider_vectorbackup"), f"the wheel lacks {module}"
        assert f'pip install "airflow-provider-vectorbackup[{extra}]"' in message


ENGINES_WITHOUT_EXTRAS = """
import json
from airflow_provider_vectorbackup.sources.registry import ENGINES, MissingSourceExtra
missing = {}
for engine in ENGINES:
    if engine.extra:
        try:
            engine.load()
        except MissingSourceExtra as exc:
            missing[engine.extra] = (exc.__cause__.name, str(exc))
print(json.dumps(missing))
"""
