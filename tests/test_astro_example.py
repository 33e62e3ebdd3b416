"""examples/astro/ is a working Astro project: its requirements resolve on the oldest Airflow we claim,
its DAGs parse, and they are the example DAGs, byte for byte.

There is no Docker here, so the image is not built: the requirements are resolved against the floor's
constraints (Astronomer Runtime 3.1 ships Airflow 3.1.x) with this source tree standing in for the
PyPI release.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ASTRO = ROOT / "examples" / "astro"
PACKAGE_NAME = "airflow-provider-vectorbackup"


def test_the_astro_dags_are_the_example_dags_unchanged() -> None:
    copies = {path.name: path.read_bytes() for path in (ASTRO / "dags").glob("*.py")}
    originals = {path.name: path.read_bytes() for path in (ROOT / "example_dags").glob("*.py")}
    assert copies.keys() == originals.keys()
    drifted = sorted(name for name in copies if copies[name] != originals[name])
    assert drifted == [], f"copy example_dags/ to examples/astro/dags/ again: {drifted}"


def test_the_image_is_astronomer_runtime_3_1() -> None:
    (base,) = [line for line in (ASTRO / "Dockerfile").read_text().splitlines() if line.startswith("FROM ")]
    assert re.fullmatch(r"FROM astrocrpublic\.azurecr\.io/runtime:3\.1-\d+", base), base


def test_env_example_defines_both_connections_with_placeholders_only() -> None:
    connections = {}
    for line in (ASTRO / ".env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            connections[name] = json.loads(value.strip("'"))
    assert {name: c["conn_type"] for name, c in connections.items()} == {
        "AIRFLOW_CONN_ASTRA_DEFAULT": "astra_db", "AIRFLOW_CONN_BOX_DEFAULT": "box"}
    secrets = [connections["AIRFLOW_CONN_ASTRA_DEFAULT"]["password"], connections["AIRFLOW_CONN_BOX_DEFAULT"]["password"]]
    assert all(re.fullmatch(r"<[a-z-]+>", secret) for secret in secrets), secrets


def test_env_example_shows_each_engine_and_store_connection_commented_out_with_placeholders_only() -> None:
    commented = {}
    for line in (ASTRO / ".env.example").read_text().splitlines():
        if line.startswith("# AIRFLOW_CONN_"):
            name, _, value = line.removeprefix("# ").partition("=")
            commented[name] = json.loads(value.strip("'"))
    assert {name: c["conn_type"] for name, c in commented.items()} == {
        "AIRFLOW_CONN_QDRANT_DEFAULT": "qdrant", "AIRFLOW_CONN_POSTGRES_DEFAULT": "postgres",
        "AIRFLOW_CONN_CHROMA_DEFAULT": "chroma", "AIRFLOW_CONN_MILVUS_DEFAULT": "milvus",
        "AIRFLOW_CONN_AWS_DEFAULT": "aws"}
    read_by_dags = {re.search(r'SOURCE_CONN_ID = "(\w+)"', path.read_text()).group(1)
                    for path in (ASTRO / "dags").glob("example_*_backup.py")}
    read_by_dags |= {match for path in (ASTRO / "dags").glob("*.py")
                     for match in re.findall(r'OBJECT_FOLDER = "\w+://(\w+)@', path.read_text())}
    assert {name.removeprefix("AIRFLOW_CONN_").lower() for name in commented} == read_by_dags
    assert all(re.fullmatch(r"<[a-z-]+>", c["password"]) for c in commented.values()), "placeholders only"


def test_the_requirements_resolve_against_the_floor_constraints(tmp_path: Path) -> None:
    constraints = ROOT / "constraints" / "floor" / ("py%d.%d.txt" % sys.version_info[:2])
    if not constraints.exists():
        pytest.skip(f"{constraints.relative_to(ROOT)} is absent: the floor leg's constraints are needed to resolve "
                    "the Astro project's requirements against Airflow 3.1")
    source = tmp_path / "source"  # a copy, so resolving builds no metadata into the working tree
    shutil.copytree(ROOT / "airflow_provider_vectorbackup", source / "airflow_provider_vectorbackup",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, source / name)
    requirements = []
    for line in (ASTRO / "requirements.txt").read_text().splitlines():
        requirement = line.split("#")[0].strip()
        if requirement.lower().startswith(PACKAGE_NAME):
            requirement = f"{requirement} @ {source.as_uri()}"
        requirements.append(requirement)
    assert any(source.as_uri() in r for r in requirements), "requirements.txt must name the provider"
    (tmp_path / "requirements.txt").write_text("\n".join(requirements) + "\n")

    report = tmp_path / "report.json"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--ignore-installed", "--report", report,
         "--constraint", constraints, "--requirement", tmp_path / "requirements.txt"],
        capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    resolved = {item["metadata"]["name"].lower(): item["metadata"]["version"]
                for item in json.loads(report.read_text())["install"]}
    pinned = dict(line.lower().split("==") for line in constraints.read_text().splitlines() if "==" in line)
    assert resolved["apache-airflow-core"] == pinned["apache-airflow-core"]
    assert PACKAGE_NAME in resolved


def test_the_astro_dags_parse_without_import_errors() -> None:
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 3.1
        from airflow.models.dagbag import DagBag

    bag = DagBag(dag_folder=str(ASTRO / "dags"))  # examples are off (tests/conftest.py)
    assert bag.import_errors == {}
    assert sorted(bag.dag_ids) == ["example_chroma_backup", "example_milvus_backup", "example_pgvector_backup",
                                   "example_qdrant_backup", "vector_backup", "vector_backup_deduplicated", "vector_backup_mapped",
                                   "vector_backup_s3",
                                   "vector_backup_sliced", "vector_migrate", "vector_restore", "vector_restore_drill",
                                   "vector_restore_sliced"]
