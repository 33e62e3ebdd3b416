"""The JSON representations of folders and files, as Box puts them on the wire.

Box always sends ``type`` and ``id`` (the SDK's models fail without ``id`` and pick the
item class by ``type``), and with a ``fields`` query it sends only those fields plus
``type``, ``id`` and ``etag``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_vectorbackup.testing.box.store import BoxStore, File, Folder, Item

ROOT_ID = "0"
ALWAYS_SENT = ("type", "id", "etag")


def _etag(item: Item) -> str | None:
    return None if item.id == ROOT_ID else str(item.etag)


def mini(item: Item) -> dict[str, Any]:
    """The compact form used in listings, ``parent`` and ``context_info.conflicts``."""
    shape: dict[str, Any] = {
        "type": item.type, "id": item.id, "sequence_id": _etag(item), "etag": _etag(item), "name": item.name,
    }
    if item.type == "file":
        version = item.current  # type: ignore[attr-defined]
        shape["sha1"] = version.sha1
        shape["file_version"] = {"type": "file_version", "id": version.id, "sha1": version.sha1}
    return shape


def full(store: BoxStore, item: Item) -> dict[str, Any]:
    """The standard form returned by GET/POST/PUT on a single item."""
    path = store.path_of(item)
    shape = mini(item) | {
        "description": "",
        "created_at": None if item.id == ROOT_ID else item.created_at,
        "modified_at": None if item.id == ROOT_ID else item.modified_at,
        "path_collection": {"total_count": len(path), "entries": [mini(folder) for folder in path]},
        "parent": mini(path[-1]) if path else None,
        "item_status": "active",
    }
    if item.type == "file":
        file: File = item  # type: ignore[assignment]
        shape |= {"size": file.current.size, "version_number": str(len(file.versions)),
                  "content_created_at": file.created_at, "content_modified_at": file.modified_at}
    else:
        folder: Folder = item  # type: ignore[assignment]
        shape["size"] = sum(
            store.file(child.id).current.size for _, child in store.walk(folder) if child.type == "file"
        )
        entries = sorted_children(folder)
        shape["item_collection"] = {
            "total_count": len(entries), "entries": [mini(child) for child in entries[:100]],
            "offset": 0, "limit": 100, "order": ORDER,
        }
    return shape


ORDER = [{"by": "type", "direction": "ASC"}, {"by": "name", "direction": "ASC"}]


def sorted_children(folder: Folder) -> list[Item]:
    """Box's default listing order: folders before files, then by name."""
    return sorted(folder.children.values(), key=lambda c: (c.type != "folder", c.name.casefold(), c.id))


def select(shape: dict[str, Any], fields: str | None) -> dict[str, Any]:
    """Apply a ``fields=a,b`` query: only those fields plus ``type``, ``id`` and ``etag``."""
    if not fields:
        return shape
    wanted = set(ALWAYS_SENT) | {name.strip() for name in fields.split(",")}
    return {key: value for key, value in shape.items() if key in wanted}
