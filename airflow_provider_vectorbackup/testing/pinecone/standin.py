"""``PineconeStandIn``: a local Pinecone control plane, and a data plane per index on its own socket.

Real Pinecone gives every index its own host, which ``describe_index`` names and the client then
talks to; here each index's data plane is a uvicorn server on a free local port, started when the
index is created. Deleting an index makes its host answer 404 at once; the servers stop with the
stand-in, all together.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from airflow_provider_vectorbackup.testing.faults import FaultInjector, FaultPlan
from airflow_provider_vectorbackup.testing.pinecone.app import Planes
from airflow_provider_vectorbackup.testing.pinecone.indexes import Index, new_index
from airflow_provider_vectorbackup.testing.pinecone.records import Namespace, normalise_namespace, parse_record
from airflow_provider_vectorbackup.testing.server import BackgroundServer

DEFAULT_API_KEY = "pcsk_stand-in_key"


class PineconeStandIn:
    """A Pinecone project on ``http://host:port`` (the control plane), serving the 2026-07 API.

    ``api_key`` is the one ``Api-Key`` accepted. :meth:`create_index` makes an index without the
    client (a pod index, say, which the tests need and a free project cannot make), and
    :meth:`seed` writes records with the upsert's own checks. ``faults`` (a :class:`FaultPlan`, changeable at
    runtime through :attr:`faults`) applies to every request of every plane.
    """

    def __init__(self, *, api_key: str = DEFAULT_API_KEY, faults: FaultPlan | None = None, host: str = "127.0.0.1",
                 port: int = 0) -> None:
        self.api_key = api_key
        self.faults = FaultInjector(faults)
        self.lock = threading.RLock()
        self._host = host
        self._data_servers: list[BackgroundServer] = []
        self.planes = Planes(api_key, self.lock, self._start_data_plane, self.faults)
        self._server = BackgroundServer(self.planes.control_app(), host=host, port=port)

    def _start_data_plane(self, index: Index) -> str:
        server = BackgroundServer(self.planes.data_app(index.name), host=self._host)
        url = server.start()
        self._data_servers.append(server)
        return url

    # lifecycle
    def start(self) -> str:
        return self._server.start()

    def stop(self) -> None:
        servers, self._data_servers = [self._server, *self._data_servers], []
        for server in servers:  # ask every server to exit first, so they wind down together
            server.request_stop()
        with ThreadPoolExecutor(max(1, len(servers))) as pool:
            list(pool.map(lambda s: s.stop(), servers))

    @property
    def url(self) -> str:
        return self._server.url

    def __enter__(self) -> PineconeStandIn:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # setup and inspection
    def create_index(self, name: str, *, dimension: int | None = None, metric: str = "cosine",
                     sparse: bool = False, deployment: dict[str, Any] | None = None,
                     deletion_protection: str = "disabled", tags: dict[str, str] | None = None) -> dict[str, Any]:
        """Create an index as ``POST /indexes`` would (same checks); returns its description."""
        fields: dict[str, Any] = {}
        if dimension is not None:
            fields["_values"] = {"type": "dense_vector", "dimension": dimension, "metric": metric}
        if sparse:
            fields["_sparse_values"] = {"type": "sparse_vector"}
        body = {"name": name, "schema": {"fields": fields}, "deployment": deployment,
                "deletion_protection": deletion_protection, "tags": tags}
        with self.lock:
            index = new_index({k: v for k, v in body.items() if v is not None})
            index.host = self._start_data_plane(index)
            self.planes.indexes[name] = index
            return index.to_json()

    def seed(self, index_name: str, records: list[dict[str, Any]], namespace: str = "") -> None:
        """Store records given in the upsert's wire shape (``id``, ``values``, ``sparseValues``, ``metadata``)."""
        with self.lock:
            index = self.planes.indexes[index_name]
            parsed = [parse_record(raw, dimension=index.dimension, sparse_allowed=index.sparse_allowed,
                                   sparse_required=index.vector_type == "sparse") for raw in records]
            stored = index.namespaces.setdefault(normalise_namespace(namespace), Namespace())
            for record in parsed:
                stored.records[record.id] = record

    def stored_values(self, index_name: str, record_id: str, namespace: str = "") -> np.ndarray | None:
        """The float32 dense values the stand-in holds for a record (a copy)."""
        with self.lock:
            record = self.planes.indexes[index_name].namespaces[normalise_namespace(namespace)].records[record_id]
            return None if record.values is None else record.values.copy()

    @property
    def request_counts(self) -> dict[str, int]:
        """Requests served per operation (``list``, ``fetch``, ``upsert``, ...), a copy."""
        with self.lock:
            return dict(self.planes.request_counts)
