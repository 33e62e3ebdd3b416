"""``WeaviateStandIn``: the Weaviate stand-in (REST and gRPC on real local sockets), one object tests start and steer."""

from __future__ import annotations

from typing import Any

from airflow_provider_vectorbackup.testing.faults import FaultInjector, FaultPlan
from airflow_provider_vectorbackup.testing.server import BackgroundServer
from airflow_provider_vectorbackup.testing.weaviate.grpc_service import start_grpc
from airflow_provider_vectorbackup.testing.weaviate.rest import build_app
from airflow_provider_vectorbackup.testing.weaviate.store import STATUS_ALIASES, Store

DEFAULT_API_KEY = "weaviate-stand-in-key"


class WeaviateStandIn:
    """A local Weaviate: REST on ``http://host:http_port/v1``, gRPC on ``host:grpc_port``, one API key.

    ``api_key=None`` serves anonymously. ``modules`` names vectorizer modules a collection may be
    configured with (their settings are kept as given; nothing is vectorized: objects bring their vectors). :meth:`set_tenant_status` changes a tenant's activity
    status as an operator (or Weaviate's offloading) would; :attr:`faults` injects faults into the
    gRPC data calls (``faults.configure(server_error_every=3)``); :meth:`reset` empties it and
    clears the faults.
    """

    def __init__(self, *, api_key: str | None = DEFAULT_API_KEY, host: str = "127.0.0.1",
                 faults: FaultPlan | None = None, modules: tuple[str, ...] = ()) -> None:
        self.api_key = api_key
        self.host = host
        self.store = Store(frozenset(modules))
        self.faults = FaultInjector(faults)
        self._http = BackgroundServer(build_app(self.store, api_key), host=host)
        self._grpc: Any = None
        self.grpc_port = 0

    def start(self) -> str:
        url = self._http.start()
        self._grpc, self.grpc_port = start_grpc(self.store, self.api_key, self.faults, self.host, 0)
        return url

    def stop(self) -> None:
        if self._grpc is not None:
            self._grpc.stop(grace=None)
            self._grpc = None
        self._http.stop()

    def __enter__(self) -> WeaviateStandIn:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return self._http.url

    @property
    def http_port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def reset(self) -> None:
        self.store.reset()
        self.faults.reset()

    def set_tenant_status(self, collection: str, tenant: str, status: str) -> None:
        """Set a tenant's activity status (``ACTIVE``/``HOT``, ``INACTIVE``/``COLD``, ``OFFLOADED``/``FROZEN``)."""
        self.store.add_tenants(collection, [{"name": tenant, "activityStatus": STATUS_ALIASES[status.upper()]}],
                               update=True)

    def connect(self) -> Any:
        """A real ``weaviate`` client (v4) connected to this stand-in; close it when done."""
        import weaviate
        from weaviate.classes.init import Auth

        return weaviate.connect_to_custom(
            http_host=self.host, http_port=self.http_port, http_secure=False, grpc_host=self.host,
            grpc_port=self.grpc_port, grpc_secure=False,
            auth_credentials=Auth.api_key(self.api_key) if self.api_key else None)
