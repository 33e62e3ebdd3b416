"""The Box stand-in's two ASGI apps: the API host and the download host it redirects to.

The API app serves ``/oauth2/token`` and ``/2.0/...`` like api.box.com, and the upload
endpoints under ``/api/2.0/...`` like upload.box.com (each only under its own prefix, so a
client that posts an upload to the wrong base URL fails here as it would against Box).
Downloads answer 302 to the second app, which plays dl.boxcloud.com: no auth, byte ranges.
"""

from __future__ import annotations

import base64
import binascii
import collections
import hashlib
import json
import os
import secrets
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from airflow_provider_vectorbackup.testing.box.auth import OAuthError, TokenIssuer
from airflow_provider_vectorbackup.testing.box.errors import BoxError, error_body
from airflow_provider_vectorbackup.testing.box.multipart import receive_upload
from airflow_provider_vectorbackup.testing.box.sessions import UploadSessions, decode_sha_digest
from airflow_provider_vectorbackup.testing.box.shapes import ORDER, full, mini, select, sorted_children
from airflow_provider_vectorbackup.testing.box.store import BoxStore, Item, check_etag, validate_name
from airflow_provider_vectorbackup.testing.faults import FaultInjector, FaultMiddleware

Handler = Callable[[Request], Awaitable[Response]]
MAX_LIMIT = 1000
MAX_OFFSET = 10000


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(body, status_code=status, headers=headers)


def _error(error: BoxError) -> Response:
    if error.status == 401:  # Box's 401 has no body, only WWW-Authenticate.
        return Response(status_code=401, headers=error.headers)
    return _json(error.status, error.body(), error.headers)


def _bool(value: str | None) -> bool:
    return (value or "").lower() == "true"  # the SDK sends Python's "True"


def _int(value: str | None, name: str, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise BoxError(400, "bad_request", f"Invalid value '{value}' for query parameter '{name}'") from None
    if number < 0:
        raise BoxError(400, "bad_request", f"Invalid value '{value}' for query parameter '{name}'")
    return number


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = json.loads(raw) if raw else {}
    except ValueError:
        raise BoxError(400, "bad_request", "Request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise BoxError(400, "bad_request", "Request body must be a JSON object")
    return body


def _parent_id(body: dict[str, Any]) -> str:
    parent = body.get("parent")
    if not isinstance(parent, dict) or not isinstance(parent.get("id"), str):
        raise BoxError(400, "bad_request", "parent.id is required")
    return parent["id"]


def _upload_base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/api"


class BoxService:
    """State shared by both apps: the tree, upload sessions, tokens, counters and faults."""

    def __init__(self, store: BoxStore, sessions: UploadSessions, auth: TokenIssuer, faults: FaultInjector) -> None:
        self.store = store
        self.sessions = sessions
        self.auth = auth
        self.faults = faults
        self.download_url = ""
        """Set once the download host is listening; 302 targets point there."""
        self.request_counts: collections.Counter[str] = collections.Counter()
        self._counts_lock = threading.Lock()
        self.download_links: dict[str, str] = {}
        """Download-link token (the path on the download host) -> file version id."""
        self.api_app = self._wrap(Starlette(routes=self._api_routes(), exception_handlers=self._handlers()))
        self.download_app = self._wrap(Starlette(routes=[
            Route("/d/1/{token}/download", self._endpoint("download_bytes", self.download_bytes, auth=False)),
        ], exception_handlers=self._handlers()))

    def reset(self) -> None:
        with self._counts_lock:
            self.request_counts.clear()
        self.download_links.clear()

    def _wrap(self, app: Any) -> Any:
        return FaultMiddleware(app, self.faults, error_body)

    @staticmethod
    def _handlers() -> dict[Any, Any]:
        async def http_error(request: Request, exc: Exception) -> Response:
            assert isinstance(exc, HTTPException)
            return _error(BoxError(exc.status_code))
        return {HTTPException: http_error}

    def _endpoint(self, operation: str, handler: Handler, *, auth: bool = True) -> Handler:
        async def endpoint(request: Request) -> Response:
            with self._counts_lock:
                self.request_counts[operation] += 1
            try:
                if auth:
                    self.auth.check_bearer(request.headers.get("authorization"))
                return await handler(request)
            except BoxError as error:
                return _error(error)
        return endpoint

    def _api_routes(self) -> list[Route]:
        def route(path: str, method: str, operation: str, handler: Handler, *, auth: bool = True) -> Route:
            return Route(path, self._endpoint(operation, handler, auth=auth), methods=[method])

        sessions = "/api/2.0/files/upload_sessions"
        return [
            route("/oauth2/token", "POST", "token", self.token, auth=False),
            route("/2.0/folders", "POST", "create_folder", self.create_folder),
            route("/2.0/folders/{folder_id}", "GET", "get_folder", self.get_folder),
            route("/2.0/folders/{folder_id}", "PUT", "update_folder", self.update_folder),
            route("/2.0/folders/{folder_id}", "DELETE", "delete_folder", self.delete_folder),
            route("/2.0/folders/{folder_id}/items", "GET", "list_folder_items", self.list_folder_items),
            route("/2.0/files/content", "OPTIONS", "preflight", self.preflight),
            route("/2.0/files/{file_id}", "GET", "get_file", self.get_file),
            route("/2.0/files/{file_id}", "PUT", "update_file", self.update_file),
            route("/2.0/files/{file_id}", "DELETE", "delete_file", self.delete_file),
            route("/2.0/files/{file_id}/content", "GET", "download", self.download),
            route("/api/2.0/files/content", "POST", "upload_file", self.upload_file),
            route(sessions, "POST", "create_upload_session", self.create_upload_session),
            route(sessions + "/{session_id}", "PUT", "upload_part", self.upload_part),
            route(sessions + "/{session_id}", "GET", "get_upload_session", self.get_upload_session),
            route(sessions + "/{session_id}", "DELETE", "abort_upload_session", self.abort_upload_session),
            route(sessions + "/{session_id}/parts", "GET", "list_upload_session_parts", self.list_parts),
            route(sessions + "/{session_id}/commit", "POST", "commit_upload_session", self.commit),
            route(sessions + "/{session_id}/plan", "POST", "plan_upload_session", self.plan),
            route("/api/2.0/files/{file_id}/content", "POST", "upload_file_version", self.upload_file_version),
            route("/api/2.0/files/{file_id}/upload_sessions", "POST", "create_file_version_upload_session",
                  self.create_version_upload_session),
        ]

    # -- auth ------------------------------------------------------------------------------

    async def token(self, request: Request) -> Response:
        form = await request.form()
        try:
            return _json(200, self.auth.grant({key: str(value) for key, value in form.items()}))
        except OAuthError as refusal:
            return _json(refusal.status, refusal.body)

    # -- folders ---------------------------------------------------------------------------

    def _item_response(self, status: int, request: Request, item: Item) -> Response:
        with self.store.lock:
            return _json(status, select(full(self.store, item), request.query_params.get("fields")))

    async def get_folder(self, request: Request) -> Response:
        return self._item_response(200, request, self.store.folder(request.path_params["folder_id"]))

    async def list_folder_items(self, request: Request) -> Response:
        query = request.query_params
        limit = min(_int(query.get("limit"), "limit", 100), MAX_LIMIT) or 1
        fields = query.get("fields")
        with self.store.lock:
            folder = self.store.folder(request.path_params["folder_id"])

            def shape(child: Item) -> dict[str, Any]:
                return select(full(self.store, child), fields) if fields else mini(child)

            if _bool(query.get("usemarker")):
                after = _decode_marker(query.get("marker")) if query.get("marker") else 0
                ordered = sorted(folder.children.values(), key=lambda child: int(child.id))
                remaining = [child for child in ordered if int(child.id) > after]
                page = remaining[:limit]
                next_marker = _encode_marker(page[-1].id) if len(remaining) > limit else None
                return _json(200, {"entries": [shape(child) for child in page], "limit": limit,
                                   "next_marker": next_marker})
            offset = _int(query.get("offset"), "offset", 0)
            if offset > MAX_OFFSET:
                raise BoxError(400, "bad_request", f"Offset {offset} exceeds the maximum of {MAX_OFFSET}; use usemarker")
            ordered = sorted_children(folder)
            return _json(200, {"total_count": len(ordered), "entries": [shape(c) for c in ordered[offset:offset + limit]],
                               "offset": offset, "limit": limit, "order": ORDER})

    async def create_folder(self, request: Request) -> Response:
        body = await _body(request)
        folder = self.store.create_folder(body.get("name"), _parent_id(body))
        return self._item_response(201, request, folder)

    async def update_folder(self, request: Request) -> Response:
        return await self._update(request, self.store.folder(request.path_params["folder_id"]), conflicts_as_list=True)

    async def _update(self, request: Request, item: Item, *, conflicts_as_list: bool) -> Response:
        body = await _body(request)
        with self.store.lock:
            check_etag(item, request.headers.get("if-match"))
            parent_id = _parent_id(body) if "parent" in body else None
            if "name" in body or parent_id is not None:
                self.store.move(item, name=body.get("name"), parent_id=parent_id, conflicts_as_list=conflicts_as_list)
            return self._item_response(200, request, item)

    async def delete_folder(self, request: Request) -> Response:
        self.store.delete_folder(request.path_params["folder_id"], recursive=_bool(request.query_params.get("recursive")),
                                 if_match=request.headers.get("if-match"))
        return Response(status_code=204)

    # -- files -----------------------------------------------------------------------------

    async def get_file(self, request: Request) -> Response:
        file = self.store.file(request.path_params["file_id"])
        if request.headers.get("if-none-match") == str(file.etag):
            return Response(status_code=304)
        return self._item_response(200, request, file)

    async def update_file(self, request: Request) -> Response:
        return await self._update(request, self.store.file(request.path_params["file_id"]), conflicts_as_list=True)

    async def delete_file(self, request: Request) -> Response:
        self.store.delete_file(request.path_params["file_id"], if_match=request.headers.get("if-match"))
        return Response(status_code=204)

    async def download(self, request: Request) -> Response:
        file = self.store.file(request.path_params["file_id"])
        wanted = request.query_params.get("version")
        version = file.current if wanted is None else next((v for v in file.versions if v.id == wanted), None)
        if version is None:
            raise BoxError(404, "not_found", "Not Found")
        token = secrets.token_urlsafe(16)
        self.download_links[token] = version.id
        return Response(status_code=302, headers={"location": f"{self.download_url}/d/1/{token}/download"})

    async def download_bytes(self, request: Request) -> Response:
        version_id = self.download_links.get(request.path_params["token"])
        if version_id is None:
            raise BoxError(404, "not_found", "Not Found")
        version = self.store.version(version_id)
        return FileResponse(version.path, media_type="application/octet-stream")

    # -- direct uploads --------------------------------------------------------------------

    async def preflight(self, request: Request) -> Response:
        body = await _body(request)
        with self.store.lock:
            name = body.get("name")
            validate_name(name)
            self.store.check_free(self.store.folder(_parent_id(body)), name, conflicts_as_list=False)
        return _json(200, {"upload_url": _upload_base(request) + "/2.0/files/content",
                           "upload_token": secrets.token_urlsafe(16)})

    async def _receive(self, request: Request) -> tuple[Any, Any]:
        staged = self.store.staging_file()
        try:
            upload = await receive_upload(request.headers.get("content-type"), request.stream(), staged)
            claimed = request.headers.get("content-md5")
            if claimed is not None and claimed.lower() != upload.sha1:
                raise BoxError(400, "bad_digest", "The specified content-md5 did not match what we received")
        except BaseException:
            staged.unlink(missing_ok=True)
            raise
        return upload, staged

    def _files_response(self, status: int, request: Request, item: Item) -> Response:
        with self.store.lock:
            entry = select(full(self.store, item), request.query_params.get("fields"))
        return _json(status, {"total_count": 1, "entries": [entry]})

    async def upload_file(self, request: Request) -> Response:
        upload, staged = await self._receive(request)
        try:
            file = self.store.add_file(upload.attributes.get("name"), _parent_id(upload.attributes), staged,
                                       upload.sha1, upload.size)
        finally:
            staged.unlink(missing_ok=True)
        return self._files_response(201, request, file)

    async def upload_file_version(self, request: Request) -> Response:
        self.store.file(request.path_params["file_id"])
        upload, staged = await self._receive(request)
        try:
            file = self.store.add_version(request.path_params["file_id"], staged, upload.sha1, upload.size,
                                          name=upload.attributes.get("name"), if_match=request.headers.get("if-match"))
        finally:
            staged.unlink(missing_ok=True)
        return self._files_response(200, request, file)

    # -- chunked upload sessions -----------------------------------------------------------

    async def create_upload_session(self, request: Request) -> Response:
        body = await _body(request)
        folder_id = body.get("folder_id")
        if not isinstance(folder_id, str):
            raise BoxError(400, "bad_request", "folder_id is required")
        session = self.sessions.create(file_name=body.get("file_name"), file_size=body.get("file_size"),
                                       folder_id=folder_id)
        return _json(201, session.to_json(_upload_base(request)))

    async def create_version_upload_session(self, request: Request) -> Response:
        body = await _body(request)
        session = self.sessions.create(file_name=body.get("file_name"), file_size=body.get("file_size"),
                                       file_id=request.path_params["file_id"])
        return _json(201, session.to_json(_upload_base(request)))

    async def get_upload_session(self, request: Request) -> Response:
        return _json(200, self.sessions.get(request.path_params["session_id"]).to_json(_upload_base(request)))

    async def upload_part(self, request: Request) -> Response:
        expected_sha1 = decode_sha_digest(request.headers.get("digest"))
        session, offset, size = self.sessions.begin_part(request.path_params["session_id"],
                                                         request.headers.get("content-range"))
        digest, written = hashlib.sha1(), 0
        try:
            fd = os.open(session.staged, os.O_WRONLY)
            try:
                async for chunk in request.stream():
                    if written + len(chunk) <= size:
                        os.pwrite(fd, chunk, offset + written)
                        digest.update(chunk)
                    written += len(chunk)
            finally:
                os.close(fd)
        except BaseException:
            self.sessions.release(session, offset)
            raise
        sha1 = digest.hexdigest() if written == size else None
        part = self.sessions.finish_part(session, offset, sha1, expected_sha1)
        return _json(200, {"part": part.to_json()})

    async def list_parts(self, request: Request) -> Response:
        session = self.sessions.get(request.path_params["session_id"])
        offset = _int(request.query_params.get("offset"), "offset", 0)
        limit = min(_int(request.query_params.get("limit"), "limit", 100), MAX_LIMIT) or 1
        parts = sorted(session.parts.values(), key=lambda part: part.offset)
        return _json(200, {"entries": [part.to_json() for part in parts[offset:offset + limit]],
                           "total_count": len(parts), "offset": offset, "limit": limit})

    async def commit(self, request: Request) -> Response:
        digest = decode_sha_digest(request.headers.get("digest"))
        body = await _body(request)
        result = self.sessions.commit(request.path_params["session_id"], body.get("parts"), digest)
        if result is None:
            return Response(status_code=202, headers={"retry-after": _seconds(self.sessions.commit_retry_after)})
        return self._files_response(201, request, result[1])

    async def abort_upload_session(self, request: Request) -> Response:
        self.sessions.abort(request.path_params["session_id"])
        return Response(status_code=204)

    async def plan(self, request: Request) -> Response:
        body = await _body(request)
        return _json(200, self.sessions.plan(request.path_params["session_id"], body.get("parts")))


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _encode_marker(item_id: str) -> str:
    return base64.urlsafe_b64encode(f"id:{item_id}".encode()).decode()


def _decode_marker(marker: str) -> int:
    try:
        kind, _, item_id = base64.urlsafe_b64decode(marker.encode()).decode().partition(":")
        if kind == "id":
            return int(item_id)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise BoxError(400, "invalid_marker", "Invalid marker")
