"""``BoxStandIn``: the Box API on two local ports, with the knobs and views tests need."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_vectorbackup.testing.box.app import BoxService
from airflow_provider_vectorbackup.testing.box.auth import TokenIssuer
from airflow_provider_vectorbackup.testing.box.sessions import UploadSessions
from airflow_provider_vectorbackup.testing.box.store import BoxStore, File
from airflow_provider_vectorbackup.testing.faults import FaultInjector, FaultPlan
from airflow_provider_vectorbackup.testing.server import BackgroundServer

if TYPE_CHECKING:
    from box_sdk_gen import BoxClient, BoxRetryStrategy

MIB = 1024 * 1024


class BoxStandIn:
    """A local Box: API host (``url``, uploads under ``url + "/api"``) and a download host.

    Every fault in :attr:`faults` applies to both hosts. Defaults match real Box (20 MB
    chunked-upload minimum, 8 MiB parts, one-hour tokens); tests lower ``chunk_minimum``
    and ``part_size`` to keep chunked uploads small.
    """

    def __init__(
        self, *, client_id: str = "stand-in-client-id", client_secret: str = "stand-in-client-secret",
        enterprise_id: str = "1000", developer_token: str | None = None, jwt_public_key: str | bytes | None = None,
        token_ttl_seconds: float = 3600, chunk_minimum: int = 20 * MIB, part_size: int = 8 * MIB,
        storage_dir: str | Path | None = None, faults: FaultPlan | None = None, host: str = "127.0.0.1", port: int = 0,
    ) -> None:
        self.client_id, self.client_secret, self.enterprise_id = client_id, client_secret, enterprise_id
        self.developer_token = developer_token
        self._defaults = {"chunk_minimum": chunk_minimum, "part_size": part_size, "faults": faults or FaultPlan()}
        self.store = BoxStore(Path(storage_dir) if storage_dir is not None else None)
        self.sessions = UploadSessions(self.store, chunk_minimum=chunk_minimum, part_size=part_size)
        self.auth = TokenIssuer(
            client_id=client_id, client_secret=client_secret, enterprise_id=enterprise_id,
            developer_token=developer_token, ttl_seconds=token_ttl_seconds, jwt_public_key=jwt_public_key,
        )
        self.faults = FaultInjector(faults or FaultPlan())
        self.service = BoxService(self.store, self.sessions, self.auth, self.faults)
        self._api = BackgroundServer(self.service.api_app, host=host, port=port)
        self._downloads = BackgroundServer(self.service.download_app, host=host, port=0)

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> str:
        """Start both hosts; returns :attr:`url`."""
        self.start_download_host()
        return self._api.start()

    def start_download_host(self) -> str:
        """Start only the download host, for when :attr:`api_app` is served elsewhere (the CLI)."""
        self.service.download_url = self._downloads.start()
        return self.service.download_url

    @property
    def api_app(self) -> Any:
        """The API host's ASGI app (faults included)."""
        return self.service.api_app

    def stop(self) -> None:
        self._api.stop()
        self._downloads.stop()
        self.store.close()

    def __enter__(self) -> BoxStandIn:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Back to a fresh account: empty tree, no tokens or sessions, default settings, no faults."""
        self.store.reset()
        self.sessions.reset()
        self.sessions.chunk_minimum = self._defaults["chunk_minimum"]
        self.sessions.part_size = self._defaults["part_size"]
        self.auth.reset()
        self.service.reset()
        self.faults.configure(**vars(self._defaults["faults"]))
        self.faults.injected = dict.fromkeys(self.faults.injected, 0)
        self.faults.most_in_flight = 0

    # -- addresses -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The SDK's ``base_url`` (API host; the token endpoint is ``url + "/oauth2/token"``)."""
        return self._api.url

    @property
    def upload_url(self) -> str:
        """The SDK's ``upload_url``."""
        return self.url + "/api"

    @property
    def oauth2_url(self) -> str:
        """The SDK's ``oauth_2_url`` (only used for browser authorisation, which is not served)."""
        return self.url + "/oauth2"

    @property
    def download_url(self) -> str:
        """The host that 302 download redirects point to."""
        return self._downloads.url

    # -- settings --------------------------------------------------------------------------

    @property
    def chunk_minimum(self) -> int:
        """Smallest ``file_size`` an upload session accepts (real Box: 20 MB)."""
        return self.sessions.chunk_minimum

    @chunk_minimum.setter
    def chunk_minimum(self, value: int) -> None:
        self.sessions.chunk_minimum = value

    @property
    def part_size(self) -> int:
        """``part_size`` handed to new upload sessions."""
        return self.sessions.part_size

    @part_size.setter
    def part_size(self, value: int) -> None:
        self.sessions.part_size = value

    def delay_commits(self, times: int, retry_after_seconds: float = 0.0) -> None:
        """Answer the next ``times`` upload-session commits 202 with ``Retry-After``."""
        with self.sessions.lock:
            self.sessions.pending_commit_delays = times
            self.sessions.commit_retry_after = retry_after_seconds

    def expire_tokens(self) -> None:
        """Invalidate every access token (and the developer token) so clients must refresh."""
        self.auth.expire_all()

    # -- inspection ------------------------------------------------------------------------

    @property
    def request_counts(self) -> dict[str, int]:
        """Requests that reached each operation (e.g. ``upload_part``); injected faults are in ``faults.injected``."""
        return dict(self.service.request_counts)

    @property
    def tokens_issued(self) -> int:
        return self.auth.issued

    def tree(self) -> list[dict[str, Any]]:
        """Every item as ``{"path", "type", "id", "size", "sha1"}`` (``sha1``/``size`` only for files)."""
        rows = []
        for path, item in self.store.walk():
            row: dict[str, Any] = {"path": path, "type": item.type, "id": item.id}
            if isinstance(item, File):
                row |= {"size": item.current.size, "sha1": item.current.sha1}
            rows.append(row)
        return rows

    def _file(self, file_id_or_path: str) -> File:
        with self.store.lock:
            if file_id_or_path.startswith("/"):
                item = self.store.resolve(file_id_or_path)
                if not isinstance(item, File):
                    raise KeyError(file_id_or_path)
                return item
            return self.store.file(file_id_or_path)

    def read_file_bytes(self, file_id_or_path: str) -> bytes:
        """The current version's stored bytes, by file id or by path such as ``"/backups/a.bin"``."""
        return self._file(file_id_or_path).current.path.read_bytes()

    def corrupt_file(self, file_id_or_path: str, offset: int = 0) -> None:
        """Flip one stored byte of the current version, leaving its recorded sha1 unchanged."""
        version = self._file(file_id_or_path).current
        with version.path.open("r+b") as stream:
            stream.seek(offset)
            byte = stream.read(1)
            if not byte:
                raise ValueError(f"file version {version.id} has no byte at offset {offset}")
            stream.seek(offset)
            stream.write(bytes([byte[0] ^ 0xFF]))

    # -- a real client ---------------------------------------------------------------------

    def ccg_client(self, retry_strategy: BoxRetryStrategy | None = None) -> BoxClient:
        """A real ``box_sdk_gen.BoxClient`` using CCG (enterprise subject) against this stand-in."""
        from box_sdk_gen import BaseUrls, BoxCCGAuth, BoxClient, CCGConfig, NetworkSession

        auth = BoxCCGAuth(CCGConfig(self.client_id, self.client_secret, enterprise_id=self.enterprise_id))
        session = NetworkSession(base_urls=BaseUrls(base_url=self.url, upload_url=self.upload_url,
                                                    oauth_2_url=self.oauth2_url))
        if retry_strategy is not None:
            session = NetworkSession(base_urls=session.base_urls, retry_strategy=retry_strategy)
        return BoxClient(auth, network_session=session)
