"""What :class:`~airflow_provider_vectorbackup.stores.box.client.BoxApi` returns and raises.

Plain, frozen values instead of boxsdk models: they pickle, compare and fit in XCom, and they
carry no client (and so no credential) with them.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable
from typing import Any

from box_sdk_gen import BoxSDKError

from airflow_provider_vectorbackup.exceptions import CredentialsRejected
from airflow_provider_vectorbackup.stores.box.auth import DeveloperTokenRefused

REFUSED_GRANTS = frozenset({"invalid_client", "invalid_grant", "unauthorized_client"})
"""OAuth errors of the token endpoint (HTTP 400) that refuse the app's credentials; see docs/connections.md."""
QUOTA_REFUSALS = frozenset({"storage_limit_exceeded", "file_size_limit_exceeded"})
"""HTTP 403 codes that are about the account's space, not about access: checking credentials would not help."""
_CHECK_CREDENTIALS = {
    "CCG": "the client id (login), the client secret (password) and the enterprise_id or user_id extra, and that an "
           "admin authorized the app in the Box Admin Console",
    "JWT": "the app config (jwt_config or jwt_config_path: public key id, private key, passphrase) and the "
           "enterprise_id or user_id extra, and that an admin authorized the app in the Box Admin Console",
    "developer token": "the developer token in the password: it lasts 60 minutes, generate a new one in the Box "
                       "Developer Console",
}


@dataclasses.dataclass(frozen=True)
class BoxItem:
    """A Box file, folder or web link.

    :param id: Box item id.
    :param name: item name.
    :param type: ``"file"``, ``"folder"`` (or ``"web_link"``).
    :param size: bytes, when Box sent it.
    :param sha1: lowercase hex SHA-1 of a file's current version; ``None`` for folders.
    :param parent_id: id of the containing folder, when Box sent it.
    """

    id: str
    name: str
    type: str
    size: int | None = None
    sha1: str | None = None
    parent_id: str | None = None

    @classmethod
    def from_sdk(cls, item: Any, *, parent_id: str | None = None) -> BoxItem:
        """Convert any boxsdk file/folder/web-link model (mini or full).

        :param parent_id: the parent to record when the model has none (boxsdk parses listed
            folders as ``FolderMini``, which drops ``parent``).
        """
        parent = getattr(item, "parent", None)
        sha1 = getattr(item, "sha_1", None)
        item_type = getattr(item, "type", None)
        return cls(
            id=str(item.id),
            name=getattr(item, "name", None) or "",
            type=str(getattr(item_type, "value", item_type) or "file"),
            size=getattr(item, "size", None),
            sha1=sha1.lower() if sha1 else None,
            parent_id=getattr(parent, "id", None) or parent_id,
        )

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> BoxItem:
        """Convert a raw item as found in an error's ``context_info.conflicts``."""
        parent = item.get("parent") or {}
        sha1 = item.get("sha1")
        return cls(
            id=str(item["id"]),
            name=item.get("name") or "",
            type=item.get("type") or "file",
            size=item.get("size"),
            sha1=sha1.lower() if sha1 else None,
            parent_id=parent.get("id"),
        )


class BoxIntegrityError(Exception):
    """The SHA-1 (or a SHA-256 asked for) of bytes in Box and of bytes on this machine differ.

    :param message: what was being checked and what to do about it.
    :param name: file name or id concerned.
    :param expected_sha1: the SHA-1 that should have been found.
    :param actual_sha1: the SHA-1 actually found.
    :param expected_sha256: the SHA-256 that should have been found, when the SHA-256 was the one that differed.
    :param actual_sha256: the SHA-256 actually found, then.
    """

    def __init__(self, message: str, *, name: str, expected_sha1: str | None, actual_sha1: str | None,
                 expected_sha256: str | None = None, actual_sha256: str | None = None) -> None:
        super().__init__(message)
        self.name = name
        self.expected_sha1 = expected_sha1
        self.actual_sha1 = actual_sha1
        self.expected_sha256 = expected_sha256
        self.actual_sha256 = actual_sha256


class BoxNameConflictError(Exception):
    """A name is already taken in the target folder by a different item.

    :param message: both names and what to do about it.
    :param existing: the item that holds the name, when Box reported it.
    """

    def __init__(self, message: str, *, existing: BoxItem | None) -> None:
        super().__init__(message)
        self.existing = existing


def conflicting_item(error: Any) -> BoxItem | None:
    """The item named in a 409 ``item_name_in_use``, or ``None`` for any other error.

    Box sends ``context_info.conflicts`` as an object for uploads and as an array for folder
    operations; both are accepted.
    """
    info = getattr(error, "response_info", None)
    if info is None or info.status_code != 409 or info.code != "item_name_in_use":
        return None
    conflicts = (info.context_info or {}).get("conflicts")
    if isinstance(conflicts, list):
        conflicts = conflicts[0] if conflicts else None
    if not isinstance(conflicts, dict) or "id" not in conflicts:
        return None
    return BoxItem.from_json(conflicts)


class BoxOperationError(Exception):
    """A Box call failed. Carries status, Box's error code and request id, never the request itself.

    boxsdk's own errors print the request, and for a JWT token grant that includes the signed
    assertion, a short-lived credential; BoxApi raises this instead.
    """

    def __init__(self, message: str, *, status_code: int | None, code: str | None, request_id: str | None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.request_id = request_id

    @classmethod
    def from_sdk(cls, error: Exception) -> BoxOperationError:
        info = getattr(error, "response_info", None)
        return cls(describe_api_error(error), status_code=getattr(info, "status_code", None),
                   code=getattr(info, "code", None), request_id=getattr(info, "request_id", None))


def credentials_rejected(error: Exception, conn_id: str, auth: str) -> CredentialsRejected | None:
    """``error`` as the refusal of connection ``conn_id``'s credentials, or ``None`` if it is another failure.

    Refusals are HTTP 401 and 403, the token endpoint's OAuth errors in :data:`REFUSED_GRANTS`
    (CCG and JWT), and a developer token Box no longer accepts.

    :param auth: the client's description of its auth, e.g. ``"CCG (enterprise 1000)"``.
    """
    info = getattr(error, "response_info", None)
    if isinstance(error, DeveloperTokenRefused):
        status = 401
    elif info is None:
        return None
    else:
        status = info.status_code
        grant_error = info.body.get("error") if isinstance(info.body, dict) else None
        if status not in (401, 403) and grant_error not in REFUSED_GRANTS:
            return None
        if status == 403 and (info.code or (info.body or {}).get("code")) in QUOTA_REFUSALS:
            return None
    reason = describe_api_error(error)
    if status == 403:
        message = (f"Box refused connection {conn_id!r} ({auth} auth) access ({reason}): check that the app's scopes "
                   f"include reading and writing all files and folders, and that its service account (or the user) "
                   f"is a collaborator on the snapshot folder")
    else:
        kind = auth.split(" (")[0]
        message = (f"Box refused the credentials of connection {conn_id!r} ({auth} auth; {reason}): check "
                   f"{_CHECK_CREDENTIALS.get(kind, 'the connection')}")
    return CredentialsRejected(message, conn_id=conn_id, service="Box", status=status)


def secret_free_errors(method: Callable[..., Any]) -> Callable[..., Any]:
    """Turn boxsdk errors escaping a public BoxApi method into :class:`CredentialsRejected` (a refusal of the
    connection's credentials, named by its ``conn_id``) or :class:`BoxOperationError`."""

    def secret_free(api: Any, error: BoxSDKError) -> Exception:
        return (credentials_rejected(error, api.conn_id, api.auth_description)
                or BoxOperationError.from_sdk(error))

    if inspect.isgeneratorfunction(method):
        @functools.wraps(method)
        def generator(api: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                yield from method(api, *args, **kwargs)
            except BoxSDKError as error:
                raise secret_free(api, error) from None
        return generator

    @functools.wraps(method)
    def wrapper(api: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(api, *args, **kwargs)
        except BoxSDKError as error:
            raise secret_free(api, error) from None
    return wrapper


def describe_api_error(error: Exception) -> str:
    """A one-line, secret-free description of a boxsdk error.

    ``str()`` of a boxsdk error embeds the request (headers and body, only partly redacted);
    this keeps to the status, Box's error code and message, and the request id.
    """
    info = getattr(error, "response_info", None)
    if info is None:
        return f"{type(error).__name__}: {getattr(error, 'message', None) or error}"
    body = info.body if isinstance(info.body, dict) else {}
    code = info.code or body.get("error")
    message = body.get("message") or body.get("error_description") or ""
    text = f"HTTP {info.status_code}"
    if code:
        text += f" {code}"
    if message:
        text += f": {message}"
    if info.request_id:
        text += f" (request id {info.request_id})"
    return text
