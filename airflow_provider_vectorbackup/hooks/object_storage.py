"""Object store URLs (``s3://<conn_id>@bucket/prefix``, ``gs://…``, ``abfs://…``) resolved through Airflow.

Airflow's ``ObjectStoragePath`` picks the filesystem the official provider registers for the scheme
(amazon, google, microsoft-azure) and builds it from the named connection, so an object store uses
the same connections as the rest of a deployment. Building it reads the connection and opens no
network connection; the filesystem connects on its first request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_vectorbackup.stores.spec import OBJECT_SCHEMES, install_hint

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

PROVIDERS = {"s3": "apache-airflow-providers-amazon with s3fs", "gcs": "apache-airflow-providers-google",
             "azure": "apache-airflow-providers-microsoft-azure"}


class MissingObjectStoreExtra(ImportError):
    """The provider or filesystem library for a URL's scheme is not installed."""


def object_filesystem(url: str) -> tuple[AbstractFileSystem, str]:
    """The fsspec filesystem of ``url``'s scheme and connection, and the path in it (``bucket/prefix``).

    :raises MissingObjectStoreExtra: the scheme's provider or filesystem library is not installed; the
        message names the extra that installs it.
    :raises ValueError: ``ObjectStoragePath`` cannot read the URL.
    """
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    scheme = url.partition("://")[0].lower()
    try:
        path = ObjectStoragePath(url)
        fs = path.fs
    except ImportError as exc:  # the provider is there, its filesystem library (s3fs, gcsfs, adlfs) is not
        raise _missing(scheme) from exc
    except ValueError as exc:
        if "No filesystem registered" in str(exc):  # Airflow's words when no installed provider serves the scheme
            raise _missing(scheme) from None
        raise ValueError(f"Airflow's ObjectStoragePath cannot read the object_folder {scheme}:// URL: "
                         f"write {scheme}://<conn_id>@<bucket>/<prefix>") from None
    return fs, path.path.rstrip("/")


def _missing(scheme: str) -> MissingObjectStoreExtra:
    extra = OBJECT_SCHEMES.get(scheme)
    if extra is None:
        return MissingObjectStoreExtra(f"no object store filesystem for {scheme}:// URLs")
    return MissingObjectStoreExtra(f"{scheme}:// URLs need {PROVIDERS[extra]}: {install_hint(scheme)}")
