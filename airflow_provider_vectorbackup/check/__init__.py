"""The one checker: verification of snapshots, in a folder or in any store, at the levels ``files`` and ``records``.

Plain Python with no Airflow imports. The sensor, the CLI, restore, retention and the scale-out
commit all verify through it, so a bad file is reported the same way wherever it is found.
"""

from airflow_provider_vectorbackup.check.stored import check_stored, download_and_verify
from airflow_provider_vectorbackup.check.verify import LEVELS, Problem, VerifyReport, level_named, verify

__all__ = ["LEVELS", "Problem", "VerifyReport", "check_stored", "download_and_verify", "level_named", "verify"]
