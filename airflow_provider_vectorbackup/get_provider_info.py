"""Provider metadata read by Airflow's ProvidersManager through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

from typing import Any

from airflow_provider_vectorbackup import __version__


def get_provider_info() -> dict[str, Any]:
    return {
        # Must equal the distribution name, or the ProvidersManager refuses every provider.
        "package-name": "airflow-provider-vectorbackup",
        "name": "Vector Backup",
        "description": "Full-fidelity, verifiable backups of vector collections (Astra DB) to Box.",
        "versions": [__version__],
    }
