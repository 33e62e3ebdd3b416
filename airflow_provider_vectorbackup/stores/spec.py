"""Which store a task uses, as plain data: operators build it from their arguments, triggers serialize it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from airflow_provider_vectorbackup.connection import ConnectionSettings
from airflow_provider_vectorbackup.stores.base import Store

Connections = Callable[[str], ConnectionSettings]
"""Resolves a connection id to its settings: ``hooks.connections.connection_settings`` in Airflow and the CLI."""

KINDS = ("box", "local")


@dataclass(frozen=True)
class StoreSpec:
    """``kind="box"``: ``folder`` is a Box path below ``box_folder_id``; ``kind="local"``: a local or mounted path."""

    kind: str
    folder: str
    box_conn_id: str = "box_default"
    box_folder_id: str = "0"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"store kind must be one of {KINDS}, not {self.kind!r}")

    @classmethod
    def from_arguments(cls, *, box_folder: str | None, local_folder: str | None, box_conn_id: str,
                       box_folder_id: str) -> StoreSpec:
        """What an operator's ``box_folder`` / ``local_folder`` arguments mean; exactly one must be given."""
        if bool(box_folder) == bool(local_folder):
            raise ValueError("give exactly one of box_folder (snapshots in Box) and local_folder (snapshots in a "
                             "local or mounted folder)")
        if local_folder:
            return cls("local", local_folder)
        return cls("box", box_folder, box_conn_id, box_folder_id)

    def open(self, connections: Connections, *, create: bool = False) -> Store:
        """The store; with ``create`` its folder is made if missing, else a missing Box folder is an error.

        :param connections: looks up ``box_conn_id`` (not called for a local store).
        """
        if self.kind == "local":
            from airflow_provider_vectorbackup.stores.local import LocalStore

            return LocalStore(self.folder)
        from airflow_provider_vectorbackup.stores.box.client import BoxApi
        from airflow_provider_vectorbackup.stores.box.store import BoxStore

        api = BoxApi.from_connection(connections(self.box_conn_id))
        return BoxStore.at_path(api, self.folder, self.box_folder_id, create=create)

    def uri(self) -> str:
        """For Assets: ``box://<folder>`` or ``file://<absolute path>``."""
        if self.kind == "local":
            return f"file://{self.folder if self.folder.startswith('/') else '/' + self.folder}"
        return f"box://{self.folder.strip('/')}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class StoreArguments:
    """The store arguments shared by the operators and the sensor: ``box_folder`` or ``local_folder``.

    Validated when the DAG is parsed (exactly one must be given); resolved to a :class:`StoreSpec`
    when the task runs, after templating.
    """

    box_folder: str | None
    local_folder: str | None
    box_conn_id: str
    box_folder_id: str

    def _set_store(self, box_folder: str | None, local_folder: str | None, box_conn_id: str,
                   box_folder_id: str) -> StoreSpec:
        self.box_folder, self.local_folder = box_folder, local_folder
        self.box_conn_id, self.box_folder_id = box_conn_id, box_folder_id
        return self.store_spec()

    def store_spec(self) -> StoreSpec:
        return StoreSpec.from_arguments(box_folder=self.box_folder, local_folder=self.local_folder,
                                        box_conn_id=self.box_conn_id, box_folder_id=self.box_folder_id)
