"""Data API error objects, shaped like the real service's ``errors`` entries.

The real Data API answers most refusals with HTTP 200 and an ``errors`` list (astrapy turns that
into ``DataAPIResponseException``); only security errors override the status (401). Codes,
families, scopes and titles follow stargate/data-api ``errors.yaml``.
"""

from __future__ import annotations

import uuid
from typing import Any


class DataAPIError(Exception):
    """One refusal, raised anywhere in the engine and rendered by :meth:`to_json`."""

    def __init__(
        self, code: str, message: str, *, scope: str = "", title: str | None = None,
        family: str = "REQUEST", http_status: int = 200, document_ids: list[Any] | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.scope = scope
        self.title = title or code.replace("_", " ").capitalize()
        self.family = family
        self.http_status = http_status
        self.document_ids = document_ids

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": str(uuid.uuid4()), "family": self.family, "scope": self.scope,
            "errorCode": self.code, "title": self.title, "message": self.message,
        }
        if self.document_ids:
            body["documentIds"] = self.document_ids
        return body


def missing_token() -> DataAPIError:
    return DataAPIError(
        "MISSING_AUTHENTICATION_TOKEN",
        "The command did not include an authorization token in the request headers.\n\n"
        "The authorization header is: Token.\n\nResend the command using the correct authentication details.",
        scope="SECURITY", title="Missing authorization token", http_status=401,
    )


def unauthenticated() -> DataAPIError:
    return DataAPIError(
        "UNAUTHENTICATED_REQUEST",
        "Authentication failed for request due to invalid token.\n\nResend with valid authentication token.",
        scope="SECURITY", title="Authentication failed", http_status=401,
    )


def field_value_invalid(field: str, value: Any, problem: str) -> DataAPIError:
    """Bean-validation failures (``@Positive`` limit, insertMany size, ...)."""
    return DataAPIError(
        "COMMAND_FIELD_VALUE_INVALID",
        f"Command field '{field}' value {value} not valid: {problem}.\n\nResend command with valid value.",
        title="Command field value invalid",
    )


def structure_mismatch(problem: str) -> DataAPIError:
    return DataAPIError("REQUEST_STRUCTURE_MISMATCH",
                        f"Request is valid JSON but has a structural mismatch: {problem}.\n\n"
                        "Resend request with valid structure.", title="Request structure not valid")


def not_json(problem: str) -> DataAPIError:
    return DataAPIError("REQUEST_NOT_JSON", f"Request not valid JSON, problem: {problem}.\n\n"
                        "Resend request as valid JSON.", title="Request not valid JSON")


def unsupported_content_type() -> DataAPIError:
    return DataAPIError("UNSUPPORTED_CONTENT_TYPE",
                        "Request sent with unsupported 'Content-Type' header value.\n\n"
                        "The API only supports content type: application/json\n\n"
                        "Resend with supported 'Content-Type' header.",
                        title="Unsupported Content-Type", http_status=415)


def unknown_command(name: str, where: str) -> DataAPIError:
    return DataAPIError(
        "COMMAND_UNKNOWN",
        f"Provided command unknown: '{name}' is not a recognised {where} command.\n\n"
        "Resend the command using a supported command.",
        title="Command unknown",
    )


def document_error(code: str, message: str, title: str, **kwargs: Any) -> DataAPIError:
    return DataAPIError(code, message, scope="DOCUMENT", title=title, **kwargs)


def doc_limit(problem: str) -> DataAPIError:
    return document_error("SHRED_DOC_LIMIT_VIOLATION", f"Document size limitation violated: {problem}.",
                          "Document size limitation violated")


def filter_invalid(problem: str) -> DataAPIError:
    return DataAPIError("FILTER_INVALID_EXPRESSION", f"Invalid filter expression: {problem}.",
                        scope="FILTER", title="Invalid filter expression")


def sort_invalid(problem: str) -> DataAPIError:
    return DataAPIError("SORT_CLAUSE_INVALID", f"Sort clause not valid: {problem}.", scope="SORT",
                        title="Sort clause not valid")


def projection_invalid(problem: str) -> DataAPIError:
    return DataAPIError("UNSUPPORTED_PROJECTION_PARAM", f"Unsupported projection parameter: {problem}.",
                        scope="PROJECTION", title="Unsupported projection parameter")


def update_invalid(code: str, problem: str) -> DataAPIError:
    return DataAPIError(code, f"Update operation not supported: {problem}.", scope="UPDATE",
                        title="Unsupported update operation")


def schema_error(code: str, message: str, title: str | None = None) -> DataAPIError:
    return DataAPIError(code, message, scope="SCHEMA", title=title)


def unknown_keyspace(keyspace: str) -> DataAPIError:
    return schema_error(
        "UNKNOWN_KEYSPACE",
        f"The command tried to use a Keyspace that does not exist in the Database.\n\n"
        f"The keyspace used by the command: {keyspace}.\n\nResend the command using a Keyspace that exists.",
        "Keyspace does not exist in the Database",
    )


def unknown_collection(keyspace: str, name: str, existing: list[str]) -> DataAPIError:
    return schema_error(
        "UNKNOWN_COLLECTION_OR_TABLE",
        f"The command tried to get a Collection or Table {name} that does not exist in the Keyspace {keyspace}.\n\n"
        f"The keyspace has the existing collections or tables: {existing}.\n\n"
        "Resend the command using a Collection or Table that exists.",
        "Collection or Table does not exist in the Keyspace",
    )


_SERVER_TITLES = {
    "UNAVAILABLE_DATABASE": "The database is unavailable",
    "FAILED_TO_CONNECT_TO_DATABASE": "Data API Failed to connect to the database",
    "FAILED_CONCURRENT_OPERATIONS": "Failed to complete concurrent operations on the database",
    "COUNT_READ_FAILED": "Count read failed",
}


def transient_server_error(code: str, keyspace: str | None, name: str | None) -> DataAPIError:
    """A SERVER-family, DATABASE-scope error that the real service answers with HTTP 200."""
    return DataAPIError(
        code, f"The Data API could not complete the command on the database (injected by the stand-in).\n\n"
        f"The command used the keyspace and table or collection: {keyspace}.{name}.\n\n"
        "It is safe to retry this request.",
        family="SERVER", scope="DATABASE", title=_SERVER_TITLES.get(code),
    )


def filter_unsupported_data_type(problem: str) -> DataAPIError:
    return DataAPIError("FILTER_UNSUPPORTED_DATA_TYPE", f"Unsupported filter data type: {problem}.\n\n"
                        "Resend the command using supported filter data types.", scope="FILTER",
                        title="Unsupported filter data type")
