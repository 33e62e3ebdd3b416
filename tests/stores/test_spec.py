"""StoreSpec.open: the caller says how a connection id becomes settings; nothing is read from the environment."""

from __future__ import annotations

import json
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


# --- object stores ------------------------------------------------------------------------------------------

NO_BOX = {"box_folder": None, "local_folder": None, "box_conn_id": "box_default", "box_folder_id": "0"}


def test_an_object_folder_is_an_object_store_and_round_trips_as_a_trigger_would_carry_it() -> None:
    spec = StoreSpec.from_arguments(**NO_BOX, object_folder="s3://aws_default@vector-backups/nightly",
                                    object_lock_mode="GOVERNANCE", object_lock_days=7)

    assert (spec.kind, spec.folder, spec.object_lock_mode, spec.object_lock_days) == (
        "object", "s3://aws_default@vector-backups/nightly", "governance", 7)
    assert StoreSpec(**json.loads(json.dumps(spec.to_dict()))) == spec
    assert spec.uri() == "s3://vector-backups/nightly"  # the Asset names the data, not the connection
    assert StoreSpec("object", "gs://google_cloud_default@bucket/").uri() == "gs://bucket"


def test_a_spec_serialized_before_object_stores_still_loads() -> None:
    assert StoreSpec(**{"kind": "local", "folder": "/backups", "box_conn_id": "box_default", "box_folder_id": "0"}) \
        == StoreSpec("local", "/backups")


@pytest.mark.parametrize("folders", [
    {}, {"object_folder": "s3://b/p", "local_folder": "/x"}, {"object_folder": "s3://b/p", "box_folder": "x"},
])
def test_exactly_one_of_the_three_folders(folders: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="exactly one of box_folder .*, local_folder .* and object_folder"):
        StoreSpec.from_arguments(**{**NO_BOX, **folders})


@pytest.mark.parametrize(("folder", "lock", "message"), [
    ("vector-backups", {}, "must be a URL such as s3://aws_default@my-bucket"),
    ("ftp://host/p", {}, r"ftp:// is not an object store .* s3://, s3a://, s3n://, gs://, gcs://, abfs://"),
    ("s3://aws_default@/prefix", {}, "names no bucket"),
    ("gs://gcp@bucket/p", {"object_lock_mode": "governance", "object_lock_days": 7}, "needs an s3:// object_folder"),
    ("s3://aws@b/p", {"object_lock_mode": "governance"}, "give both object_lock_mode and object_lock_days"),
    ("s3://aws@b/p", {"object_lock_days": 7}, "give both object_lock_mode and object_lock_days"),
    ("s3://aws@b/p", {"object_lock_mode": "legal-hold", "object_lock_days": 7},
     r"object_lock_mode must be one of \('governance', 'compliance'\)"),
    ("s3://aws@b/p", {"object_lock_mode": "compliance", "object_lock_days": 0}, "object_lock_days must be .* >= 1"),
    ("s3://aws@b/p", {"object_lock_mode": "compliance", "object_lock_days": True}, "object_lock_days must be"),
])
def test_object_folders_and_locks_are_checked_when_the_dag_is_parsed(folder: str, lock: dict[str, object],
                                                                       message: str) -> None:
    with pytest.raises(ValueError, match=message):
        StoreSpec.from_arguments(**NO_BOX, object_folder=folder, **lock)


def test_a_lock_on_a_box_or_local_store_is_refused() -> None:
    with pytest.raises(ValueError, match="apply to an object_folder .* only"):
        StoreSpec.from_arguments(**{**NO_BOX, "local_folder": "/x"}, object_lock_mode="governance",
                                 object_lock_days=7)
    with pytest.raises(ValueError, match="apply to an object_folder .* only"):
        StoreSpec("box", "x", object_lock_days=7)


def test_credentials_written_into_the_url_are_refused_without_repeating_them() -> None:
    with pytest.raises(ValueError, match="holds credentials before its '@'") as refused:
        StoreSpec("object", "s3://AKIAEXAMPLE:canary-secret-9f2@bucket/prefix")
    assert "canary-secret-9f2" not in str(refused.value) and "AKIAEXAMPLE" not in str(refused.value)


def test_a_templated_url_is_checked_once_rendered() -> None:
    assert StoreSpec("object", "{{ var.value.backup_url }}").kind == "object"
    assert StoreSpec("object", "{{ var.value.scheme }}://aws@b/p", object_lock_mode="governance",
                     object_lock_days=3).object_lock_days == 3


def test_opening_an_object_store_without_a_filesystem_resolver_says_what_is_missing() -> None:
    with pytest.raises(TypeError, match="needs filesystems=.*object_filesystem"):
        StoreSpec("object", "s3://aws_default@bucket/p").open(lambda conn_id: None)
