"""In-memory keyspaces and collections.

Each collection keeps documents in storage order (a sequence number per document, kept across
replacements) so unsorted scans resume by position, and indexes them by typed ``_id``. One
re-entrant lock guards the whole store: request handlers and test-side inspection helpers run
on different threads.
"""

from __future__ import annotations

import bisect
import dataclasses
import threading
from collections.abc import Iterator
from typing import Any

from airflow_provider_vectorbackup.testing.astra.ejson import id_key
from airflow_provider_vectorbackup.testing.astra.errors import document_error, unknown_collection, unknown_keyspace
from airflow_provider_vectorbackup.testing.astra.options import CollectionSettings, settings_for


@dataclasses.dataclass(eq=False)
class StoredDoc:
    seq: int
    body: dict[str, Any]
    alive: bool = True
    decoded_vector: tuple[Any, Any] | None = None
    """``(stored $vector value, its float32 array)``: vector search decodes each stored vector once, not per query."""


class Collection:
    """One collection's documents and settings."""

    def __init__(self, keyspace: str, name: str, options: dict[str, Any]) -> None:
        self.keyspace = keyspace
        self.name = name
        self.settings: CollectionSettings = settings_for(options)
        self._by_key: dict[tuple[str, Any], StoredDoc] = {}
        self._order: list[StoredDoc] = []
        self._next_seq = 1

    def __len__(self) -> int:
        return len(self._by_key)

    def insert(self, body: dict[str, Any]) -> None:
        key = id_key(body["_id"])
        if key in self._by_key:
            raise document_error(
                "DOCUMENT_ALREADY_EXISTS",
                f"Cannot insert the document: a document already exists with given '_id' ({_show_id(body['_id'])}).\n\n"
                "Either resend the command with distinct '_id', or use an update command instead.",
                "Document the given _id already exists", document_ids=[body["_id"]],
            )
        entry = StoredDoc(self._next_seq, body)
        self._next_seq += 1
        self._by_key[key] = entry
        self._order.append(entry)

    def replace(self, entry: StoredDoc, body: dict[str, Any]) -> None:
        entry.body = body

    def delete(self, entry: StoredDoc) -> None:
        if entry.alive:
            entry.alive = False
            del self._by_key[id_key(entry.body["_id"])]
            if len(self._order) > 64 and len(self._by_key) < len(self._order) // 2:
                self._order = [e for e in self._order if e.alive]

    def truncate(self) -> None:
        for entry in self._order:
            entry.alive = False
        self._by_key.clear()
        self._order = []

    def scan(self, after: int = 0) -> Iterator[StoredDoc]:
        """Live documents with a sequence number above ``after``, in storage order."""
        start = bisect.bisect_right(self._order, after, key=lambda e: e.seq)
        order = self._order
        for index in range(start, len(order)):  # no copy of the rest of the list for every page
            entry = order[index]
            if entry.alive:
                yield entry


def _show_id(doc_id: Any) -> str:
    return doc_id if isinstance(doc_id, str) else repr(doc_id)


class Store:
    """Keyspaces → collections, with the lock everything takes."""

    def __init__(self, keyspaces: tuple[str, ...]) -> None:
        self.lock = threading.RLock()
        self.initial_keyspaces = keyspaces
        self.keyspaces: dict[str, dict[str, Collection]] = {ks: {} for ks in keyspaces}

    def keyspace(self, keyspace: str) -> dict[str, Collection]:
        try:
            return self.keyspaces[keyspace]
        except KeyError:
            raise unknown_keyspace(keyspace) from None

    def collection(self, keyspace: str, name: str) -> Collection:
        collections = self.keyspace(keyspace)
        try:
            return collections[name]
        except KeyError:
            raise unknown_collection(keyspace, name, sorted(collections)) from None
