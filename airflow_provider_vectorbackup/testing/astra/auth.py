"""The ``Token`` header check.

Accepted: the configured application token, and the ``Cassandra:<b64 user>:<b64 password>``
form astrapy's ``UsernamePasswordTokenProvider`` sends to HCD/DSE. Anything else is 401 with
``UNAUTHENTICATED_REQUEST``; no header at all is 401 with ``MISSING_AUTHENTICATION_TOKEN``.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hmac

from airflow_provider_vectorbackup.testing.astra.errors import missing_token, unauthenticated


@dataclasses.dataclass(frozen=True)
class Credentials:
    token: str
    username: str = "cassandra"
    password: str = "cassandra"

    def check(self, header: str | None) -> None:
        """Raise the 401 :class:`DataAPIError` for a missing or wrong ``Token`` header."""
        if not header:
            raise missing_token()
        if hmac.compare_digest(header.encode(), self.token.encode()):
            return
        if self._check_cassandra_form(header):
            return
        raise unauthenticated()

    def _check_cassandra_form(self, header: str) -> bool:
        parts = header.split(":")
        if len(parts) != 3 or parts[0] != "Cassandra":
            return False
        try:
            user, password = (base64.b64decode(p, validate=True).decode() for p in parts[1:])
        except (binascii.Error, UnicodeDecodeError):
            return False
        return user == self.username and password == self.password
