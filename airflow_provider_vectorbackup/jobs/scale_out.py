"""The scale-out dump: one snapshot written by many workers, one collection each, and sealed once.

A single-task dump (:mod:`.dump`) writes every collection from one process. Here the same
snapshot is made in three steps that may each run in another process on another machine:

1. :func:`plan_snapshot` creates ``.<id>.inprogress`` in the store, decides which collections
   go into it and, with ``slices_per_collection`` above 1, splits each collection into slices
   (groups of the source's partitions); its ``work_items`` are the collections and slices;
2. :func:`dump_work_item`, once per work item and in any order or in parallel, joins that
   folder, removes whatever an earlier attempt at the same item left there, writes the
   collection (:func:`dump_collection`) or its slice (:func:`dump_slice`) and returns its
   manifest entry as JSON-safe data;
3. :func:`commit_snapshot` takes the plan and whatever entries came back, checks each against
   what the store actually holds, records a collection without a usable entry as failed (and
   removes its files), then writes ``manifest.json`` last and seals the folder: ``<id>`` if every
   collection succeeded, else ``<id>.INCOMPLETE``. A sliced collection's entry is the sum of its
   slices' (counts, vector statistics, content digest), its segments theirs in slice order.

The sealed snapshot is the one a single-task dump with the same settings writes: each collection
is read and written by the same code (:mod:`.collection`) with the same :class:`~.dump.DumpOptions`,
and one writer seals one manifest. A sliced collection holds the same documents, count and
content digest as one read whole; only its segments' boundaries and names differ (docs/format.md,
4.2). No Airflow here; the operators pass the plan and the entries between tasks through XCom.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import re
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from airflow_provider_vectorbackup.jobs.collection import (
    StoredFiles, manifest_source, select_collections, write_collection,
)
from airflow_provider_vectorbackup.jobs.dump import DumpOptions
from airflow_provider_vectorbackup.jobs.models import recorded_models
from airflow_provider_vectorbackup.jobs.outcome import DumpOutcome, already_complete, sealed_by
from airflow_provider_vectorbackup.progress import Progress
from airflow_provider_vectorbackup.snapshot.compression import check_compression
from airflow_provider_vectorbackup.snapshot.digest import DIGEST_ALGORITHM, combine_digests
from airflow_provider_vectorbackup.snapshot.errors import ManifestError, SnapshotError
from airflow_provider_vectorbackup.snapshot.guard import VectorLossPolicy, check_vector_loss
from airflow_provider_vectorbackup.snapshot.layout import (
    COLLECTIONS_DIR, MANIFEST_NAME, check_collection_name, check_snapshot_id, collection_dir, is_definition_path,
    segment_index, slice_segments,
)
from airflow_provider_vectorbackup.snapshot.manifest import (
    COLLECTION_FAILED, STATUS_COMPLETE, CollectionEntry, FileEntry, VectorSummary,
)
from airflow_provider_vectorbackup.snapshot.signing import SIGNATURE_NAME
from airflow_provider_vectorbackup.snapshot.tally import merge_vector_summaries
from airflow_provider_vectorbackup.check.verify import StoredFile, VerifyReport, compare_listing
from airflow_provider_vectorbackup.snapshot.writer import DEFAULT_SEGMENT_MAX_BYTES, SnapshotWriter
from airflow_provider_vectorbackup.sources.base import Partition, VectorSource
from airflow_provider_vectorbackup.sources.fetch_ahead import fetch_ahead
from airflow_provider_vectorbackup.stores.base import (
    PendingSnapshot, SnapshotExistsError, SnapshotSealedError, Store,
)

log = logging.getLogger(__name__)

EMPTY_DIGEST = "0" * 64
MAX_SLICES_PER_COLLECTION = 1000
"""Far beyond any useful number of workers for one collection; keeps segment names within nine digits."""
_MAX_LISTED_PROBLEMS = 5


class CollectionNotReported(SnapshotError):
    """The commit got no usable entry for a planned collection: its task was killed, never ran, or failed early."""


class CollectionMismatch(SnapshotError):
    """A collection's entry disagrees with the snapshot (its settings) or with what the store holds."""


class CollectionVanishedError(SnapshotError):
    """A planned collection is no longer in the source when its task runs."""


class CollectionFailed(SnapshotError):
    """A collection that a sealed manifest records as failed, with the error recorded there."""


@dataclass(frozen=True)
class SnapshotPlan:
    """What every worker of one scale-out snapshot must agree on. JSON-safe through :meth:`to_dict`.

    ``sealed`` means the snapshot was already sealed when it was planned (a rerun after a success
    whose report was lost): there is nothing to dump and the commit only reports it. ``slices``
    holds, for each collection split over several tasks, its slices: each a list of the
    source's partitions (:meth:`Partition.to_dict`). A collection not in it is dumped whole.
    """

    snapshot_id: str
    started_at: str
    source: dict[str, Any]
    collections: list[str]
    segment_max_bytes: int = DEFAULT_SEGMENT_MAX_BYTES
    max_missing_vector_fraction: float = 0.0
    sealed: bool = False
    compression: str = "gzip"
    slices: dict[str, list[list[dict[str, Any]]]] = field(default_factory=dict)

    @property
    def vector_policy(self) -> VectorLossPolicy:
        return VectorLossPolicy(max_missing_fraction=self.max_missing_vector_fraction)

    @property
    def work_items(self) -> list[str]:
        """One per dump task, in order: a collection's name, or for a sliced one ``<name>[<slice>/<slices>]`` each."""
        items: list[str] = []
        for name in self.collections:
            count = len(self.slices.get(name, ()))
            items += [slice_item(name, k, count) for k in range(count)] if count else [name]
        return items

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SnapshotPlan:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass
class CollectionOutcome:
    """What :func:`dump_collection` produced: the JSON-safe ``result`` to hand to the commit, and why it failed."""

    result: dict[str, Any]
    error: Exception | None = None

    @property
    def entry(self) -> CollectionEntry:
        return CollectionEntry.from_dict(self.result["collection"])


_SLICE_ITEM = re.compile(r"(?P<name>.+)\[(?P<slice>\d+)/(?P<slices>\d+)\]")


def slice_item(name: str, slice_index: int, slices: int) -> str:
    """The work item of one slice of a collection: ``articles[2/4]`` is slice 2 of the four numbered 0 to 3."""
    return f"{name}[{slice_index}/{slices}]"


def parse_work_item(item: str) -> tuple[str, int | None]:
    """``(collection, slice index)`` of a work item; the index is ``None`` for a whole collection."""
    match = _SLICE_ITEM.fullmatch(item)
    return (match["name"], int(match["slice"])) if match else (item, None)


def split_partitions(partitions: list[Partition], slices: int) -> list[list[Partition]]:
    """At most ``slices`` groups of partitions, dealt out in turn, so neighbouring ranges go to different tasks."""
    groups: list[list[Partition]] = [[] for _ in range(min(slices, len(partitions)))]
    for i, partition in enumerate(partitions):
        groups[i % len(groups)].append(partition)
    return groups


# -- 1. plan ---------------------------------------------------------------------------------------


def plan_snapshot(
    source: VectorSource, store: Store, snapshot_id: str, options: DumpOptions = DumpOptions(), *,
    slices_per_collection: int = 1,
) -> SnapshotPlan:
    """Create ``.<id>.inprogress`` and list the collections to dump into it (``None``: the whole namespace).

    With ``slices_per_collection`` above 1 each collection is split into up to that many slices,
    groups of the partitions its source offers (``source.partitions`` in ``options.scan_mode``),
    each dumped by its own task; a collection the source cannot split stays whole.

    The plan records what decides the snapshot's bytes (``options``' collections,
    ``segment_max_bytes``, ``vector_policy`` and ``compression``); ``producer`` and ``staging_dir``
    are used here too, the rest is for the other steps.

    Leftovers of an earlier attempt at the same id are removed first. If the id is already
    complete (and this producer's, holding what was asked), a ``sealed`` plan with no collections
    is returned. A failure after the folder exists seals it INCOMPLETE with the reason, as a
    single-task dump does, and is raised.
    """
    check_snapshot_id(snapshot_id)
    if not 1 <= slices_per_collection <= MAX_SLICES_PER_COLLECTION:
        raise ValueError(f"slices_per_collection must be between 1 and {MAX_SLICES_PER_COLLECTION}, not "
                         f"{slices_per_collection}")
    if options.embedding_models:  # the plan does not carry them to the tasks that write the collections
        raise ValueError("a scale-out dump records only the embedding models its collections' definitions declare, "
                         "not embedding_models given as arguments; dump with VectorDumpOperator or the CLI to record "
                         "those")
    started = dt.datetime.now(dt.timezone.utc)
    described = manifest_source(source)
    common = dict(snapshot_id=snapshot_id, started_at=started.isoformat(timespec="milliseconds"), source=described,
                  segment_max_bytes=options.segment_max_bytes,
                  max_missing_vector_fraction=options.vector_policy.max_missing_fraction,
                  compression=options.compression)
    check_compression(options.compression, for_writing=True)  # every worker and the commit will need its package
    try:
        pending = store.begin(snapshot_id)
    except SnapshotExistsError:
        # Raises unless it is ours and has it all.
        already_complete(store, snapshot_id, options.collections, options.producer)
        log.warning("Snapshot %s is already complete in %s; nothing to dump", snapshot_id, store.describe())
        return SnapshotPlan(**common, collections=[], sealed=True)
    try:
        names, definitions = select_collections(source, options.collections)
        for name in names:
            check_collection_name(name)
        slices: dict[str, list[list[dict[str, Any]]]] = {}
        if slices_per_collection > 1:
            for name in names:
                groups = split_partitions(source.partitions(name, definitions[name], mode=options.scan_mode),
                                          slices_per_collection)
                if len(groups) > 1:
                    slices[name] = [[partition.to_dict() for partition in group] for group in groups]
    except Exception as exc:
        _seal_failed_plan(pending, SnapshotPlan(**common, collections=[]), exc, options.producer, options.staging_dir)
        raise
    plan = SnapshotPlan(**common, collections=names, slices=slices)
    log.info("Planned snapshot %s in %s: %d collection(s), %d task(s): %s", snapshot_id, store.describe(),
             len(names), len(plan.work_items), ", ".join(plan.work_items))
    return plan


def _seal_failed_plan(pending: PendingSnapshot, plan: SnapshotPlan, exc: BaseException,
                      producer: dict[str, str] | None, staging_dir: str | None) -> None:
    try:
        with tempfile.TemporaryDirectory(prefix="vectorbackup-", dir=staging_dir) as staging:
            writer = _writer(staging, plan, producer=producer)
            writer.backdate(dt.datetime.fromisoformat(plan.started_at))
            writer.abort(exc)
            pending.seal(writer.result)  # type: ignore[arg-type]
    except Exception:
        log.exception("Could not seal snapshot %s INCOMPLETE after the plan failed; it stays .inprogress, which "
                      "no reader uses", plan.snapshot_id)


# -- 2. one collection -----------------------------------------------------------------------------


def dump_collection(
    source: VectorSource, store: Store, plan: SnapshotPlan, name: str, options: DumpOptions = DumpOptions(), *,
    on_progress: Callable[[Progress], None] | None = None,
) -> CollectionOutcome:
    """Write collection ``name`` into the planned snapshot, from scratch, and return its entry for the commit.

    Whatever an earlier attempt stored for this collection is removed first, so a retry never
    appends to or mixes with a previous try. A failure of the collection itself (the vector-loss
    guard, a fault that outlasted the retries, the collection gone) is returned in the outcome
    together with a ``failed`` entry that lists the segments that were finished and stored;
    the caller reports the entry and then fails. The collection is read and written exactly as a
    single-task dump reads and writes each of its collections, with the plan's settings and
    ``options``' ``scan_mode``, ``scan_streams``, ``uploads_at_once``, ``encryption`` and ``staging_dir``.

    :raises SnapshotSealedError: the snapshot is already sealed; it is never reopened.
    :raises SnapshotStateError: the snapshot is not in progress (the plan did not run).
    """
    if name not in plan.collections:
        raise ValueError(f"collection {name!r} is not in the plan of snapshot {plan.snapshot_id} "
                         f"({', '.join(plan.collections) or 'no collections'})")
    if name in plan.slices:
        raise ValueError(f"collection {name!r} is planned in {len(plan.slices[name])} slices; dump each of them "
                         f"({', '.join(i for i in plan.work_items if parse_work_item(i)[0] == name)})")
    pending = store.resume(plan.snapshot_id)
    pending.discard_collection(name)
    return _write_planned(source, pending, plan, name, options, f"Collection {name!r}", lambda writer, definition,
                          stored: write_collection(source, writer, name, definition, stored,
                                                   scan_mode=options.scan_mode, scan_streams=options.scan_streams,
                                                   on_progress=on_progress))


def _write_planned(source: VectorSource, pending: PendingSnapshot, plan: SnapshotPlan, name: str,
                   options: DumpOptions, what: str,
                   write: Callable[[SnapshotWriter, dict[str, Any], StoredFiles], None],
                   **reported: Any) -> CollectionOutcome:
    """Run ``write`` for collection ``name`` into a writer joined to the planned snapshot; return its entry, also
    when it failed (a whole collection and a slice are written the same way, only ``write`` differs)."""
    stored = StoredFiles(pending)
    with tempfile.TemporaryDirectory(prefix="vectorbackup-", dir=options.staging_dir) as staging:
        writer = _writer(staging, plan, on_file_complete=stored.put, encryption=options.encryption,
                         handoff_concurrency=options.uploads_at_once)
        error: Exception | None = None
        try:
            definition = source.collection_definition(name)
            if definition is None:
                raise CollectionVanishedError(f"collection {name!r} is no longer in {source.kind} namespace "
                                              f"{source.namespace!r}; it was there when snapshot {plan.snapshot_id} "
                                              f"was planned")
            write(writer, definition, stored)
        except Exception as exc:  # reported in the entry; the caller decides how the task fails
            log.error("%s failed: %s: %s", what, type(exc).__name__, exc)
            error = exc
        finally:
            writer.close_unsealed()
        entry = writer.recorded(name) or _failed_entry(name, error or SnapshotError("no entry was recorded"))
        result = {"collection": entry.to_dict(), "written_with": written_with(writer), **reported}
    return CollectionOutcome(result, error)


def dump_slice(
    source: VectorSource, store: Store, plan: SnapshotPlan, name: str, slice_index: int,
    options: DumpOptions = DumpOptions(), *, on_progress: Callable[[Progress], None] | None = None,
) -> CollectionOutcome:
    """Write slice ``slice_index`` of collection ``name`` into the planned snapshot, and return its entry.

    The slice's partitions are read ``options.scan_streams`` at a time (``source.read_partition``)
    into segments numbered from the slice's own block; slice 0 also writes ``definition.json``.
    Whatever an earlier attempt at this slice stored is removed first, and nothing of the other
    slices is touched. The vector-loss guard runs on the slice's documents (and again, on the
    whole collection, at the commit). Failures are returned as :func:`dump_collection` returns them.
    """
    groups = plan.slices.get(name)
    if groups is None or not 0 <= slice_index < len(groups):
        raise ValueError(f"{slice_item(name, slice_index, len(groups or ()))} is not a slice in the plan of snapshot "
                         f"{plan.snapshot_id} ({', '.join(plan.work_items) or 'no work items'})")
    partitions = [Partition.from_dict(p) for p in groups[slice_index]]
    pending = store.resume(plan.snapshot_id)
    earlier = slice_files(pending.files(), name, slice_index)
    if earlier:
        pending.discard_files(earlier)
    return _write_planned(source, pending, plan, name, options, f"Slice {slice_index} of collection {name!r}",
                          lambda writer, definition, stored: _write_slice(
                              source, writer, name, definition, slice_index, partitions, stored,
                              streams=options.scan_streams, on_progress=on_progress),
                          slice=slice_index)


def _write_slice(source: VectorSource, writer: SnapshotWriter, name: str, definition: dict[str, Any],
                 slice_index: int, partitions: list[Partition], stored: StoredFiles, *, streams: int,
                 on_progress: Callable[[Progress], None] | None) -> None:
    progress = Progress(log, f"{name} slice {slice_index}", None)
    found = {partition.name: 0 for partition in partitions}
    with writer.collection(name, definition, slice_index=slice_index) as collection:
        collection.embedding_models = recorded_models(definition, {}, encrypted=writer.encryption is not None)
        try:
            pages = fetch_ahead(partitions, lambda _, partition: source.read_partition(name, partition),
                                streams=streams, name=f"slice-{name}-{slice_index}")
            with contextlib.closing(pages):
                for partition, documents in pages:
                    collection.write_many(documents)
                    found[partition.name] += len(documents)
                    progress.bytes = stored.bytes_of(name)
                    progress.advance(len(documents))
                    if on_progress is not None:
                        on_progress(progress)
        finally:  # as a whole collection's scan record, also when the slice failed
            collection.scan = {"mode": "slice", "slice": slice_index, "streams": streams,
                               "documents": sum(found.values()), "partitions": found}
    progress.bytes = stored.bytes_of(name)
    progress.done()
    if on_progress is not None:
        on_progress(progress)


def slice_files(listing: Iterable[str], name: str, slice_index: int) -> list[str]:
    """The stored files that belong to slice ``slice_index`` of collection ``name``: its block of segments, and
    ``definition.json`` for slice 0."""
    prefix = collection_dir(name) + "/"
    block = slice_segments(slice_index)
    owned = []
    for path in listing:
        if not path.startswith(prefix):
            continue
        index = segment_index(path)
        if (index is not None and index in block) or (slice_index == 0 and is_definition_path(name, path)):
            owned.append(path)
    return sorted(owned)


def dump_work_item(
    source: VectorSource, store: Store, plan: SnapshotPlan, item: str, options: DumpOptions = DumpOptions(), *,
    on_progress: Callable[[Progress], None] | None = None,
) -> CollectionOutcome:
    """Dump one of ``plan.work_items``: a whole collection (:func:`dump_collection`) or a slice (:func:`dump_slice`)."""
    name, slice_index = parse_work_item(item)
    if slice_index is None:
        return dump_collection(source, store, plan, name, options, on_progress=on_progress)
    return dump_slice(source, store, plan, name, slice_index, options, on_progress=on_progress)


# -- 3. commit -------------------------------------------------------------------------------------


def commit_snapshot(
    store: Store, plan: SnapshotPlan, results: Iterable[Mapping[str, Any] | None],
    options: DumpOptions = DumpOptions(),
) -> DumpOutcome:
    """Seal the planned snapshot from the entries its collections' tasks returned.

    A planned collection is recorded as failed, and whatever the store holds for it is removed,
    when its entry is missing (the task was killed, timed out, or never ran) or unusable (written
    with other settings, or its files in the store are not the ones it lists). The manifest is
    written last; the folder becomes ``<id>`` only if every collection is complete, else
    ``<id>.INCOMPLETE``. A snapshot that is already sealed (a retried commit) is reported as it is.

    :param results: what :func:`dump_collection` returned for each collection (``None`` for none), any order.
    :param options: ``producer``, ``staging_dir`` and ``signer`` (signs ``manifest.json``); its ``encryption``
        must be what the collections were written with.
    """
    producer = options.producer
    if plan.sealed:
        return _already_sealed(store, plan.snapshot_id, producer)
    try:
        pending = store.resume(plan.snapshot_id)
    except SnapshotSealedError:
        return _already_sealed(store, plan.snapshot_id, producer)
    reported: dict[str, Mapping[str, Any]] = {}
    reported_slices: dict[str, dict[int, Mapping[str, Any]]] = {}
    for result in results:
        name = _reported_name(result)
        if name is None:
            continue
        slice_index = result.get("slice")  # type: ignore[union-attr]
        if isinstance(slice_index, int) and name in plan.slices:
            reported_slices.setdefault(name, {})[slice_index] = result  # type: ignore[assignment]
        elif slice_index is None and name not in plan.slices:
            reported[name] = result  # type: ignore[assignment]
    with tempfile.TemporaryDirectory(prefix="vectorbackup-", dir=options.staging_dir) as staging:
        writer = _writer(staging, plan, producer=producer, signer=options.signer, encryption=options.encryption)
        writer.backdate(dt.datetime.fromisoformat(plan.started_at))
        expected = written_with(writer)
        entries: dict[str, CollectionEntry] = {}
        problems: dict[str, SnapshotError] = {}
        for name in plan.collections:
            try:
                if name in plan.slices:
                    entries[name] = _joined_slices(name, len(plan.slices[name]), reported_slices.get(name, {}),
                                                   expected, plan.vector_policy)
                else:
                    entries[name] = _usable_entry(reported.get(name), name, expected)
            except SnapshotError as exc:
                problems[name] = exc
        strays = _reconcile(pending, plan, entries, problems)
        for name in plan.collections:
            entry = entries.get(name) if name not in problems else None
            if entry is not None:
                try:
                    writer.adopt(entry, sliced=name in plan.slices)
                    continue
                except SnapshotError as exc:
                    problems[name] = CollectionMismatch(f"its entry cannot be part of this snapshot: {exc}")
            log.error("Collection %r is recorded as failed: %s", name, problems[name])
            pending.discard_collection(name)
            writer.adopt(_failed_entry(name, problems[name]))
        if strays:
            result = writer.abort(f"the in-progress folder holds files no collection lists: {_some(strays)}")
        else:
            result = writer.finish()
        sealed = pending.seal(result)
    failures: dict[str, BaseException] = {c.name: CollectionFailed(c.error or "failed")
                                          for c in result.manifest.collections if c.status == COLLECTION_FAILED}
    log.info("Snapshot %s sealed %s with %d collection(s), %d failed", plan.snapshot_id, result.status,
             len(result.manifest.collections), len(failures))
    return DumpOutcome(sealed, result.manifest, result, failures)


def _reported_name(result: Mapping[str, Any] | None) -> str | None:
    try:
        return result["collection"]["name"] if result else None  # type: ignore[index]
    except (KeyError, TypeError):
        return None


def _usable_entry(result: Mapping[str, Any] | None, name: str, expected: dict[str, Any]) -> CollectionEntry:
    if result is None:
        raise CollectionNotReported(
            "its dump task reported no result: it was killed or timed out, did not run (its upstream failed), or "
            "failed before it could report; see that task's log. What it stored was removed")
    try:
        entry = CollectionEntry.from_dict(result["collection"])
        written = result["written_with"]
    except (KeyError, TypeError, ManifestError) as exc:
        raise CollectionMismatch(f"its dump task reported a malformed result ({exc})") from None
    if written != expected:
        differences = sorted(k for k in expected.keys() | written.keys() if expected.get(k) != written.get(k))
        raise CollectionMismatch(
            f"it was written with other settings than this snapshot records ({', '.join(differences)}: "
            f"{ {k: written.get(k) for k in differences} } instead of { {k: expected.get(k) for k in differences} }); "
            f"every worker must run the same package version and configuration")
    return entry


def _joined_slices(name: str, count: int, reported: Mapping[int, Mapping[str, Any] | None], expected: dict[str, Any],
                   policy: VectorLossPolicy) -> CollectionEntry:
    """The collection's entry from its slices': counts, vector statistics and digests summed, segments in order.

    Every slice must have reported, with the snapshot's settings and only files of its own block.
    The vector-loss guard runs once more on the whole collection (each slice passed it on its own
    share). A failed slice fails the collection, listing what every slice stored.
    """
    missing = [k for k in range(count) if reported.get(k) is None]
    if missing:
        raise CollectionNotReported(
            f"the task(s) of slice(s) {', '.join(slice_item(name, k, count) for k in missing)} reported no result: "
            f"killed or timed out, did not run (upstream failed), or failed before they could report; see their "
            f"logs. What the collection stored was removed")
    slices: list[CollectionEntry] = []
    for k in range(count):
        entry = _usable_entry(reported[k], slice_item(name, k, count), expected)
        block = slice_segments(k)
        strays = [s.path for s in entry.segments if segment_index(s.path) not in block]
        if entry.name != name or strays or (k > 0 and entry.definition_file is not None):
            raise CollectionMismatch(
                f"slice {slice_item(name, k, count)} reported files outside its own: "
                f"{_some(strays + ([entry.definition_file.path] if k > 0 and entry.definition_file else []))}")
        slices.append(entry)
    first = slices[0]
    vectors = VectorSummary()
    for entry in slices:
        merge_vector_summaries(vectors, entry.vectors)
    joined = CollectionEntry(
        name=name, status=STATUS_COMPLETE, definition=first.definition, definition_file=first.definition_file,
        document_count=sum(e.document_count for e in slices), vectors=vectors,
        content_digest=combine_digests(e.content_digest for e in slices), digest_algorithm=DIGEST_ALGORITHM,
        segments=[segment for entry in slices for segment in entry.segments], embedding=first.embedding,
        embedding_models=first.embedding_models,
        warnings=[f"slice {k}: {warning}" for k, entry in enumerate(slices) for warning in entry.warnings],
        scan={"mode": "slices", "documents": sum(e.document_count for e in slices),
              "slices": [entry.scan for entry in slices]})
    failed = [f"slice {k}: {entry.error or 'failed'}" for k, entry in enumerate(slices)
              if entry.status == COLLECTION_FAILED]
    if not failed and first.definition_file is None:
        failed = ["slice 0 reported no definition file"]
    if not failed:
        try:  # an encrypted snapshot's entries carry no definition: then the slices' own checks stand alone
            check_vector_loss(name, first.definition, joined.document_count, joined.vectors, policy)
        except SnapshotError as exc:
            failed = [f"the whole collection: {type(exc).__name__}: {exc}"]
    if failed:
        joined.status, joined.error = COLLECTION_FAILED, "; ".join(failed)
    return joined


def _reconcile(pending: PendingSnapshot, plan: SnapshotPlan, entries: dict[str, CollectionEntry],
               problems: dict[str, SnapshotError]) -> list[str]:
    """Compare what the store holds with the entries: a collection whose files differ becomes a problem.

    Folders of collections outside the plan are removed. Returns files outside any collection
    folder that are neither the manifest nor its signature (there should be none).
    """
    listing: dict[str, StoredFile] = pending.files()
    expected: dict[str, tuple[str, FileEntry]] = {
        f.path: (name, f) for name, entry in entries.items() if name not in problems for f in entry.files}
    compared = VerifyReport(snapshot=plan.snapshot_id, level="files")  # the checker's comparison, as verify reports it
    compare_listing((entry for _, entry in expected.values()), listing, compared, require_checksum=False)
    found: dict[str, list[str]] = {}
    for problem in compared.problems:
        found.setdefault(expected[problem.path][0], []).append(str(problem))
    planned = set(plan.collections)
    unplanned: set[str] = set()
    strays: list[str] = []
    for path in sorted(listing):
        if path in expected or path in (MANIFEST_NAME, SIGNATURE_NAME):
            continue
        parts = path.split("/")
        owner = parts[1] if len(parts) >= 3 and parts[0] == COLLECTIONS_DIR else None
        if owner is not None and owner in planned:
            if owner in entries and owner not in problems:
                found.setdefault(owner, []).append(f"{path}: not one of its files [unlisted_file]")
        elif owner is not None and _valid_name(owner):
            unplanned.add(owner)
        else:
            strays.append(path)
    for name, details in found.items():
        problems[name] = CollectionMismatch(
            f"its files in the store are not the ones its task reported ({_some(details)}); another attempt may "
            f"have been writing at the same time. What it stored was removed")
    for name in sorted(unplanned):
        log.warning("Removing collections/%s from snapshot %s: that collection is not in its plan", name,
                    plan.snapshot_id)
        pending.discard_collection(name)
    return strays


def _already_sealed(store: Store, snapshot_id: str, producer: dict[str, str] | None) -> DumpOutcome:
    """A snapshot sealed before this commit ran (a retry after a lost success): report it as it is."""
    existing, manifest = sealed_by(store, snapshot_id, producer)
    log.warning("Snapshot %s is already sealed (%s) in %s; reporting it as it is", snapshot_id, manifest.status,
                store.describe())
    failures: dict[str, BaseException] = {c.name: CollectionFailed(c.error or "failed")
                                          for c in manifest.collections if c.status == COLLECTION_FAILED}
    return DumpOutcome(existing, manifest, None, failures, already_complete=manifest.status == STATUS_COMPLETE)


# -- shared ----------------------------------------------------------------------------------------


def _writer(staging: str, plan: SnapshotPlan, **kwargs: Any) -> SnapshotWriter:
    """A writer with the plan's settings, opened in a private staging folder (never sealed into the store itself)."""
    return SnapshotWriter(staging, source=plan.source, snapshot_id=plan.snapshot_id,
                          segment_max_bytes=plan.segment_max_bytes, vector_policy=plan.vector_policy,
                          compression=plan.compression, **kwargs).open()


def written_with(writer: SnapshotWriter) -> dict[str, Any]:
    """The settings that decide a collection's bytes, as the manifest records them, plus the encryption.

    A collection written by one worker may be listed by another's commit only if these agree.
    """
    return {"segment_max_bytes": writer.segment_max_bytes, "compression": writer.compression,
            "compress_level": writer.compress_level, "vector_policy": asdict(writer.vector_policy),
            "envelopes": list(writer.codec.envelope_names),
            "encryption": writer.encryption.manifest_entry() if writer.encryption is not None else None}


def _failed_entry(name: str, error: BaseException) -> CollectionEntry:
    """A failed collection with nothing stored: what the manifest says of a collection that never got written."""
    return CollectionEntry(name=name, status=COLLECTION_FAILED, definition={}, definition_file=None, document_count=0,
                           vectors=VectorSummary(), content_digest=EMPTY_DIGEST, digest_algorithm=DIGEST_ALGORITHM,
                           error=f"{type(error).__name__}: {error}")


def _valid_name(name: str) -> bool:
    try:
        check_collection_name(name)
    except ValueError:
        return False
    return True


def _some(items: list[str]) -> str:
    shown = "; ".join(items[:_MAX_LISTED_PROBLEMS])
    return shown + (f"; and {len(items) - _MAX_LISTED_PROBLEMS} more" if len(items) > _MAX_LISTED_PROBLEMS else "")
