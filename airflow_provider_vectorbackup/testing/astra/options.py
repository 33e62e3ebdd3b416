"""``createCollection`` options: validation, defaults, and the settings the engine reads.

Options are kept as the client sent them, with the defaults the real service fills in
(``metric: cosine``, ``sourceModel: other``), so ``findCollections`` with ``explain`` echoes
them and a repeated ``createCollection`` can be compared for idempotency.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from typing import Any

from airflow_provider_vectorbackup.testing.astra.errors import field_value_invalid, schema_error
from airflow_provider_vectorbackup.testing.astra.vectors import MAX_DIMENSION, METRICS

SOURCE_MODELS = ("ada002", "bert", "cohere-v3", "gecko", "nv-qa-4", "openai-v3-large", "openai-v3-small", "other")
ID_TYPES = ("objectId", "uuid", "uuidv6", "uuidv7")
KNOWN_OPTIONS = ("vector", "indexing", "defaultId", "lexical", "rerank")
NAME_RE = re.compile(r"^\w{1,48}$")


@dataclasses.dataclass(frozen=True)
class CollectionSettings:
    """What the engine needs from a collection's options."""

    options: dict[str, Any]
    dimension: int | None
    metric: str
    vectorize: bool
    default_id: str | None
    allow: tuple[str, ...] | None
    deny: tuple[str, ...]

    def indexed(self, path: str) -> bool:
        """Whether ``path`` is indexed, hence subject to the string and array limits."""
        if self.allow is not None:
            return "*" in self.allow or any(_covers(rule, path) for rule in self.allow)
        return not ("*" in self.deny or any(_covers(rule, path) for rule in self.deny))


def _covers(rule: str, path: str) -> bool:
    return path == rule or path.startswith(rule + ".")


def _invalid(message: str) -> Exception:
    return schema_error("INVALID_CREATE_COLLECTION_OPTIONS",
                        f"'createCollection' command option(s) invalid: {message}\n\n"
                        "Resend 'createCollection' with valid options.", "Invalid options for createCollection")


def validate_name(name: Any, kind: str = "Collection") -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise schema_error(
            "UNSUPPORTED_SCHEMA_NAME",
            f"The command attempted to create a {kind} with a name that is not supported.\n\n"
            f"The supported {kind} names must not be empty, more than 48 characters long, or contain "
            f"non-alphanumeric-underscore characters.\nThe command used the unsupported {kind} name: '{name}'.\n\n"
            f"Resend the command using a supported {kind} name.", "The used schema name is not supported")
    return name


def normalize(options: Any) -> dict[str, Any]:
    """Validated options with server defaults filled in; raises Data API errors otherwise."""
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise _invalid("'options' must be an Object")
    unknown = sorted(set(options) - set(KNOWN_OPTIONS))
    if unknown:
        raise _invalid(f"unknown option(s) {unknown}")
    result = copy.deepcopy(options)
    if result.get("vector") is not None:
        result["vector"] = _normalize_vector(result["vector"])
    else:
        result.pop("vector", None)
    if result.get("indexing") is not None:
        _check_indexing(result["indexing"])
    if result.get("defaultId") is not None:
        id_type = result["defaultId"].get("type") if isinstance(result["defaultId"], dict) else None
        if id_type not in ID_TYPES:
            raise field_value_invalid("command.options.defaultId.type", f'"{id_type}"',
                                      "Id type can only be 'objectId', 'uuid' , 'uuidv6' or 'uuidv7'")
    for feature in ("lexical", "rerank"):
        if result.get(feature) is not None and not isinstance(result[feature].get("enabled"), bool):
            raise _invalid(f"'{feature}' requires a boolean 'enabled'")
    return {k: v for k, v in result.items() if v is not None}


def _normalize_vector(vector: Any) -> dict[str, Any]:
    if not isinstance(vector, dict):
        raise _invalid("'vector' must be an Object")
    dimension = vector.get("dimension")
    service = vector.get("service")
    if dimension is None and service is None:
        raise _invalid("The 'dimension' can not be null if 'service' is not provided")
    if dimension is None:
        raise _invalid("the stand-in cannot look up a provider's default dimension; pass 'dimension'")
    if isinstance(dimension, bool) or not isinstance(dimension, int) or dimension < 1:
        raise field_value_invalid("command.options.vector.dimension", dimension, "must be greater than 0")
    if dimension > MAX_DIMENSION:
        raise schema_error("VECTOR_SEARCH_TOO_BIG_VALUE",
                           f"Vector embedding property '$vector' length too big: {dimension} (max {MAX_DIMENSION}).",
                           "Vector embedding property too big")
    metric = vector.get("metric") or "cosine"
    if metric not in METRICS:
        raise field_value_invalid("command.options.vector.metric", f'"{metric}"',
                                  "function name can only be 'dot_product', 'cosine' or 'euclidean'")
    source_model = vector.get("sourceModel") or "other"
    if source_model not in SOURCE_MODELS:
        raise field_value_invalid("command.options.vector.sourceModel", f'"{source_model}"',
                                  f"sourceModel can only be one of {list(SOURCE_MODELS)}")
    result = {"dimension": dimension, "metric": metric, "sourceModel": source_model}
    if service is not None:
        if not isinstance(service, dict) or not service.get("provider"):
            raise _invalid("'vector.service' needs a 'provider'")
        result["service"] = service
    return result


def _check_indexing(indexing: Any) -> None:
    if not isinstance(indexing, dict) or len(indexing) != 1 or next(iter(indexing)) not in ("allow", "deny"):
        raise schema_error("INVALID_INDEXING_DEFINITION",
                           "'createCollection' indexing definition invalid: `allow` and `deny` cannot be used "
                           "together, and one of them is required.\n\nResend 'createCollection' with valid "
                           "indexing definition.", "Invalid indexing definition")
    rules = next(iter(indexing.values()))
    if not isinstance(rules, list) or not all(isinstance(r, str) and r for r in rules):
        raise schema_error("INVALID_INDEXING_DEFINITION",
                           "'createCollection' indexing definition invalid: `allow` or `deny` must be an array "
                           "of non-empty paths.", "Invalid indexing definition")


def settings_for(options: dict[str, Any]) -> CollectionSettings:
    vector = options.get("vector") or {}
    indexing = options.get("indexing") or {}
    return CollectionSettings(
        options=options,
        dimension=vector.get("dimension"),
        metric=vector.get("metric", "cosine"),
        vectorize="service" in vector,
        default_id=(options.get("defaultId") or {}).get("type"),
        allow=tuple(indexing["allow"]) if "allow" in indexing else None,
        deny=tuple(indexing.get("deny", ())),
    )
