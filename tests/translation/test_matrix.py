"""Every ordered pair of engines: a tricky collection goes A → B → A through snapshots, and comes back exactly.

For each pair the test checks that the plan is the one docs/restore.md's table predicts, that the
restore into B validates (counts, the digest of what was sent, recall@10 ≥ 0.99 against exact search
on the snapshot), and that B's own snapshot restored into A gives back A's documents exactly (same
content digest). Engines run for real (Qdrant local mode, PostgreSQL+pgvector, Chroma, Milvus Lite);
Astra, Weaviate and Pinecone are the project's wire-faithful stand-ins driven by their real clients.
Each engine starts once for the module; the dataset's snapshot of each engine is taken once.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_vectorbackup.jobs.dump import DumpOptions, dump_snapshot
from airflow_provider_vectorbackup.jobs.restore import RestoreOptions, restore_snapshot
from airflow_provider_vectorbackup.sources.base import VectorSource
from airflow_provider_vectorbackup.stores.local import LocalStore
from tests.conftest import astra_settings
from tests.sources.conftest import weaviate_settings
from tests.sources.test_conformance import digest_of, scanned
from tests.translation.matrix import ENGINE_ORDER, documents_for, portable_for, predicted, summary

pytestmark = pytest.mark.matrix

ORIGIN = "matrix"


def _astra(stack: contextlib.ExitStack, folder: Path) -> VectorSource:
    from airflow_provider_vectorbackup.sources.astra.client import AstraSource
    from airflow_provider_vectorbackup.testing.astra.standin import AstraStandIn

    return AstraSource.from_connection(astra_settings(stack.enter_context(AstraStandIn())))


def _qdrant(stack: contextlib.ExitStack, folder: Path) -> VectorSource:
    from qdrant_client import QdrantClient

    from tests.engines.qdrant import LocalQdrant

    client = QdrantClient(path=str(folder / "qdrant"), force_disable_check_same_thread=True)
    stack.callback(client.close)
    return LocalQdrant(folder / "qdrant", client).source()


def _pgvector(stack: contextlib.ExitStack, folder: Path, request: pytest.FixtureRequest) -> VectorSource:
    from airflow_provider_vectorbackup.sources.pgvector.client import PgvectorSource

    server = request.getfixturevalue("pgvector_server")
    schema = f"m_{uuid.uuid4().hex[:10]}"
    with server.connect(autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {schema}")
    return PgvectorSource.from_connection(server.settings(schema))


def _chroma(stack: contextlib.ExitStack, folder: Path) -> VectorSource:
    from tests.sources.chroma.engine import persistent_client, source_on

    client = stack.enter_context(persistent_client(folder / "chroma"))
    return source_on(client, folder / "chroma")


def _milvus(stack: contextlib.ExitStack, folder: Path) -> VectorSource:
    import pymilvus

    from airflow_provider_vectorbackup.connection import ConnectionSettings
    from airflow_provider_vectorbackup.sources.milvus.client import MilvusSource

    path = str(folder / "milvus.db")
    client = pymilvus.MilvusClient(path)
    stack.callback(client.close)
    return MilvusSource.from_connection(ConnectionSettings("milvus_default", conn_type="milvus",
                                                           extra={"path": path}), client=client)


def _pinecone(stack: contextlib.ExitStack, folder: Path) -> VectorSource:
    from airflow_provider_vectorbackup.testing.pinecone import PineconeStandIn
    from tests.sources.pinecone.standin import pinecone_source

    source = pinecone_source(stack.enter_context(PineconeStandIn()))
    stack.callback(source.close)
    return source


def _weaviate(stack: contextlib.ExitStack, folder: Path) -> VectorSource:
    from airflow_provider_vectorbackup.sources.weaviate.client import WeaviateSource
    from airflow_provider_vectorbackup.testing.weaviate.standin import WeaviateStandIn

    source = WeaviateSource.from_connection(weaviate_settings(stack.enter_context(WeaviateStandIn())))
    stack.callback(source.close)
    return source


STARTERS: dict[str, Callable[..., VectorSource]] = {
    "astra": _astra, "qdrant": _qdrant, "pgvector": _pgvector, "chroma": _chroma, "milvus": _milvus,
    "pinecone": _pinecone, "weaviate": _weaviate}


def _named(kind: str, name: str) -> str:
    """A collection name the engine takes: Pinecone's index names have hyphens, not underscores."""
    return name.replace("_", "-") if kind == "pinecone" else name


def listed(kind: str, name: str) -> str:
    """The name ``kind`` lists a collection created as ``name`` under: Weaviate capitalises the first letter."""
    return name[:1].upper() + name[1:] if kind == "weaviate" else name


@pytest.fixture(scope="module")
def matrix(request: pytest.FixtureRequest) -> Iterator[Matrix]:
    folder = Path(tempfile.mkdtemp(prefix="vb-matrix-"))
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, folder, True)
        yield Matrix(stack, folder, request)


class Matrix:
    """The engines (started on first use) and a local store holding each engine's snapshot of the dataset."""

    def __init__(self, stack: contextlib.ExitStack, folder: Path, request: pytest.FixtureRequest) -> None:
        self.stack, self.folder, self.request = stack, folder, request
        self.store = LocalStore(folder / "store")
        self.sources: dict[str, VectorSource] = {}
        self.snapshots: dict[str, str] = {}

    def source(self, kind: str) -> VectorSource:
        if kind not in self.sources:
            starter = STARTERS[kind]
            self.sources[kind] = (starter(self.stack, self.folder, self.request) if kind == "pgvector"
                                  else starter(self.stack, self.folder))
        return self.sources[kind]

    def original(self, kind: str) -> list[dict[str, Any]]:
        source = self.source(kind)
        return documents_for(kind, source.capabilities)

    def snapshot_of(self, kind: str) -> str:
        """The snapshot of ``kind``'s collection of the dataset, created, filled and dumped on first use."""
        if kind not in self.snapshots:
            source = self.source(kind)
            definition = source.portable_definition(portable_for(kind, source.capabilities))
            source.create_collection(ORIGIN, definition)
            report = source.insert_documents(ORIGIN, self.original(kind))
            assert report.ok, report.summary()
            self.snapshots[kind] = self.dump(kind, listed(kind, ORIGIN), f"20261205T000000Z-{kind}")
        return self.snapshots[kind]

    def dump(self, kind: str, collection: str, snapshot_id: str) -> str:
        outcome = dump_snapshot(self.source(kind), self.store, snapshot_id, DumpOptions(collections=[collection]))
        assert not outcome.failures, outcome.failures
        return snapshot_id


def _scan(source: VectorSource, name: str) -> list[dict[str, Any]]:
    definition = source.collection_definition(name)
    assert definition is not None, f"{source.kind} has no collection {name!r}"
    return scanned(source, name, definition)


PAIRS = [pytest.param(a, b, id=f"{a}->{b}") for a in ENGINE_ORDER for b in ENGINE_ORDER if a != b]


@pytest.mark.parametrize(("origin", "via"), PAIRS)
def test_a_collection_goes_to_another_engine_and_back_exactly(matrix: Matrix, origin: str, via: str) -> None:
    for kind in (origin, via):
        if kind not in STARTERS:
            pytest.skip(f"{kind} is not in this build's matrix")
    there = matrix.source(via)
    first = matrix.snapshot_of(origin)
    capabilities = {kind: matrix.source(kind).capabilities for kind in (origin, via)}
    target = _named(via, f"from_{origin}")
    origin_name = listed(origin, ORIGIN)

    plan_only = restore_snapshot(matrix.store, first, there, RestoreOptions(
        collections=[origin_name], name_mapping={origin_name: target}, plan_only=True))
    plan = plan_only["collections"][origin_name]["translation"]
    assert there.collection_definition(target) is None, "a plan wrote something"
    expected = predicted(origin, via, capabilities)
    assert _summary_of(plan) == expected, "the plan is not the one docs/restore.md predicts"
    allowed = tuple(plan["lossy"])

    report = restore_snapshot(matrix.store, first, there, RestoreOptions(
        collections=[origin_name], name_mapping={origin_name: target}, min_recall=0.99, allow_lossy=allowed))
    result = report["collections"][origin_name]
    assert result["ok"] and result["documents_restored"] == len(matrix.original(origin))
    assert result["recall_at_10"] >= 0.99

    second = matrix.dump(via, listed(via, target), f"20261205T000001Z-{origin}-{via}")
    back = _named(origin, f"back_from_{via}")
    back_report = restore_snapshot(matrix.store, second, matrix.source(origin), RestoreOptions(
        collections=[listed(via, target)], name_mapping={listed(via, target): back}, min_recall=0.99))
    assert back_report["collections"][listed(via, target)]["ok"]
    returned = _scan(matrix.source(origin), back)
    original = _scan(matrix.source(origin), ORIGIN)
    assert digest_of(returned) == digest_of(original), _first_difference(original, returned)
    there.drop_collection(target)
    matrix.source(origin).drop_collection(back)


def _summary_of(plan: dict[str, Any]) -> str:
    from airflow_provider_vectorbackup.translation.plan import Step

    class _Plan:
        steps = [Step(s["part"], s["name"], s["class"], s["change"], s.get("lossy"), s.get("documents"))
                 for s in plan["steps"]]
        lossy = [s for s in steps if s.classification == "lossy"]

    return summary(_Plan())


def _first_difference(original: list[dict[str, Any]], returned: list[dict[str, Any]]) -> str:
    by_id = {repr(d["_id"]): d for d in returned}
    for document in original:
        other = by_id.get(repr(document["_id"]))
        if other != document:
            return f"first document that differs: {document!r} came back as {other!r}"
    return f"{len(original)} documents went, {len(returned)} came back"
