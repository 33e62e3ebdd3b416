"""Verifiable, restorable backups of vector collections, as an Apache Airflow provider.

This module only carries the version: importing the package must stay cheap because
Airflow's ProvidersManager imports it while parsing DAGs.
"""

__version__ = "0.1.0"
