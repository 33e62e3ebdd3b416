"""Folders: get, list (offset and marker), create, name rules, rename/move, delete."""

from __future__ import annotations

import pytest
import requests
from box_sdk_gen import BoxAPIError, BoxClient, CreateFolderParent, UpdateFileByIdParent, UpdateFolderByIdParent

from airflow_provider_vectorbackup.testing.box import BoxStandIn

from box_helpers import api_error, make_folder, upload


def test_create_and_get_folder(box_client: BoxClient) -> None:
    backups = box_client.folders.create_folder("backups", CreateFolderParent(id="0"))
    nested = box_client.folders.create_folder("2026-11", CreateFolderParent(id=backups.id))
    got = box_client.folders.get_folder_by_id(nested.id)
    assert (got.type, got.name, got.parent.id) == ("folder", "2026-11", backups.id)
    assert [entry.name for entry in got.path_collection.entries] == ["All Files", "backups"]
    root = box_client.folders.get_folder_by_id("0")
    assert [entry.name for entry in root.item_collection.entries] == ["backups"]


def test_get_missing_folder_is_404(box_client: BoxClient) -> None:
    with pytest.raises(BoxAPIError) as excinfo:
        box_client.folders.get_folder_by_id("999999")
    api_error(excinfo, 404, "not_found")


def test_create_folder_conflict_lists_conflicts(box_client: BoxClient) -> None:
    existing = make_folder(box_client, "Backups")
    with pytest.raises(BoxAPIError) as excinfo:
        box_client.folders.create_folder("BACKUPS", CreateFolderParent(id="0"))
    conflicts = api_error(excinfo, 409, "item_name_in_use").response_info.context_info["conflicts"]
    assert isinstance(conflicts, list)
    assert [(c["type"], c["id"], c["name"]) for c in conflicts] == [("folder", existing, "Backups")]


def test_names_are_unique_across_files_and_folders(box_client: BoxClient) -> None:
    upload(box_client, "report.bin", b"x")
    with pytest.raises(BoxAPIError) as excinfo:
        box_client.folders.create_folder("Report.BIN", CreateFolderParent(id="0"))
    conflict = api_error(excinfo, 409, "item_name_in_use").response_info.context_info["conflicts"][0]
    assert conflict["type"] == "file" and conflict["sha1"]


@pytest.mark.parametrize(("name", "code"), [
    ("a" * 256, "item_name_too_long"),
    ("a/b", "item_name_invalid"),
    ("a\\b", "item_name_invalid"),
    ("tab\there", "item_name_invalid"),
    ("del\x7f", "item_name_invalid"),
    (" leading", "item_name_invalid"),
    ("trailing ", "item_name_invalid"),
    (".", "item_name_invalid"),
    ("..", "item_name_invalid"),
    ("", "item_name_invalid"),
])
def test_invalid_names_are_refused(box_client: BoxClient, name: str, code: str) -> None:
    with pytest.raises(BoxAPIError) as excinfo:
        box_client.folders.create_folder(name, CreateFolderParent(id="0"))
    api_error(excinfo, 400, code)


def test_longest_valid_name_is_accepted(box_client: BoxClient) -> None:
    assert box_client.folders.create_folder("ü" * 255, CreateFolderParent(id="0")).name == "ü" * 255


def test_offset_paging(box_client: BoxClient) -> None:
    parent = make_folder(box_client, "p")
    for name in ("b", "a"):
        upload(box_client, f"{name}.bin", name.encode(), parent)
    make_folder(box_client, "z", parent)
    first = box_client.folders.get_folder_items(parent, limit=2, offset=0)
    second = box_client.folders.get_folder_items(parent, limit=2, offset=2)
    assert (first.total_count, first.offset, first.limit) == (3, 0, 2)
    # Folders first, then files, by name.
    assert [e.name for e in first.entries] + [e.name for e in second.entries] == ["z", "a.bin", "b.bin"]
    assert [e.type for e in first.entries] == ["folder", "file"]
    assert first.entries[1].sha_1 == "86f7e437faa5a7fce15d1ddcb9eaeaea377667b8"


def test_offset_beyond_10000_is_refused(box_client: BoxClient) -> None:
    with pytest.raises(BoxAPIError) as excinfo:
        box_client.folders.get_folder_items("0", offset=10001)
    api_error(excinfo, 400, "bad_request")


def test_marker_paging_visits_every_item_once(box_stand_in: BoxStandIn, box_client: BoxClient) -> None:
    parent = make_folder(box_client, "many")
    names = {f"item-{n:02}" for n in range(25)}
    for name in sorted(names):
        make_folder(box_client, name, parent)
    seen, marker, pages = [], None, 0
    while True:
        page = box_client.folders.get_folder_items(parent, usemarker=True, marker=marker, limit=10)
        assert page.total_count is None and page.limit == 10
        seen += [entry.name for entry in page.entries]
        pages += 1
        marker = page.next_marker
        if not marker:
            break
    assert pages == 3 and len(seen) == 25 and set(seen) == names
    assert box_stand_in.request_counts["list_folder_items"] == 3


def test_bad_marker_is_refused(box_client: BoxClient) -> None:
    with pytest.raises(BoxAPIError) as excinfo:
        box_client.folders.get_folder_items("0", usemarker=True, marker="garbage")
    api_error(excinfo, 400, "invalid_marker")


def test_limit_is_capped_at_1000(box_client: BoxClient) -> None:
    assert box_client.folders.get_folder_items("0", limit=5000).limit == 1000


def test_fields_selects_what_is_returned(box_client: BoxClient) -> None:
    upload(box_client, "f.bin", b"abc")
    entry = box_client.folders.get_folder_items("0", fields=["size", "sha1"]).entries[0]
    assert (entry.type, entry.size, entry.sha_1, entry.name) == ("file", 3, "a9993e364706816aba3e25717850c26c9cd0d89d", None)


def test_delete_non_empty_folder_needs_recursive(box_stand_in: BoxStandIn, box_client: BoxClient) -> None:
    parent = make_folder(box_client, "full")
    upload(box_client, "x.bin", b"x", make_folder(box_client, "sub", parent))
    with pytest.raises(BoxAPIError) as excinfo:
        box_client.folders.delete_folder_by_id(parent)
    api_error(excinfo, 400, "folder_not_empty")
    box_client.folders.delete_folder_by_id(parent, recursive=True)  # sent as "True"
    assert box_stand_in.tree() == []
    assert not list((box_stand_in.store.blobs).iterdir())


def test_delete_empty_folder(box_client: BoxClient) -> None:
    folder = make_folder(box_client, "empty")
    box_client.folders.delete_folder_by_id(folder)
    with pytest.raises(BoxAPIError) as excinfo:
        box_client.folders.get_folder_by_id(folder)
    api_error(excinfo, 404, "not_found")


def test_rename_and_move_folder(box_stand_in: BoxStandIn, box_client: BoxClient) -> None:
    a, b = make_folder(box_client, "a"), make_folder(box_client, "b")
    renamed = box_client.folders.update_folder_by_id(a, name="a2", parent=UpdateFolderByIdParent(id=b))
    assert (renamed.name, renamed.parent.id) == ("a2", b)
    assert [row["path"] for row in box_stand_in.tree()] == ["/b", "/b/a2"]


def test_rename_conflict_and_cycle_are_refused(box_client: BoxClient) -> None:
    a, b = make_folder(box_client, "a"), make_folder(box_client, "b")
    child = make_folder(box_client, "child", a)
    with pytest.raises(BoxAPIError) as excinfo:
        box_client.folders.update_folder_by_id(a, name="B")
    assert api_error(excinfo, 409, "item_name_in_use").response_info.context_info["conflicts"][0]["id"] == b
    with pytest.raises(BoxAPIError) as excinfo:
        box_client.folders.update_folder_by_id(a, parent=UpdateFolderByIdParent(id=child))
    api_error(excinfo, 400, "bad_request")
    with pytest.raises(BoxAPIError) as excinfo:
        box_client.folders.update_folder_by_id(a, name="bad/name")
    api_error(excinfo, 400, "item_name_invalid")


def test_rename_and_move_file(box_stand_in: BoxStandIn, box_client: BoxClient) -> None:
    folder = make_folder(box_client, "dst")
    file_id = upload(box_client, "old.bin", b"data")
    moved = box_client.files.update_file_by_id(file_id, name="new.bin", parent=UpdateFileByIdParent(id=folder))
    assert (moved.name, moved.parent.id, moved.etag) == ("new.bin", folder, "1")
    assert box_stand_in.read_file_bytes("/dst/new.bin") == b"data"


def test_unknown_route_has_box_error_shape(box_stand_in: BoxStandIn, box_client: BoxClient) -> None:
    box_client.folders.get_folder_by_id("0")
    response = requests.get(f"{box_stand_in.url}/2.0/nothing-here", timeout=10)
    assert response.status_code == 404
    assert response.json()["type"] == "error" and response.json()["code"] == "not_found"
