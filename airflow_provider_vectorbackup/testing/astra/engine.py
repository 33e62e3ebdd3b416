"""Command dispatch: one JSON command in, one Data API response body out.

Routes by path level as the service does (``/v1`` admin, ``/v1/{ks}`` schema,
``/v1/{ks}/{coll}`` documents), counts each command by name for tests, and turns any
:class:`DataAPIError` into an ``errors`` list with the right HTTP status. The in-band error
and old-release switches of :class:`Behaviour` are applied here, before a command runs.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from typing import Any

import msgspec

from airflow_provider_vectorbackup.testing.astra import ddl, reads, writes
from airflow_provider_vectorbackup.testing.astra.behaviour import Behaviour
from airflow_provider_vectorbackup.testing.astra.errors import (
    DataAPIError, not_json, structure_mismatch, transient_server_error, unknown_command,
)
from airflow_provider_vectorbackup.testing.astra.filters import refuse_id_ranges
from airflow_provider_vectorbackup.testing.astra.store import Collection, Store

Response = tuple[int, dict[str, Any]]

ADMIN_COMMANDS: dict[str, Callable[[Store, dict[str, Any]], dict[str, Any]]] = {
    "findKeyspaces": ddl.find_keyspaces,
    "createKeyspace": ddl.create_keyspace,
    "dropKeyspace": ddl.drop_keyspace,
}
KEYSPACE_COMMANDS: dict[str, Callable[[Store, str, dict[str, Any]], dict[str, Any]]] = {
    "findCollections": ddl.find_collections,
    "createCollection": ddl.create_collection,
    "deleteCollection": ddl.delete_collection,
}
COLLECTION_COMMANDS: dict[str, Callable[[Collection, dict[str, Any], Behaviour], dict[str, Any]]] = {
    "find": reads.find,
    "findOne": reads.find_one,
    "countDocuments": lambda c, b, _: reads.count_documents(c, b),
    "estimatedDocumentCount": lambda c, b, _: reads.estimated_document_count(c, b),
    "insertOne": lambda c, b, _: writes.insert_one(c, b),
    "insertMany": writes.insert_many,
    "deleteOne": lambda c, b, _: writes.delete_one(c, b),
    "deleteMany": lambda c, b, _: writes.delete_many(c, b),
    "findOneAndReplace": writes.find_one_and_replace,
    "findOneAndUpdate": writes.find_one_and_update,
    "findOneAndDelete": writes.find_one_and_delete,
    "updateOne": writes.update_one,
}

_decoder = msgspec.json.Decoder()


class Engine:
    """Executes commands against a :class:`Store` under its lock."""

    def __init__(self, store: Store, behaviour: Behaviour) -> None:
        self.store = store
        self.behaviour = behaviour
        self.request_counts: collections.Counter[str] = collections.Counter()

    def execute(self, keyspace: str | None, collection: str | None, payload: bytes) -> Response:
        try:
            name, body = self._parse(payload)
            with self.store.lock:
                self.request_counts[name] += 1
                if self.behaviour.in_band_error_due():
                    raise transient_server_error(self.behaviour.in_band_error_code, keyspace, collection)
                return 200, self._dispatch(keyspace, collection, name, body)
        except DataAPIError as exc:
            return exc.http_status, {"errors": [exc.to_json()]}

    @staticmethod
    def _parse(payload: bytes) -> tuple[str, dict[str, Any]]:
        try:
            command = _decoder.decode(payload)
        except msgspec.DecodeError as exc:
            raise not_json(str(exc)) from exc
        if not isinstance(command, dict) or len(command) != 1:
            raise structure_mismatch("the request body must be an Object with exactly one command")
        ((name, body),) = command.items()
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise structure_mismatch(f"command '{name}' must have an Object value")
        return name, body

    def _dispatch(self, keyspace: str | None, collection: str | None, name: str, body: dict[str, Any]) -> dict:
        if keyspace is None:
            if name not in ADMIN_COMMANDS:
                raise unknown_command(name, "General")
            return ADMIN_COMMANDS[name](self.store, body)
        if collection is None:
            if name not in KEYSPACE_COMMANDS:
                raise unknown_command(name, "Keyspace")
            return KEYSPACE_COMMANDS[name](self.store, keyspace, body)
        if name not in COLLECTION_COMMANDS:
            raise unknown_command(name, "Collection")
        refuse_id_ranges(body.get("filter"), self.behaviour.refuse_id_ranges)
        return COLLECTION_COMMANDS[name](self.store.collection(keyspace, collection), body, self.behaviour)
