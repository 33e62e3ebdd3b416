"""Box's OAuth token endpoint and Bearer checks: CCG, JWT and developer tokens.

Tokens expire (after a TTL, or at once through :meth:`TokenIssuer.expire_all`) because the
SDK only refreshes after a 401, and that path must be exercised.
"""

from __future__ import annotations

import secrets
import threading
import time
from typing import Any

import jwt

from airflow_provider_vectorbackup.testing.box.errors import BoxError

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
MAX_ASSERTION_LIFETIME = 60
"""Box refuses assertions whose ``exp`` is more than 60 seconds away."""


class OAuthError(Exception):
    """A token endpoint refusal, in the OAuth shape rather than Box's API error shape."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.status = status
        self.body = {"error": error, "error_description": description}


def _invalid_grant() -> OAuthError:
    return OAuthError("invalid_grant", "Grant credentials are invalid")


class TokenIssuer:
    """Issues and checks access tokens for one app (client id/secret) in one enterprise."""

    def __init__(
        self, *, client_id: str, client_secret: str, enterprise_id: str, developer_token: str | None,
        ttl_seconds: float, jwt_public_key: str | bytes | None,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.enterprise_id = enterprise_id
        self.developer_token = developer_token
        self.ttl_seconds = ttl_seconds
        self.jwt_public_key = jwt_public_key
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._expiry: dict[str, float] = {}
            self._used_jti: set[str] = set()
            self.developer_token_expired = False
            self.issued = 0

    def grant(self, form: dict[str, str]) -> dict[str, Any]:
        """Answer ``POST /oauth2/token``; raises :class:`OAuthError` on refusal."""
        grant_type = form.get("grant_type")
        if grant_type not in ("client_credentials", JWT_GRANT):
            raise OAuthError("unsupported_grant_type", "Grant type is not supported")
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            raise OAuthError("invalid_client", "The client credentials are invalid")
        if grant_type == "client_credentials":
            self._check_subject(form.get("box_subject_type"), form.get("box_subject_id"))
        else:
            self._check_assertion(form.get("assertion", ""))
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._expiry[token] = time.monotonic() + self.ttl_seconds
            self.issued += 1
        return {"access_token": token, "expires_in": int(self.ttl_seconds), "token_type": "bearer",
                "restricted_to": [], "issued_token_type": "urn:ietf:params:oauth:token-type:access_token"}

    def _check_subject(self, subject_type: str | None, subject_id: str | None) -> None:
        # The stand-in has no user directory: any user id is accepted, the enterprise must match.
        if subject_type == "enterprise" and subject_id == self.enterprise_id:
            return
        if subject_type == "user" and subject_id:
            return
        raise _invalid_grant()

    def _check_assertion(self, assertion: str) -> None:
        options: dict[str, Any] = {"verify_aud": False, "require": ["exp", "iss", "sub", "jti"]}
        if self.jwt_public_key is None:
            options["verify_signature"] = False
        try:
            claims = jwt.decode(assertion, self.jwt_public_key or "", algorithms=["RS256"], options=options)
        except jwt.PyJWTError:
            raise _invalid_grant() from None
        if claims["iss"] != self.client_id:
            raise _invalid_grant()
        if claims["exp"] > time.time() + MAX_ASSERTION_LIFETIME:
            raise OAuthError("invalid_grant", "Please check the 'exp' claim.")
        with self._lock:
            if claims["jti"] in self._used_jti:
                raise OAuthError("invalid_grant", "Please check the 'jti' claim.")
            self._used_jti.add(claims["jti"])
        self._check_subject(claims.get("box_sub_type"), str(claims["sub"]))

    def check_bearer(self, authorization: str | None) -> None:
        """Raise Box's 401 unless ``authorization`` carries a live token."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() == "bearer" and token:
            if token == self.developer_token and not self.developer_token_expired:
                return
            with self._lock:
                if self._expiry.get(token, 0.0) > time.monotonic():
                    return
        raise BoxError(401, "unauthorized", "Unauthorized", headers={
            "www-authenticate": 'Bearer realm="Service", error="invalid_token", '
                                'error_description="The access token provided is invalid."',
        })

    def expire_all(self) -> None:
        """Make every issued token (and the developer token) invalid from now on."""
        with self._lock:
            self._expiry.clear()
            self.developer_token_expired = True
