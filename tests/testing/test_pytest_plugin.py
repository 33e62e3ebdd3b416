"""The ``vectorbackup`` pytest plugin costs a user's test session nothing until a fixture is used.

Installing the provider loads the plugin into every pytest session on the machine, so these run
pytest in a subprocess on a throwaway test file, with the plugin loaded through its entry point
exactly as a user's session loads it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

# What the stand-ins pull in: their web server stack, the SDKs, Airflow, and the stand-ins themselves.
HEAVY = ("starlette", "uvicorn", "python_multipart", "jwt", "httpx", "astrapy", "box_sdk_gen", "airflow", "weaviate",
         "grpc", "airflow_provider_vectorbackup.testing.astra", "airflow_provider_vectorbackup.testing.box",
         "airflow_provider_vectorbackup.testing.weaviate", "airflow_provider_vectorbackup.testing.server")

PROBE = f"""
import json, sys

def test_probe(pytestconfig):
    heavy = {HEAVY!r}
    loaded = sorted(m for m in sys.modules if any(m == h or m.startswith(h + ".") for h in heavy))
    print("PROBE " + json.dumps({{"plugin": pytestconfig.pluginmanager.hasplugin("vectorbackup"), "loaded": loaded}}))
"""


def _pytest(folder: Path, *files: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "PYTEST_DISABLE_PLUGIN_AUTOLOAD"}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", *files],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=300)


def test_a_session_that_uses_no_fixture_imports_nothing_heavy(tmp_path: Path) -> None:
    (tmp_path / "test_probe.py").write_text(PROBE)
    result = _pytest(tmp_path, "test_probe.py")
    assert result.returncode == 0, result.stdout + result.stderr
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("PROBE ")]
    assert json.loads(line.removeprefix("PROBE ")) == {"plugin": True, "loaded": []}


def test_a_fixture_without_the_testing_extra_names_the_extra(tmp_path: Path) -> None:
    # A conftest that makes the testing extra's packages unimportable, as on a machine without it.
    (tmp_path / "conftest.py").write_text(
        "import sys\nfor name in ('starlette', 'uvicorn', 'python_multipart', 'jwt'):\n"
        "    sys.modules[name] = None\n")
    (tmp_path / "test_uses_fixtures.py").write_text(
        "def test_astra(astra_stand_in):\n    pass\n\n\ndef test_box(box_connection):\n    pass\n")
    result = _pytest(tmp_path, "test_uses_fixtures.py")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "2 errors" in result.stdout, result.stdout
    message = 'the testing extra: pip install "airflow-provider-vectorbackup[testing]"'
    assert result.stdout.count(message) >= 2, result.stdout


def test_the_weaviate_fixture_without_the_weaviate_extra_names_the_extra(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text("import sys\nfor name in ('weaviate', 'grpc'):\n    sys.modules[name] = None\n")
    (tmp_path / "test_uses_fixture.py").write_text("def test_weaviate(weaviate_stand_in):\n    pass\n")
    result = _pytest(tmp_path, "test_uses_fixture.py")
    assert result.returncode == 1, result.stdout + result.stderr
    assert 'the weaviate extra: pip install "airflow-provider-vectorbackup[weaviate,testing]"' in result.stdout, \
        result.stdout


def test_the_fixtures_still_start_the_stand_ins(tmp_path: Path) -> None:
    (tmp_path / "test_uses_fixtures.py").write_text(
        "import os\n\n"
        "def test_both(astra_connection, astra_stand_in, box_connection, box_stand_in, box_client):\n"
        "    assert astra_connection == 'astra_default' and box_connection == 'box_default'\n"
        "    assert astra_stand_in.url in os.environ['AIRFLOW_CONN_ASTRA_DEFAULT']\n"
        "    assert box_client.folders.get_folder_items('0').total_count == 0\n")
    result = _pytest(tmp_path, "test_uses_fixtures.py")
    assert result.returncode == 0, result.stdout + result.stderr
