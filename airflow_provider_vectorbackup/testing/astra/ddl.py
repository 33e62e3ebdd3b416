"""Schema commands: ``findCollections``, ``createCollection``, ``deleteCollection`` and the keyspace ones.

DDL answers carry ``status`` exactly ``{"ok": 1}``: astrapy checks that equality and raises on
anything else.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_vectorbackup.testing.astra.errors import field_value_invalid, schema_error
from airflow_provider_vectorbackup.testing.astra.options import normalize, validate_name
from airflow_provider_vectorbackup.testing.astra.store import Collection, Store

OK = {"status": {"ok": 1}}


def find_collections(store: Store, keyspace: str, body: dict[str, Any]) -> dict[str, Any]:
    collections = store.keyspace(keyspace)
    explain = bool((body.get("options") or {}).get("explain"))
    if explain:
        listed: list[Any] = [{"name": c.name, "options": c.settings.options} for c in collections.values()]
    else:
        listed = list(collections)
    return {"status": {"collections": listed}}


def create_collection(store: Store, keyspace: str, body: dict[str, Any]) -> dict[str, Any]:
    name = validate_name(body.get("name"))
    options = normalize(body.get("options"))
    collections = store.keyspace(keyspace)
    existing = collections.get(name)
    if existing is None:
        collections[name] = Collection(keyspace, name, options)
    elif existing.settings.options != options:
        raise schema_error(
            "EXISTING_COLLECTION_DIFFERENT_SETTINGS",
            f"Collection '{name}' already exists but with settings different from ones passed with "
            "'createCollection' command.\n\nIf you need to change collection settings you will need to "
            "'deleteCollection', then re-create with new settings.",
            "Collection already exists with different settings",
        )
    return OK


def delete_collection(store: Store, keyspace: str, body: dict[str, Any]) -> dict[str, Any]:
    name = body.get("name")
    if not isinstance(name, str) or not name:
        raise field_value_invalid("command.name", f'"{name}"', "must not be empty")
    store.keyspace(keyspace).pop(name, None)
    return OK


def find_keyspaces(store: Store, body: dict[str, Any]) -> dict[str, Any]:
    return {"status": {"keyspaces": list(store.keyspaces)}}


def create_keyspace(store: Store, body: dict[str, Any]) -> dict[str, Any]:
    name = validate_name(body.get("name"), "Keyspace")
    store.keyspaces.setdefault(name, {})
    return OK


def drop_keyspace(store: Store, body: dict[str, Any]) -> dict[str, Any]:
    store.keyspaces.pop(str(body.get("name")), None)
    return OK
