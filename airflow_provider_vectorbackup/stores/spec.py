"""Which store a task uses, as plain data: operators build it from their arguments, triggers serialize it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_vectorbackup.connection import ConnectionSettings
from airflow_provider_vectorbackup.stores.base import Store
from airflow_provider_vectorbackup.stores.object.lock import MODES

Connections = Callable[[str], ConnectionSettings]
"""Resolves a connection id to its settings: ``hooks.connections.connection_settings`` in Airflow and the CLI."""

Filesystems = Callable[[str], tuple[Any, str]]
"""Resolves an object store URL to an fsspec filesystem and the path in it: ``hooks.object_storage.object_filesystem``
in Airflow and the CLI. Injected because this layer never imports Airflow, whose ``ObjectStoragePath`` does it."""

KINDS = ("box", "local", "object")

OBJECT_SCHEMES = {"s3": "s3", "s3a": "s3", "s3n": "s3", "gs": "gcs", "gcs": "gcs",
                  "abfs": "azure", "abfss": "azure", "adl": "azure"}
"""The URL schemes an object store takes (those the Airflow providers register for ``ObjectStoragePath``), each
with the extra of this package that installs its provider and filesystem."""

def install_hint(scheme: str) -> str:
    """The pip command that installs what ``scheme://`` URLs need."""
    return f'pip install "airflow-provider-vectorbackup[{OBJECT_SCHEMES[scheme.lower()]}]"'


@dataclass(frozen=True)
class StoreSpec:
    """``kind="box"``: ``folder`` is a Box path below ``box_folder_id``; ``kind="local"``: a local or mounted path;
    ``kind="object"``: ``folder`` is an ``ObjectStoragePath`` URL, ``s3://<conn_id>@bucket/prefix``, optionally with
    S3 Object Lock (``object_lock_mode`` and ``object_lock_days``) on every object written."""

    kind: str
    folder: str
    box_conn_id: str = "box_default"
    box_folder_id: str = "0"
    object_lock_mode: str | None = None
    object_lock_days: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"store kind must be one of {KINDS}, not {self.kind!r}")
        if self.kind == "object":
            if "{{" not in self.folder:  # a templated URL is checked once rendered, when the task runs
                _check_object_url(self.folder)
        elif self.object_lock_mode is not None or self.object_lock_days is not None:
            raise ValueError("object_lock_mode and object_lock_days apply to an object_folder (S3 Object Lock) only")
        self._check_lock()

    def _check_lock(self) -> None:
        mode, days = self.object_lock_mode, self.object_lock_days
        if (mode is None) != (days is None):
            raise ValueError("give both object_lock_mode and object_lock_days, or neither: a lock needs a mode and "
                             "a retention period")
        if mode is None:
            return
        if not isinstance(mode, str) or mode.lower() not in MODES:
            raise ValueError(f"object_lock_mode must be one of {MODES}, not {mode!r}")
        object.__setattr__(self, "object_lock_mode", mode.lower())
        if isinstance(days, bool) or not isinstance(days, int) or days < 1:
            raise ValueError(f"object_lock_days must be a whole number of days >= 1, not {days!r}")
        scheme = self.folder.partition("://")[0].lower()
        if "{{" not in scheme and OBJECT_SCHEMES.get(scheme) != "s3":
            raise ValueError(f"object lock is S3 Object Lock: it needs an s3:// object_folder, not {scheme}://")

    @classmethod
    def from_arguments(cls, *, box_folder: str | None, local_folder: str | None, box_conn_id: str,
                       box_folder_id: str, object_folder: str | None = None, object_lock_mode: str | None = None,
                       object_lock_days: int | None = None) -> StoreSpec:
        """What an operator's ``box_folder`` / ``local_folder`` / ``object_folder`` arguments mean; exactly one must
        be given, and the object lock arguments go with ``object_folder`` only."""
        if sum(bool(folder) for folder in (box_folder, local_folder, object_folder)) != 1:
            raise ValueError("give exactly one of box_folder (snapshots in Box), local_folder (snapshots in a "
                             "local or mounted folder) and object_folder (snapshots in S3, GCS or Azure storage, "
                             "e.g. s3://aws_default@my-bucket/vector-backups)")
        if object_folder:
            return cls("object", object_folder, object_lock_mode=object_lock_mode, object_lock_days=object_lock_days)
        if object_lock_mode is not None or object_lock_days is not None:
            raise ValueError("object_lock_mode and object_lock_days apply to an object_folder (S3 Object Lock) only")
        if local_folder:
            return cls("local", local_folder)
        return cls("box", box_folder, box_conn_id, box_folder_id)

    def open(self, connections: Connections, *, create: bool = False,
             filesystems: Filesystems | None = None) -> Store:
        """The store; with ``create`` its folder is made if missing, else a missing Box folder is an error.

        :param connections: looks up ``box_conn_id`` (not called for a local or object store).
        :param filesystems: resolves an object store's URL (needed for ``kind="object"`` only).
        """
        if self.kind == "local":
            from airflow_provider_vectorbackup.stores.local import LocalStore

            return LocalStore(self.folder)
        if self.kind == "object":
            return self._open_object(filesystems)
        from airflow_provider_vectorbackup.stores.box.client import BoxApi
        from airflow_provider_vectorbackup.stores.box.store import BoxStore

        api = BoxApi.from_connection(connections(self.box_conn_id))
        return BoxStore.at_path(api, self.folder, self.box_folder_id, create=create)

    def _open_object(self, filesystems: Filesystems | None) -> Store:
        if filesystems is None:
            raise TypeError("opening an object store needs filesystems=, the resolver of its URL "
                            "(hooks.object_storage.object_filesystem)")
        from airflow_provider_vectorbackup.stores.object.lock import ObjectLock
        from airflow_provider_vectorbackup.stores.object.store import ObjectStore

        fs, root = filesystems(self.folder)
        lock = ObjectLock(self.object_lock_mode, self.object_lock_days) if self.object_lock_mode else None
        return ObjectStore(fs, root, url=self.folder, lock=lock)

    def uri(self) -> str:
        """For Assets: ``box://<folder>``, ``file://<absolute path>`` or the object URL without its connection id
        (``s3://bucket/prefix``): the Asset names the data, not the credentials that reach it."""
        if self.kind == "local":
            return f"file://{self.folder if self.folder.startswith('/') else '/' + self.folder}"
        if self.kind == "object":
            parts = urlsplit(self.folder)
            return f"{parts.scheme.lower()}://{parts.netloc.rpartition('@')[2]}{parts.path}".rstrip("/")
        return f"box://{self.folder.strip('/')}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check_object_url(url: str) -> None:
    """An object store URL that ``ObjectStoragePath`` reads as ``<scheme>://[<conn_id>@]<bucket>[/<prefix>]``.

    Messages name the URL's parts, never the URL: a mistaken ``key:secret@`` in it must not reach a log.
    """
    scheme, sep, rest = url.partition("://")
    if not sep or not scheme:
        raise ValueError("object_folder must be a URL such as s3://aws_default@my-bucket/vector-backups "
                         "(<scheme>://<conn_id>@<bucket>/<prefix>)")
    if scheme.lower() not in OBJECT_SCHEMES:
        raise ValueError(f"object_folder scheme {scheme}:// is not an object store this package writes to: use one "
                         f"of {', '.join(s + '://' for s in OBJECT_SCHEMES)}")
    userinfo, _, bucket = rest.partition("/")[0].rpartition("@")
    if ":" in userinfo:
        raise ValueError("object_folder holds credentials before its '@': put only an Airflow connection id there "
                         "(s3://aws_default@bucket/prefix) and keep the keys in that connection")
    if not bucket:
        raise ValueError(f"object_folder names no bucket: write {scheme}://<conn_id>@<bucket>/<prefix>")


class StoreArguments:
    """The store arguments shared by the operators and the sensor: ``box_folder``, ``local_folder`` or
    ``object_folder`` (with, where snapshots are written, ``object_lock_mode`` and ``object_lock_days``).

    Validated when the DAG is parsed (exactly one must be given); resolved to a :class:`StoreSpec`
    when the task runs, after templating.
    """

    box_folder: str | None
    local_folder: str | None
    object_folder: str | None
    box_conn_id: str
    box_folder_id: str
    object_lock_mode: str | None
    object_lock_days: int | None

    def _set_store(self, box_folder: str | None, local_folder: str | None, box_conn_id: str,
                   box_folder_id: str, object_folder: str | None = None, object_lock_mode: str | None = None,
                   object_lock_days: int | None = None) -> StoreSpec:
        self.box_folder, self.local_folder, self.object_folder = box_folder, local_folder, object_folder
        self.box_conn_id, self.box_folder_id = box_conn_id, box_folder_id
        self.object_lock_mode, self.object_lock_days = object_lock_mode, object_lock_days
        return self.store_spec()

    def store_spec(self) -> StoreSpec:
        return StoreSpec.from_arguments(box_folder=self.box_folder, local_folder=self.local_folder,
                                        box_conn_id=self.box_conn_id, box_folder_id=self.box_folder_id,
                                        object_folder=self.object_folder, object_lock_mode=self.object_lock_mode,
                                        object_lock_days=self.object_lock_days)
