"""``AstraStandIn``: the Data API stand-in as one object tests start, steer and inspect."""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Iterable
from typing import Any

import msgspec

from airflow_provider_vectorbackup.testing.astra.app import build_app
from airflow_provider_vectorbackup.testing.astra.auth import Credentials
from airflow_provider_vectorbackup.testing.astra.behaviour import Behaviour, id_range_kinds
from airflow_provider_vectorbackup.testing.astra.ddl import create_collection
from airflow_provider_vectorbackup.testing.astra.ejson import new_id
from airflow_provider_vectorbackup.testing.astra.engine import Engine
from airflow_provider_vectorbackup.testing.astra.store import Store
from airflow_provider_vectorbackup.testing.astra.updates import plain
from airflow_provider_vectorbackup.testing.faults import FaultInjector, FaultPlan
from airflow_provider_vectorbackup.testing.server import BackgroundServer

DEFAULT_TOKEN = "AstraCS:stand-in:token"


class AstraStandIn:
    """A local Astra Data API (collections only) on ``http://host:port``.

    ``token`` (or ``Cassandra:b64(username):b64(password)``) authenticates; ``page_size`` is the
    ``find`` page size; ``faults`` sets the initial :class:`FaultPlan`, changeable at runtime via
    :attr:`faults`. :attr:`regression_mode`, :attr:`empty_page_every`, the in-band errors
    (:attr:`in_band_error_every`, :attr:`in_band_error_code`, :attr:`partial_insert_every`) and
    :attr:`refuse_id_ranges` (an older release) are settable anytime; see :class:`Behaviour`.
    """

    def __init__(
        self, *, token: str = DEFAULT_TOKEN, username: str = "cassandra", password: str = "cassandra",
        page_size: int = 20, keyspaces: Iterable[str] = ("default_keyspace",), faults: FaultPlan | None = None,
        regression_mode: bool = False, empty_page_every: int = 0, in_band_error_every: int = 0,
        in_band_error_code: str = "UNAVAILABLE_DATABASE", partial_insert_every: int = 0,
        refuse_id_ranges: Iterable[str] = (), host: str = "127.0.0.1", port: int = 0,
    ) -> None:
        self.token = token
        self.credentials = Credentials(token, username, password)
        self._initial = Behaviour(page_size=page_size, regression_mode=regression_mode,
                                  empty_page_every=empty_page_every, in_band_error_every=in_band_error_every,
                                  in_band_error_code=in_band_error_code, partial_insert_every=partial_insert_every,
                                  refuse_id_ranges=tuple(refuse_id_ranges))
        self.behaviour = dataclasses.replace(self._initial)
        self._initial_faults = faults or FaultPlan()
        self.store = Store(tuple(keyspaces))
        self.engine = Engine(self.store, self.behaviour)
        self.faults = FaultInjector(faults)
        self.app = build_app(self.engine, self.credentials, self.faults)
        self._server = BackgroundServer(self.app, host=host, port=port)

    # lifecycle
    def start(self) -> str:
        return self._server.start()

    def stop(self) -> None:
        self._server.stop()

    @property
    def url(self) -> str:
        return self._server.url

    def __enter__(self) -> AstraStandIn:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # switches
    @property
    def page_size(self) -> int:
        return self.behaviour.page_size

    @page_size.setter
    def page_size(self, value: int) -> None:
        self.behaviour.page_size = value

    @property
    def regression_mode(self) -> bool:
        return self.behaviour.regression_mode

    @regression_mode.setter
    def regression_mode(self, value: bool) -> None:
        self.behaviour.regression_mode = value

    @property
    def empty_page_every(self) -> int:
        return self.behaviour.empty_page_every

    @empty_page_every.setter
    def empty_page_every(self, value: int) -> None:
        with self.store.lock:
            self.behaviour.empty_page_every = value
            self.behaviour.find_pages = 0

    @property
    def empty_pages_served(self) -> int:
        return self.behaviour.empty_pages_served

    @property
    def in_band_error_every(self) -> int:
        return self.behaviour.in_band_error_every

    @in_band_error_every.setter
    def in_band_error_every(self, value: int) -> None:
        with self.store.lock:
            self.behaviour.in_band_error_every = value
            self.behaviour.commands = 0

    @property
    def in_band_error_code(self) -> str:
        return self.behaviour.in_band_error_code

    @in_band_error_code.setter
    def in_band_error_code(self, value: str) -> None:
        self.behaviour.in_band_error_code = value

    @property
    def in_band_errors_served(self) -> int:
        return self.behaviour.in_band_errors_served

    @property
    def partial_insert_every(self) -> int:
        return self.behaviour.partial_insert_every

    @partial_insert_every.setter
    def partial_insert_every(self, value: int) -> None:
        with self.store.lock:
            self.behaviour.partial_insert_every = value
            self.behaviour.insert_many_calls = 0

    @property
    def partial_inserts_served(self) -> int:
        return self.behaviour.partial_inserts_served

    @property
    def refuse_id_ranges(self) -> tuple[str, ...]:
        return self.behaviour.refuse_id_ranges

    @refuse_id_ranges.setter
    def refuse_id_ranges(self, kinds: Iterable[str]) -> None:
        checked = id_range_kinds(tuple(kinds))
        with self.store.lock:
            self.behaviour.refuse_id_ranges = checked

    # inspection and setup
    @property
    def request_counts(self) -> collections.Counter[str]:
        """Commands received per command name (a copy); see :meth:`reset_request_counts`."""
        with self.store.lock:
            return collections.Counter(self.engine.request_counts)

    def reset_request_counts(self) -> None:
        with self.store.lock:
            self.engine.request_counts.clear()

    def create_collection(self, keyspace: str, name: str, options: dict[str, Any] | None = None) -> None:
        """Create (or keep, if identical) a collection, with the same validation as ``createCollection``."""
        with self.store.lock:
            self.store.keyspaces.setdefault(keyspace, {})
            create_collection(self.store, keyspace, {"name": name, "options": options})

    def seed(self, keyspace: str, name: str, docs: Iterable[dict[str, Any]]) -> list[Any]:
        """Store documents verbatim with no limits or per-request caps; returns their ``_id`` s.

        Missing ``_id`` s are generated per the collection's ``defaultId``; ``$vector`` is kept in
        the form given. A duplicate ``_id`` raises :class:`DataAPIError`.
        """
        with self.store.lock:
            coll = self.store.collection(keyspace, name)
            ids = []
            for doc in docs:
                body = {"_id": doc["_id"] if "_id" in doc else new_id(coll.settings.default_id)}
                body.update((k, v) for k, v in doc.items() if k != "_id")
                if body.get("$vector") is not None:
                    body["$vector"] = msgspec.Raw(msgspec.json.encode(body["$vector"]))
                coll.insert(body)
                ids.append(body["_id"])
            return ids

    def dump_collection(self, keyspace: str, name: str) -> list[dict[str, Any]]:
        """Every stored document, verbatim (``$vector`` in its stored form), in storage order."""
        with self.store.lock:
            return [plain(entry.body) for entry in self.store.collection(keyspace, name).scan()]

    def collection_options(self, keyspace: str, name: str) -> dict[str, Any]:
        with self.store.lock:
            return dict(self.store.collection(keyspace, name).settings.options)

    def reset(self) -> None:
        """Back to the state right after construction: initial keyspaces (empty), switches, faults, counters."""
        with self.store.lock:
            self.store.keyspaces = {ks: {} for ks in self.store.initial_keyspaces}
            self.engine.request_counts.clear()
            for field in dataclasses.fields(Behaviour):
                setattr(self.behaviour, field.name, getattr(self._initial, field.name))
        self.faults.configure(**dataclasses.asdict(self._initial_faults))
