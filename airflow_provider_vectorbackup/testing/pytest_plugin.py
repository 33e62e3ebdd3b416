"""pytest plugin (``pytest11`` entry point): fixtures that start the local stand-ins.

Installing the package makes these fixtures available to any test suite; see docs/testing.md.
"""

pytest_plugins: list[str] = [
    "airflow_provider_vectorbackup.testing.astra.fixtures",
    "airflow_provider_vectorbackup.testing.box.fixtures",
]
