"""StoreSpec.open: the caller says how a connection id becomes settings; nothing is read from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_vectorbackup.connection import ConnectionSettings
from airflow_provider_vectorbackup.snapshot.errors import SnapshotStateError
from airflow_provider_vectorbackup.stores.box.store import BoxStore
from airflow_provider_vectorbackup.stores.local import LocalStore
from airflow_provider_vectorbackup.stores.spec import StoreSpec
from airflow_provider_vectorbackup.testing.box import BoxStandIn


def test_a_box_store_opens_through_the_given_lookup_alone(box_stand_in: BoxStandIn,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_MY_BOX", raising=False)  # no Airflow connection of that id anywhere
    asked: list[str] = []

    def connections(conn_id: str) -> ConnectionSettings:
        asked.append(conn_id)
        return ConnectionSettings(
            conn_id, "box", login=box_stand_in.client_id, password=box_stand_in.client_secret,
            extra={"enterprise_id": box_stand_in.enterprise_id, "base_url": box_stand_in.url,
                   "upload_url": box_stand_in.upload_url, "oauth2_url": box_stand_in.oauth2_url,
                   "max_uploads_per_minute": 0, "max_requests_per_minute": 0})

    spec = StoreSpec("box", "team/backups", box_conn_id="my_box")
    with pytest.raises(SnapshotStateError, match="Box has no folder 'team/backups'"):
        spec.open(connections)
    store = spec.open(connections, create=True)

    assert isinstance(store, BoxStore) and store.api.conn_id == "my_box" and asked == ["my_box", "my_box"]
    assert store.snapshots() == [] and [row["path"] for row in box_stand_in.tree()] == ["/team", "/team/backups"]


def test_a_local_store_needs_no_connection(tmp_path: Path) -> None:
    def connections(conn_id: str) -> ConnectionSettings:
        raise AssertionError(f"a local store looked up connection {conn_id!r}")

    store = StoreSpec("local", str(tmp_path / "share")).open(connections, create=True)
    assert isinstance(store, LocalStore) and store.root == tmp_path / "share"
