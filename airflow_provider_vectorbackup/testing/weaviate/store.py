"""What the Weaviate stand-in holds: classes, their tenants and activity statuses, and objects, shard by shard.

A class without multi-tenancy has one shard (tenant ``""``); a multi-tenant class has one per
tenant. Objects are kept by UUID and listed in UUID order, the order Weaviate's cursor (``after``)
walks. A tenant that is not active refuses reads and writes, as a real server does.
"""

from __future__ import annotations

import math
import struct
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_vectorbackup.testing.weaviate.schema import SchemaError, new_class

ACTIVE, INACTIVE, OFFLOADED = "ACTIVE", "INACTIVE", "OFFLOADED"
STATUS_ALIASES = {"HOT": ACTIVE, "COLD": INACTIVE, "FROZEN": OFFLOADED,
                  ACTIVE: ACTIVE, INACTIVE: INACTIVE, OFFLOADED: OFFLOADED}


class NotFound(LookupError):
    """A class or tenant that does not exist (the message is the server's)."""


class Refused(ValueError):
    """A request the server refuses as invalid (the message is the server's)."""


@dataclass
class StoredObject:
    uuid: str
    properties: dict[str, Any]
    vectors: dict[str, list[float] | list[list[float]]]
    created_ms: int = field(default_factory=lambda: int(time.time() * 1000))


@dataclass
class Shard:
    objects: dict[str, StoredObject] = field(default_factory=dict)
    dimensions: dict[str, int] = field(default_factory=dict)
    """Each named vector's length, fixed by the first vector its index receives."""


class Store:
    """Every class, tenant and object; one lock makes each request atomic."""

    def __init__(self, modules: frozenset[str] = frozenset()) -> None:
        self.modules = modules
        """Vectorizer modules the server was started with (``ENABLE_MODULES``): accepted in a schema, never run."""
        self.lock = threading.RLock()
        self.classes: dict[str, dict[str, Any]] = {}
        self.tenants: dict[str, dict[str, str]] = {}
        self.shards: dict[tuple[str, str], Shard] = {}

    def reset(self) -> None:
        with self.lock:
            self.classes.clear()
            self.tenants.clear()
            self.shards.clear()

    # -- schema ----------------------------------------------------------------------------------

    def cls(self, name: str) -> dict[str, Any]:
        found = self.classes.get(name) or next((c for n, c in self.classes.items() if n.lower() == name.lower()), None)
        if found is None:
            raise NotFound(f"class {name!r} not found")
        return found

    def create_class(self, body: Any) -> dict[str, Any]:
        answer = new_class(body, self.modules)
        with self.lock:
            if any(n.lower() == answer["class"].lower() for n in self.classes):
                raise SchemaError(f"class name {answer['class']!r} already exists")
            self.classes[answer["class"]] = answer
            if answer["multiTenancyConfig"]["enabled"]:
                self.tenants[answer["class"]] = {}
            else:
                self.shards[(answer["class"], "")] = Shard()
        return answer

    def delete_class(self, name: str) -> None:
        with self.lock:
            found = next((n for n in self.classes if n.lower() == name.lower()), None)
            if found is None:
                return  # deleting a missing class is not an error
            del self.classes[found]
            self.tenants.pop(found, None)
            for key in [k for k in self.shards if k[0] == found]:
                del self.shards[key]

    # -- tenants ---------------------------------------------------------------------------------

    def _tenants_of(self, name: str) -> dict[str, str]:
        cls = self.cls(name)
        if not cls["multiTenancyConfig"]["enabled"]:
            raise Refused(f"multi-tenancy is not enabled for class \"{cls['class']}\"")
        return self.tenants[cls["class"]]

    def add_tenants(self, name: str, tenants: list[dict[str, Any]], *, update: bool) -> list[dict[str, str]]:
        with self.lock:
            known = self._tenants_of(name)
            cls = self.cls(name)["class"]
            answered = []
            for tenant in tenants:
                tenant_name = tenant.get("name")
                status = STATUS_ALIASES.get(str(tenant.get("activityStatus") or tenant.get("activity_status")
                                                or ACTIVE).upper())
                if not isinstance(tenant_name, str) or not tenant_name:
                    raise Refused("tenant name is required")
                if status is None:
                    raise Refused(f"invalid activity status {tenant.get('activityStatus')!r} of tenant "
                                  f"\"{tenant_name}\"")
                if update and tenant_name not in known:
                    raise NotFound(f"tenant \"{tenant_name}\" not found")
                if not update and tenant_name in known:
                    continue  # creating an existing tenant again is a no-op
                known[tenant_name] = status
                self.shards.setdefault((cls, tenant_name), Shard())
                answered.append({"name": tenant_name, "activityStatus": status})
            return answered

    def list_tenants(self, name: str) -> dict[str, str]:
        with self.lock:
            return dict(self._tenants_of(name))

    def delete_tenants(self, name: str, names: list[str]) -> None:
        with self.lock:
            known = self._tenants_of(name)
            cls = self.cls(name)["class"]
            for tenant_name in names:
                known.pop(tenant_name, None)
                self.shards.pop((cls, tenant_name), None)

    def shard(self, name: str, tenant: str) -> tuple[dict[str, Any], Shard]:
        """The class and shard a read or write goes to, checked as the server checks them."""
        cls = self.cls(name)
        multi = cls["multiTenancyConfig"]["enabled"]
        if multi and not tenant:
            raise Refused(f"class {cls['class']} has multi-tenancy enabled, but request was without tenant")
        if not multi and tenant:
            raise Refused(f"class {cls['class']} has multi-tenancy disabled, but request was with tenant")
        if multi:
            status = self.tenants[cls["class"]].get(tenant)
            if status is None:
                raise NotFound(f"tenant not found: \"{tenant}\"")
            if status != ACTIVE:
                raise Refused(f"tenant not active: \"{tenant}\" is {status}")
        return cls, self.shards[(cls["class"], tenant)]


# -- vectors --------------------------------------------------------------------------------------

def unpack_single(raw: bytes) -> list[float]:
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


def unpack_multi(raw: bytes) -> list[list[float]]:
    (dimension,) = struct.unpack("<H", raw[:2])
    values = unpack_single(raw[2:])
    if dimension == 0 or len(values) % dimension:
        raise Refused("invalid multi vector encoding")
    return [values[i:i + dimension] for i in range(0, len(values), dimension)]


def pack_single(values: list[float]) -> bytes:
    return struct.pack(f"<{len(values)}f", *values)


def pack_multi(rows: list[list[float]]) -> bytes:
    return struct.pack("<H", len(rows[0])) + b"".join(pack_single(row) for row in rows)


def distance(metric: str, a: list[float], b: list[float]) -> float:
    """Weaviate's distances: cosine ``1 - cos``, dot ``-a·b``, l2-squared, manhattan, hamming (differing elements)."""
    if len(a) != len(b):
        raise Refused(f"vector lengths don't match: {len(a)} vs {len(b)}")
    if metric == "cosine":
        norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
        return 1.0 - (sum(x * y for x, y in zip(a, b)) / norm if norm else 0.0)
    if metric == "dot":
        return -sum(x * y for x, y in zip(a, b))
    if metric == "l2-squared":
        return sum((x - y) ** 2 for x, y in zip(a, b))
    if metric == "manhattan":
        return sum(abs(x - y) for x, y in zip(a, b))
    if metric == "hamming":
        return float(sum(1 for x, y in zip(a, b) if x != y))
    raise Refused(f"unknown distance {metric!r}")


def max_sim_distance(metric: str, query: list[list[float]], rows: list[list[float]]) -> float:
    """Late interaction: minus the sum, over the query's rows, of each one's best similarity to the object's rows."""
    return -sum(max(-distance(metric, q, r) for r in rows) for q in query)


def canonical_uuid(text: str) -> str:
    try:
        return str(uuid.UUID(text))
    except (ValueError, AttributeError, TypeError):
        raise Refused(f"invalid UUID {text!r}") from None
