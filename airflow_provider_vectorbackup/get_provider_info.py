"""Provider metadata read by Airflow's ProvidersManager through the ``apache_airflow_provider`` entry point.

Connection forms are declared here as ``conn-fields`` / ``ui-field-behaviour`` (the Airflow 3.2+
way), so the UI can render them without importing any hook. On Airflow 3.1 the hooks serve the same
declarations through the older form methods (``compat.connection_form``).
"""

from __future__ import annotations

from typing import Any

from airflow_provider_vectorbackup import __version__

_OPTIONAL_STRING = {"type": ["string", "null"]}


def _field(label: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"label": label, "description": description, "schema": schema or dict(_OPTIONAL_STRING)}


ASTRA_CONNECTION = {
    "hook-class-name": "airflow_provider_vectorbackup.hooks.astra.AstraDBHook",
    "hook-name": "Astra DB (Data API)",
    "connection-type": "astra_db",
    "conn-fields": {
        "keyspace": _field("Keyspace", "Keyspace (namespace) holding the collections; Astra's default is "
                           "default_keyspace."),
        "environment": _field(
            "Environment", "astrapy environment: prod, dev or test for Astra; hcd, dse or other for a "
                           "self-managed Data API (uses the /v1 path and username/password).",
            {"type": ["string", "null"], "enum": ["prod", "dev", "test", "hcd", "dse", "cassandra", "other", None]}),
        "request_timeout_ms": _field("Request timeout (ms)", "Timeout of one Data API request.",
                                     {"type": ["integer", "null"], "default": 30000}),
        "insert_timeout_ms": _field("Insert timeout (ms)", "Timeout of one insertMany request during a restore.",
                                    {"type": ["integer", "null"], "default": 120000}),
        "max_attempts": _field("Attempts per request", "Attempts for a retryable request (timeouts, 429, 5xx, "
                               "dropped connections) before giving up.", {"type": ["integer", "null"], "default": 8}),
        "max_requests_per_second": _field(
            "Max requests per second", "Throttle: at most this many Data API requests per second from one hook "
                                       "(retries included), so a backup leaves room for production. Empty or 0: "
                                       "unlimited.", {"type": ["number", "null"], "minimum": 0}),
    },
    "ui-field-behaviour": {
        "hidden-fields": ["schema", "port", "extra"],
        "relabeling": {"host": "API endpoint", "password": "Application token (or password)",
                       "login": "Username (HCD/DSE only)"},
        "placeholders": {"host": "https://<database-id>-<region>.apps.astra.datastax.com",
                         "password": "AstraCS:...", "login": "leave empty for Astra",
                         "keyspace": "default_keyspace", "environment": "prod"},
    },
}

BOX_CONNECTION = {
    "hook-class-name": "airflow_provider_vectorbackup.hooks.box.BoxHook",
    "hook-name": "Box",
    "connection-type": "box",
    "conn-fields": {
        "enterprise_id": _field("Enterprise ID", "CCG or JWT: act as the enterprise's service account."),
        "user_id": _field("User ID", "CCG or JWT: act as this managed user instead of the service account."),
        "jwt_config": _field("JWT app config (JSON)", "JWT: the app's config JSON as downloaded from the Box "
                             "developer console.", {"type": ["string", "null"], "format": "password"}),
        "jwt_config_path": _field("JWT app config file", "JWT: path to the config JSON on the worker."),
        "base_url": _field("API base URL", "Override for proxies or the local stand-in; default "
                           "https://api.box.com."),
        "upload_url": _field("Upload base URL", "Override; default https://upload.box.com/api."),
        "oauth2_url": _field("OAuth2 base URL", "Override; default https://account.box.com/api/oauth2."),
        "max_attempts": _field("Attempts per request", "Attempts boxsdk makes for a retryable request (429, 5xx, "
                               "expired token).", {"type": ["integer", "null"], "default": 5}),
        "retry_base_interval": _field("Retry base interval (s)", "First back-off pause when Box sends no "
                                      "Retry-After; it doubles per attempt.", {"type": ["number", "null"], "default": 1}),
        "max_uploads_per_minute": _field(
            "Max uploads per minute", "Throttle for requests to the upload host (files, upload sessions, each part, "
                                      "commits; retries included), per hook. Box allows 240 per user; the default "
                                      "228 stays under it with the 5 % burst; 0: unlimited.",
            {"type": ["number", "null"], "minimum": 0, "default": 228}),
        "max_requests_per_minute": _field(
            "Max requests per minute", "Throttle for every Box request of one hook, uploads included. Box allows "
                                       "1000 per user; the default 952 stays under it with the 5 % burst; "
                                       "0: unlimited.",
            {"type": ["number", "null"], "minimum": 0, "default": 952}),
    },
    "ui-field-behaviour": {
        "hidden-fields": ["schema", "port", "host", "extra"],
        "relabeling": {"login": "Client ID (CCG)", "password": "Client secret (CCG) or developer token"},
        "placeholders": {"login": "leave empty for JWT or a developer token", "enterprise_id": "123456"},
    },
}

CHROMA_CONNECTION = {
    "hook-class-name": "airflow_provider_vectorbackup.hooks.chroma.ChromaHook",
    "hook-name": "Chroma",
    "connection-type": "chroma",
    "conn-fields": {
        "path": _field("Local path", "Instead of a server: the directory of a local Chroma (PersistentClient) on "
                       "the worker; host and port are then left empty."),
        "ssl": _field("SSL", "Server only: connect with https.", {"type": ["boolean", "null"], "default": False}),
        "tenant": _field("Tenant", "Chroma tenant; Chroma's default is default_tenant."),
        "database": _field("Database", "Chroma database holding the collections; Chroma's default is "
                           "default_database."),
    },
    "ui-field-behaviour": {
        "hidden-fields": ["schema", "login", "extra"],
        "relabeling": {"host": "Server host", "password": "Auth token"},
        "placeholders": {"host": "chroma.internal (empty with a local path)", "port": "8000",
                         "password": "leave empty for a server without auth",
                         "path": "/data/chroma", "tenant": "default_tenant", "database": "default_database"},
    },
}

MILVUS_CONNECTION = {
    "hook-class-name": "airflow_provider_vectorbackup.hooks.milvus.MilvusHook",
    "hook-name": "Milvus",
    "connection-type": "milvus",
    "conn-fields": {
        "path": _field("Milvus Lite path", "Instead of a server: the Milvus Lite database on the worker (e.g. "
                       "/data/milvus.db, which Milvus Lite makes a directory); the URI is then left empty."),
    },
    "ui-field-behaviour": {
        "hidden-fields": ["port", "extra"],
        "relabeling": {"host": "URI", "login": "User (with a password)", "password": "Token or password",
                       "schema": "Database"},
        "placeholders": {"host": "http://milvus.internal:19530 (empty with a Milvus Lite file)",
                         "login": "leave empty with a token", "password": "a token (<user>:<password> or an API "
                         "key), or the user's password", "schema": "default", "path": "/data/milvus.db"},
    },
}


# The operators, sensor and trigger span every source and store, so they belong to the backup itself,
# and so does VectorSourceHook, which opens any source; the typed hooks belong to the service they talk to.
# Qdrant, PostgreSQL and Weaviate connections use the official providers' types, qdrant, postgres and weaviate:
# not registered here.
BACKUP = "Vector Backup"
ASTRA = "Astra DB"
BOX = "Box"
CHROMA = "Chroma"
MILVUS = "Milvus"
PACKAGE = "airflow_provider_vectorbackup"


def get_provider_info() -> dict[str, Any]:
    return {
        # Must equal the distribution name, or the ProvidersManager refuses every provider.
        "package-name": "airflow-provider-vectorbackup",
        "name": "Vector Backup",
        "description": "Full-fidelity, verifiable backups of vector collections (Astra DB, Qdrant, pgvector, Chroma, "
                       "Milvus, Pinecone) to Box or a folder.",
        "versions": [__version__],
        "integrations": [
            {"integration-name": BACKUP, "tags": ["software"]},
            {"integration-name": ASTRA, "tags": ["service"],
             "external-doc-url": "https://docs.datastax.com/en/astra-db-serverless/api-reference/dataapiclient.html"},
            {"integration-name": BOX, "tags": ["service"], "external-doc-url": "https://developer.box.com/reference/"},
            {"integration-name": CHROMA, "tags": ["software"], "external-doc-url": "https://docs.trychroma.com/"},
            {"integration-name": MILVUS, "tags": ["software"], "external-doc-url": "https://milvus.io/docs"},
        ],
        "hooks": [
            {"integration-name": BACKUP, "python-modules": [f"{PACKAGE}.hooks.source"]},
            {"integration-name": ASTRA, "python-modules": [f"{PACKAGE}.hooks.astra"]},
            {"integration-name": BOX, "python-modules": [f"{PACKAGE}.hooks.box"]},
            {"integration-name": CHROMA, "python-modules": [f"{PACKAGE}.hooks.chroma"]},
            {"integration-name": MILVUS, "python-modules": [f"{PACKAGE}.hooks.milvus"]},
        ],
        "operators": [{"integration-name": BACKUP, "python-modules": [
            f"{PACKAGE}.operators.dump", f"{PACKAGE}.operators.scale_out", f"{PACKAGE}.operators.restore",
            f"{PACKAGE}.operators.restore_scale_out",
            f"{PACKAGE}.operators.retention"]}],
        "sensors": [{"integration-name": BACKUP, "python-modules": [f"{PACKAGE}.sensors.manifest"]}],
        "triggers": [{"integration-name": BACKUP, "python-modules": [f"{PACKAGE}.triggers.manifest"]}],
        "notifications": [f"{PACKAGE}.notifications.vector_loss.VectorLossNotifier"],
        "extra-links": [f"{PACKAGE}.operators.links.BoxFolderLink"],
        "connection-types": [ASTRA_CONNECTION, BOX_CONNECTION, CHROMA_CONNECTION, MILVUS_CONNECTION],
    }
