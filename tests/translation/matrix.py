"""The dataset and predictions of the cross-engine matrix: one tricky collection, written in each engine's own terms.

Shared by the matrix test (real engines and stand-ins) and the documentation check (docs/restore.md's
translation table is what :func:`predicted_table` computes from the engines' capabilities).
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from airflow_provider_vectorbackup.snapshot.codec import DEFAULT_CODEC
from airflow_provider_vectorbackup.snapshot.vector_fields import dense
from airflow_provider_vectorbackup.sources.portable import Capabilities, PortableCollection
from airflow_provider_vectorbackup.translation.plan import EXACT, LOSSY, REVERSIBLE, plan_collection
from airflow_provider_vectorbackup.translation.values import fits, kind_of

ENGINE_ORDER = ("astra", "qdrant", "pgvector", "chroma", "milvus", "weaviate", "pinecone")
DIMENSION = 8
COUNT = 30

NATIVE_ID = {"astra": "string", "qdrant": "int", "pgvector": "int", "chroma": "string", "milvus": "string",
             "weaviate": "uuid", "pinecone": "string"}
"""The id type each engine's collection of the dataset has: its most usual one."""


def vector_name(capabilities: Capabilities) -> str:
    return capabilities.vector_names[0] if capabilities.vector_names else "embedding"


def _id(kind: str, i: int) -> Any:
    if kind == "int":
        return 1000 + i * 7
    if kind == "uuid":
        return {"$backupType": "uuid", "value": str(uuid.UUID(int=i + 1))}
    return f"doc-{i:03d}"


def _vector(i: int) -> list[float]:
    """Distinct vectors of float32 values with short decimal forms (so the Data API's arrays are exact)."""
    return [((i * 13 + j * 7) % 29 - 14) / 16 + (0.0625 if j == i % DIMENSION else 0.0) for j in range(DIMENSION)]


def _payload(i: int) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "title": ["café", "東京", "данные", "quote\"back\\slash", "🧭"][i % 5] + f" {i}",
        "count": (i - 10) * 3,
        "price": i + 0.5,
        "ok": i % 2 == 0,
        "tags": ["a", "b"] if i % 3 else ["c"],
        "meta": {"depth": {"n": i, "list": [1, "x", None]}},
        "when": DEFAULT_CODEC.encode(dt.datetime(2026, 1, 1, 12, 0, i % 60, 123456, tzinfo=dt.timezone.utc)),
        "amount": DEFAULT_CODEC.encode(Decimal(f"{i}.10")),
    }
    if i % 4 == 0:
        payload["note"] = None
    elif i % 4 == 1:
        payload["note"] = "sometimes"
    return payload


def fields_for(capabilities: Capabilities) -> list[str]:
    """The payload fields an engine's collection of the dataset has: those it holds exactly in every document."""
    names = sorted({name for i in range(COUNT) for name in _payload(i)})
    return [name for name in names if all(fits(_payload(i).get(name), capabilities) or name not in _payload(i)
                                          for i in range(COUNT))]


def documents_for(kind: str, capabilities: Capabilities) -> list[dict[str, Any]]:
    """The dataset in ``kind``'s stored form, with only what it holds exactly."""
    fields = fields_for(capabilities)
    name = vector_name(capabilities)
    documents = []
    for i in range(COUNT):
        payload = {k: v for k, v in _payload(i).items() if k in fields}
        if kind == "astra":
            documents.append({"_id": _id("string", i), "$vector": _vector(i), **payload})
        else:
            documents.append({"_id": _id(NATIVE_ID[kind], i), "$vectors": {name: dense(_vector(i))},
                              "payload": payload})
    return documents


def portable_for(kind: str, capabilities: Capabilities) -> PortableCollection:
    """How the dataset's collection is created in ``kind`` (through the engine's own ``portable_definition``)."""
    kinds: dict[str, set[str]] = {}
    for document in documents_for(kind, capabilities):
        payload = document if kind == "astra" else document["payload"]
        for field, value in payload.items():
            if field not in ("_id", "$vector"):
                kinds.setdefault(field, set()).update({kind_of(value)} - {None})
    payload_kinds = {field: (found.pop() if len(found) == 1 else "json") for field, found in kinds.items()}
    return PortableCollection(NATIVE_ID[kind], {vector_name(capabilities): {
        "kind": "dense", "dtype": "float32", "dimension": DIMENSION, "metric": "euclidean", "nullable": False}},
        payload_kinds, max_id_length=7)


def definition_for(kind: str, capabilities: Capabilities) -> dict[str, Any]:
    """A definition of the dataset in ``kind``'s snapshot terms, for planning without the engine."""
    if kind == "astra":
        return {"vector": {"dimension": DIMENSION, "metric": "euclidean"}}
    portable = portable_for(kind, capabilities)
    return {"engine": kind, "id": {"type": portable.id_type, "field": None}, "vectors": portable.vectors, "native": {}}


def summary(plan: Any) -> str:
    """A plan in one table cell: the class of its id, vector and payload steps, and the lossy kinds it needs."""
    def worst(part: str) -> str:
        classes = {s.classification for s in plan.steps if s.part == part}
        return "L" if LOSSY in classes else "R" if REVERSIBLE in classes else "E" if EXACT in classes else "-"

    lossy = sorted({s.lossy_kind for s in plan.lossy if s.lossy_kind})
    payload = worst("field") if worst("extra") in ("-", "E") or worst("field") == "L" else \
        max(worst("field"), worst("extra"), key="-ERL".index)
    return f"id {worst('id')} · vectors {worst('vector')} · payload {payload}" + (f" · {', '.join(lossy)}"
                                                                                   if lossy else "")


def predicted(origin: str, target: str, capabilities: dict[str, Capabilities]) -> str:
    """The plan summary the matrix predicts for the dataset of ``origin`` restored into ``target``."""
    source_caps = capabilities[origin]
    plan = plan_collection(definition_for(origin, source_caps), origin,
                           lambda: documents_for(origin, source_caps), target, capabilities[target])
    return summary(plan)


def predicted_table(capabilities: dict[str, Capabilities]) -> str:
    """docs/restore.md's translation table: rows are the snapshot's engine, columns the target."""
    engines = [e for e in ENGINE_ORDER if e in capabilities]
    lines = ["| from \\ into | " + " | ".join(engines) + " |", "|---|" + "---|" * len(engines)]
    for origin in engines:
        cells = ["same engine" if origin == target else predicted(origin, target, capabilities).replace(" · ", "<br>")
                 for target in engines]
        lines.append(f"| **{origin}** | " + " | ".join(cells) + " |")
    return "\n".join(lines)
