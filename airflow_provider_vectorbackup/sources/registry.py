"""Which source a connection opens: one entry per engine, picked by the connection's type.

The engines' clients are optional extras (``pip install "airflow-provider-vectorbackup[qdrant]"``),
so a source's module is imported only when a connection of its type is opened, and a missing
extra is named with the line that installs it.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from dataclasses import dataclass
from typing import Any

from airflow_provider_vectorbackup.connection import ConnectionSettings
from airflow_provider_vectorbackup.sources.base import VectorSource


@dataclass(frozen=True)
class Engine:
    """One source engine: the ``kind`` manifests record, where its client lives, and its extra."""

    kind: str
    conn_type: str
    module: str
    class_name: str
    extra: str | None
    """The pip extra that brings its client library; ``None`` when the base install has it."""
    client_library: str
    """The client library's top-level module: looked for before the source is loaded, since a source imports
    its client lazily and would otherwise load without it and fail at first use."""

    def load(self) -> type:
        try:
            if importlib.util.find_spec(self.client_library) is None:
                raise ModuleNotFoundError(f"No module named {self.client_library!r}", name=self.client_library)
            module = importlib.import_module(self.module)
        except ImportError as exc:
            if self.extra is None:
                raise
            raise MissingSourceExtra(self, exc) from exc
        return getattr(module, self.class_name)


class MissingSourceExtra(ImportError):
    """The connection names an engine whose client library is not installed."""

    def __init__(self, engine: Engine, cause: ImportError) -> None:
        self.engine = engine
        super().__init__(
            f"connections of type {engine.conn_type!r} are {engine.kind} sources, whose client is not installed "
            f"({cause}); install it with: pip install \"airflow-provider-vectorbackup[{engine.extra}]\"")


_PACKAGE = "airflow_provider_vectorbackup.sources"

ENGINES: tuple[Engine, ...] = (
    Engine("astra", "astra_db", f"{_PACKAGE}.astra.client", "AstraSource", None, "astrapy"),
    Engine("qdrant", "qdrant", f"{_PACKAGE}.qdrant.client", "QdrantSource", "qdrant", "qdrant_client"),
    Engine("pgvector", "postgres", f"{_PACKAGE}.pgvector.client", "PgvectorSource", "pgvector", "psycopg"),
    Engine("chroma", "chroma", f"{_PACKAGE}.chroma.client", "ChromaSource", "chroma", "chromadb"),
    Engine("milvus", "milvus", f"{_PACKAGE}.milvus.client", "MilvusSource", "milvus", "pymilvus"),
    Engine("pinecone", "pinecone", f"{_PACKAGE}.pinecone.client", "PineconeSource", "pinecone", "pinecone"),
    Engine("weaviate", "weaviate", f"{_PACKAGE}.weaviate.client", "WeaviateSource", "weaviate", "weaviate"),
)
"""Every engine a connection can open, by connection type (``qdrant``, ``postgres``, ``pinecone`` and ``weaviate`` are
the official providers' types)."""


class UnknownSourceType(ValueError):
    """The connection's type is not one any source reads."""


def engine_for(conn_type: str | None) -> Engine:
    for engine in ENGINES:
        if engine.conn_type == conn_type:
            return engine
    known = ", ".join(f"{e.conn_type!r} ({e.kind})" for e in ENGINES)
    raise UnknownSourceType(f"connection type {conn_type!r} is not a vector source this package reads; "
                            f"use a connection of one of these types: {known}")


class UnsupportedSourceOption(ValueError):
    """An option was given that the connection's engine does not take (e.g. an Astra keyspace for Qdrant)."""


def open_source(settings: ConnectionSettings, **options: Any) -> VectorSource:
    """The source for ``settings``, chosen by its connection type; lazy, as every ``from_connection`` is.

    :raises UnsupportedSourceOption: an option its engine does not take, named with the engine.
    """
    engine = engine_for(settings.conn_type)
    source_class = engine.load()
    try:
        inspect.signature(source_class.from_connection).bind(settings, **options)
    except TypeError:
        raise UnsupportedSourceOption(
            f"connection {settings.conn_id!r} is a {engine.kind} source (type {engine.conn_type!r}), which takes no "
            f"{' or '.join(sorted(options))} option; {engine.kind} reads where its collections live from the "
            f"connection itself (docs/connections.md)") from None
    return source_class.from_connection(settings, **options)
