"""Turn a ``box`` connection's settings into a boxsdk client: auth, base URLs, retries and throttling.

The kind of auth (CCG, JWT or developer token) is decided by which fields are filled in, so
one connection type covers all three; see ``docs/connections.md``. Nothing here logs or
raises a secret: errors name the fields, never their values.

Throttling sits at the transport (:class:`ThrottledAdapter`, mounted on the client's
``requests`` session), so every HTTP request the client sends passes the connection's limiters:
each part of a chunked upload, each of boxsdk's own retries, token requests, and calls made
through :attr:`BoxApi.client <.client.BoxApi.client>`.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests
from box_sdk_gen import (
    BaseUrls,
    BoxCCGAuth,
    BoxClient,
    BoxDeveloperTokenAuth,
    BoxJWTAuth,
    BoxNetworkClient,
    BoxRetryStrategy,
    BoxSDKError,
    CCGConfig,
    JWTConfig,
    NetworkSession,
)
from requests.adapters import HTTPAdapter

from airflow_provider_vectorbackup.throttle import BURST_FRACTION, RateLimiter, parse_limit

if TYPE_CHECKING:
    from box_sdk_gen.networking.auth import Authentication

    from airflow_provider_vectorbackup.connection import ConnectionSettings

ACCEPTED_FIELDS = (
    "Accepted field combinations for a Box connection: "
    "CCG = login (client id) + password (client secret) + extra enterprise_id or user_id; "
    "JWT = extra jwt_config (the app's config JSON) or extra jwt_config_path (a file on the worker), "
    "optionally with extra enterprise_id or user_id; "
    "developer token = password only (login empty)."
)


class BoxConnectionError(ValueError):
    """The connection's fields do not describe any supported way to authenticate."""


class DeveloperTokenRefused(BoxSDKError):
    """Box answered 401 to a developer token, which cannot be refreshed: it expired (after 60 minutes) or is wrong."""


class _DeveloperTokenAuth(BoxDeveloperTokenAuth):
    """boxsdk's developer-token auth, raising :class:`DeveloperTokenRefused` where boxsdk raises a bare BoxSDKError."""

    def refresh_token(self, *, network_session: NetworkSession | None = None) -> Any:
        raise DeveloperTokenRefused(message="Developer token has expired. Please provide a new one.")


def _text(value: Any) -> str | None:
    """Extras may arrive as numbers (``"enterprise_id": 123``) or blanks; normalise to text or None."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


BOX_UPLOADS_PER_MINUTE = 240
"""Box's documented limit on "file upload requests" per minute per user
(developer.box.com/guides/api-calls/permissions-and-errors/rate-limits)."""
BOX_REQUESTS_PER_MINUTE = 1000
"""Box's documented limit on API requests per minute per user, uploads included (same page)."""


def _within(box_limit: int) -> float:
    """The largest whole limit whose bucket (limit plus its burst) never exceeds ``box_limit`` in a minute."""
    return float(math.floor(box_limit / (1 + BURST_FRACTION)))


DEFAULT_UPLOADS_PER_MINUTE = _within(BOX_UPLOADS_PER_MINUTE)
"""228: with the 5 % burst, at most 239.4 upload-host requests in any minute, under Box's 240."""
DEFAULT_REQUESTS_PER_MINUTE = _within(BOX_REQUESTS_PER_MINUTE)
"""952: with the 5 % burst, at most 999.6 requests in any minute, under Box's 1000."""


@dataclasses.dataclass(frozen=True)
class BoxRateLimits:
    """The two budgets every request of one :class:`~.client.BoxApi`'s client is paced against.

    :param uploads: requests to the upload host (``upload_url``): direct uploads and new
        versions, upload-session creation, every part, part listings, commits (and their
        re-polls) and aborts, retries included. From extra ``max_uploads_per_minute``.
    :param requests: every request, uploads included. From extra ``max_requests_per_minute``.
    """

    uploads: RateLimiter
    requests: RateLimiter


def parse_rate_limits(conn: ConnectionSettings) -> BoxRateLimits:
    """Limiters from the connection's extras: unset means Box-safe defaults, ``0`` means unlimited."""
    extra = conn.extra

    def limit(name: str, default: float) -> float | None:
        value = extra.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            return default
        try:
            return parse_limit(value, name)
        except ValueError as error:
            raise BoxConnectionError(f"Box connection {conn.conn_id!r}: {error}") from None

    uploads = limit("max_uploads_per_minute", DEFAULT_UPLOADS_PER_MINUTE)
    every = limit("max_requests_per_minute", DEFAULT_REQUESTS_PER_MINUTE)
    return BoxRateLimits(
        uploads=RateLimiter(uploads, per=60.0, name=f"Box uploads of connection {conn.conn_id!r}"),
        requests=RateLimiter(every, per=60.0, name=f"Box requests of connection {conn.conn_id!r}"))


SEND_BLOCK = 1 << 20
"""Bytes handed to the socket per write when a body is a stream (urllib3's default is 16 KiB,
which costs an 8 MiB part 512 trips through Python)."""


class ThrottledAdapter(HTTPAdapter):
    """A ``requests`` transport that takes a permit from the limiters before each request it sends.

    Every request takes one from ``limits.requests``; a request under ``upload_url`` then also
    takes one from ``limits.uploads``, the last gate before the wire, so uploads go out when
    their own budget says. Stream bodies (upload parts) go to the socket in
    :data:`SEND_BLOCK` pieces.
    """

    def __init__(self, limits: BoxRateLimits, upload_url: str) -> None:
        super().__init__()
        self.limits = limits
        upload = urlsplit(upload_url)
        self._upload_origin = (upload.scheme.lower(), (upload.netloc or "").lower())
        self._upload_path = upload.path.rstrip("/") + "/"

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any) -> None:
        super().init_poolmanager(connections, maxsize, block, blocksize=SEND_BLOCK, **pool_kwargs)

    def is_upload(self, url: str) -> bool:
        parts = urlsplit(url)
        return ((parts.scheme.lower(), parts.netloc.lower()) == self._upload_origin
                and parts.path.startswith(self._upload_path))

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        self.limits.requests.acquire()
        if self.is_upload(request.url or ""):
            self.limits.uploads.acquire()
        return super().send(request, *args, **kwargs)


def build_client(conn: ConnectionSettings, *, limits: BoxRateLimits | None = None) -> tuple[BoxClient, str]:
    """Build a client for ``conn``; returns it with a secret-free description of the auth used.

    :param limits: the limiters its requests are paced against; by default new ones from the
        connection's extras (:func:`parse_rate_limits`).
    """
    extra = conn.extra
    auth, description = _auth(conn, extra)
    limits = limits or parse_rate_limits(conn)
    base_urls = _base_urls(extra)
    transport = requests.Session()
    adapter = ThrottledAdapter(limits, base_urls.upload_url)
    transport.mount("https://", adapter)
    transport.mount("http://", adapter)
    session = NetworkSession(base_urls=base_urls, retry_strategy=_retry_strategy(conn.conn_id, extra),
                             network_client=BoxNetworkClient(requests_session=transport))
    return BoxClient(auth, network_session=session), description


def _retry_strategy(conn_id: str | None, extra: Mapping[str, Any]) -> BoxRetryStrategy:
    """boxsdk's own retry (429, 5xx, 202, 401, dropped connections), tunable from extras.

    ``max_attempts`` (default 5) bounds attempts per request; ``retry_base_interval`` (seconds,
    default 1) scales the exponential back-off used when Box sends no ``Retry-After``.
    """
    try:
        max_attempts = int(extra.get("max_attempts") or 5)
        base_interval = float(extra.get("retry_base_interval") or 1.0)
    except (TypeError, ValueError):
        raise BoxConnectionError(f"Box connection {conn_id!r}: extras max_attempts and retry_base_interval "
                                 "must be numbers") from None
    if max_attempts < 1 or base_interval < 0:
        raise BoxConnectionError(f"Box connection {conn_id!r}: max_attempts must be >= 1 and "
                                 "retry_base_interval >= 0")
    return BoxRetryStrategy(max_attempts=max_attempts, retry_base_interval=base_interval)


def _auth(conn: ConnectionSettings, extra: Mapping[str, Any]) -> tuple[Authentication, str]:
    login, password = _text(conn.login), _text(conn.password)
    enterprise_id, user_id = _text(extra.get("enterprise_id")), _text(extra.get("user_id"))
    jwt_raw = extra.get("jwt_config")  # a JSON string, or already an object when the extras were written as JSON
    jwt_json = json.dumps(jwt_raw) if isinstance(jwt_raw, dict) else _text(jwt_raw)
    jwt_path = _text(extra.get("jwt_config_path"))
    if jwt_json and jwt_path:
        raise BoxConnectionError(f"Box connection {conn.conn_id!r} sets both jwt_config and jwt_config_path; "
                                 f"keep one. {ACCEPTED_FIELDS}")
    if jwt_json or jwt_path:
        config = _jwt_config(conn.conn_id, jwt_json, jwt_path)
        # Explicit extras override the config file's subject; a user id wins, as it does for CCG.
        if user_id:
            config.enterprise_id, config.user_id = None, user_id
        elif enterprise_id:
            config.enterprise_id = enterprise_id
        subject = f"user {config.user_id}" if config.enterprise_id is None else f"enterprise {config.enterprise_id}"
        return BoxJWTAuth(config), f"JWT ({subject})"
    if login and password:
        if not (enterprise_id or user_id):
            raise BoxConnectionError(f"Box connection {conn.conn_id!r} has a client id and secret (CCG) but "
                                     f"neither extra enterprise_id nor user_id. {ACCEPTED_FIELDS}")
        subject = f"user {user_id}" if user_id else f"enterprise {enterprise_id}"
        return BoxCCGAuth(CCGConfig(login, password, enterprise_id=enterprise_id, user_id=user_id)), f"CCG ({subject})"
    if password and not login:
        return _DeveloperTokenAuth(password), "developer token"
    raise BoxConnectionError(f"Box connection {conn.conn_id!r} has no usable credentials. {ACCEPTED_FIELDS}")


def _jwt_config(conn_id: str | None, jwt_json: str | None, jwt_path: str | None) -> JWTConfig:
    # The SDK's parse errors can quote the document, which holds the private key and the
    # client secret, so they are replaced rather than chained.
    try:
        if jwt_path:
            return JWTConfig.from_config_file(jwt_path)
        return JWTConfig.from_config_json_string(jwt_json or "")
    except OSError as error:
        raise BoxConnectionError(f"Box connection {conn_id!r}: cannot read jwt_config_path {jwt_path!r} "
                                 f"({error.strerror})") from None
    except Exception:
        source = f"the file {jwt_path!r}" if jwt_path else "extra jwt_config"
        raise BoxConnectionError(
            f"Box connection {conn_id!r}: {source} is not a Box JWT app config (expected the JSON downloaded "
            "from the Box developer console, with boxAppSettings.clientID, clientSecret and "
            "appAuth.publicKeyID, privateKey, passphrase)") from None


def _base_urls(extra: Mapping[str, Any]) -> BaseUrls:
    """Box's default hosts, overridden per extra (a trailing slash would produce ``//2.0`` paths)."""
    overrides = {
        keyword: url.rstrip("/")
        for keyword, field in (("base_url", "base_url"), ("upload_url", "upload_url"), ("oauth_2_url", "oauth2_url"))
        if (url := _text(extra.get(field)))
    }
    return BaseUrls(**overrides)
