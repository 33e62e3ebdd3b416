"""Restore collections from a snapshot into a source, and prove the result. Shared by RestoreOperator and the CLI.

Nothing is written until the whole snapshot is local and verified record by record and every
target has been checked; after writing, counts, content digests and vector-search recall are
measured against the snapshot.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import datetime as dt
import logging
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from airflow_provider_vectorbackup.check.stored import download_and_verify
from airflow_provider_vectorbackup.jobs.as_of import choose_as_of
from airflow_provider_vectorbackup.jobs.models import ModelMismatch, check_models, parse_models
from airflow_provider_vectorbackup.jobs.replace import ReplacedBackupFailed, back_up_replaced
from airflow_provider_vectorbackup.snapshot.digest import ContentDigest
from airflow_provider_vectorbackup.snapshot.encryption import AgeIdentities
from airflow_provider_vectorbackup.snapshot.guard import is_vectorize
from airflow_provider_vectorbackup.snapshot.manifest import COLLECTION_FAILED, CollectionEntry
from airflow_provider_vectorbackup.snapshot.reader import Snapshot, open_snapshot
from airflow_provider_vectorbackup.snapshot.signing import Verifiers
from airflow_provider_vectorbackup.progress import Progress
from airflow_provider_vectorbackup.jobs.recall import NearestNeighbours, VectorComparison, comparisons, id_key, recall_at_k
from airflow_provider_vectorbackup.snapshot.tolerance import shape_of, ulps_apart
from airflow_provider_vectorbackup.snapshot.vectors import VECTOR_FIELD, VECTORIZE_FIELD
from airflow_provider_vectorbackup.sources.base import SCAN_MODES, VectorSource
from airflow_provider_vectorbackup.stores.base import Store, StoredSnapshot
from airflow_provider_vectorbackup.translation.documents import neutral
from airflow_provider_vectorbackup.translation.plan import LOSSY_KINDS, CollectionPlan, plan_collection

log = logging.getLogger(__name__)

IF_EXISTS = ("fail", "resume", "replace")


class RestoreRefused(Exception):
    """The restore did not start: the snapshot or a target is not safe to use. Nothing was written."""


class SnapshotUnusable(RestoreRefused):
    """The snapshot is in progress, incomplete, damaged or fails verification."""


class TargetConflict(RestoreRefused):
    """The request does not fit the snapshot or the target: unknown collections, name clashes, existing targets."""


class RestoreNotValidated(Exception):
    """Documents were written but the result does not match the snapshot; the report says where."""

    def __init__(self, message: str, report: dict[str, Any]) -> None:
        super().__init__(message)
        self.report = report


@dataclass(frozen=True)
class RestoreOptions:
    """What to restore and how; see RestoreOperator for each option."""

    collections: list[str] | None = None
    target_prefix: str | None = None
    name_mapping: dict[str, str] | None = None
    if_exists: str = "fail"
    allow_incomplete: bool = False
    chunk_size: int = 20
    concurrency: int = 32
    """Insert requests in flight at most; a source that meets throttling (HTTP 429) sends fewer, then more again."""
    read_streams: int = 16
    """Requests in flight when the restored collection is read back for validation (a dump's default is 4: a
    read-back is on the clock of a bad day, and one collection's 16 ranged reads stay far below a database's
    request limits)."""
    scan_mode: str = "auto"
    """How the read-back scans: ``"auto"``, ``"ranges"`` or ``"single"``, as for a dump (``DumpOptions``)."""
    validation_queries: int = 10
    min_recall: float = 0.9
    staging_dir: str | None = None
    identities: AgeIdentities | None = None
    """Private age identities, needed (only) to restore an encrypted snapshot."""
    verifier: Verifiers | None = None
    """Manifest signature keys: when given, an unsigned or badly signed snapshot is refused."""
    allow_lossy: tuple[str, ...] = ()
    """Lossy translation steps allowed when restoring into another engine, by kind (``translation.plan.LOSSY_KINDS``)."""
    where: dict[str, Any] | None = None
    """Restore only the documents whose payload fields have these values (top-level fields, equal as stored; the
    Data API's fields are its payload). Counts, digest and recall are then measured on the documents chosen."""
    plan_only: bool = False
    """Download, verify and plan, then stop: the report holds each collection's translation plan and nothing is
    written."""
    as_of: dt.datetime | None = None
    """Instead of a snapshot id: the newest snapshot taken at or before this moment that is complete and passes
    ``files`` verification (:func:`.as_of.choose_as_of`; :func:`.as_of.parse_as_of` reads one a user gave)."""
    embedding_models: dict[str, str] | None = None
    """The targets' models, ``{vector field: "MODEL[@VERSION]"}`` (``""``: each collection's only vector field):
    a snapshot whose recorded model differs is refused (:mod:`.models`)."""
    allow_model_change: bool = False
    """Restore even into a target of another declared model or vector dimension (the vectors are not re-embedded)."""

    def __post_init__(self) -> None:
        if self.as_of is not None and (self.as_of.tzinfo is None or self.as_of.utcoffset() is None):
            raise ValueError("as_of needs a time zone: a naive time names no single moment")
        for name in ("chunk_size", "concurrency", "read_streams"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")
        if self.if_exists not in IF_EXISTS:
            raise TargetConflict(f"if_exists must be one of {IF_EXISTS}, not {self.if_exists!r}")
        if self.scan_mode not in SCAN_MODES:
            raise ValueError(f"scan_mode must be one of {SCAN_MODES}, not {self.scan_mode!r}")
        parse_models(self.embedding_models)
        unknown = sorted(set(self.allow_lossy) - set(LOSSY_KINDS))
        if unknown:
            raise ValueError(f"unknown lossy kind(s) {unknown} in allow_lossy; the kinds are {sorted(LOSSY_KINDS)}")


def restore_snapshot(store: Store, snapshot_id: str | None, source: VectorSource,
                     options: RestoreOptions = RestoreOptions(),
                     on_progress: Callable[[Progress], None] | None = None) -> dict[str, Any]:
    """Restore and validate; return the validation report, with each phase's seconds under ``phases``.

    ``snapshot_id`` is an id or ``"latest"``; ``None`` with ``options.as_of``, and then the report's ``as_of``
    says which snapshot that time chose and which newer ones were skipped, and why.

    :param on_progress: called with each collection's :class:`Progress` as its documents are sent (the
        CLI draws its progress bar from it); task logs get a progress line with an ETA every 30 s anyway.
    :raises RestoreRefused: before anything is written.
    :raises RestoreNotValidated: after writing, if counts, digests or recall do not hold.
    """
    return _Restore(source, options, on_progress).run(store, snapshot_id)


def snapshot_to_restore(store: Store, snapshot_id: str | None,
                        options: RestoreOptions) -> tuple[StoredSnapshot, dict[str, Any] | None]:
    """The snapshot ``snapshot_id`` names, or the one ``options.as_of`` chooses with the choice's report.

    :raises ValueError: both or neither given.
    :raises NoSnapshotAsOf: no snapshot can stand for that time.
    """
    if options.as_of is None:
        if snapshot_id is None:
            raise ValueError("give a snapshot id (or 'latest'), or as_of: which snapshot to restore")
        return store.get(snapshot_id), None
    if snapshot_id is not None:
        raise ValueError(f"give a snapshot id ({snapshot_id!r}) or as_of, not both: as_of chooses the snapshot")
    choice = choose_as_of(store, options.as_of, verifier=options.verifier)
    return choice.chosen, choice.to_dict()


def verified_snapshot(store: Store, stored: StoredSnapshot, staging: str, options: RestoreOptions) -> Snapshot:
    """Download ``stored`` into ``staging`` and verify every record of it, or refuse with nothing written.

    :raises SnapshotUnusable: in progress, INCOMPLETE (unless allowed), damaged, or failing verification.
    """
    try:  # the checker refuses an in-progress or (unless allowed) INCOMPLETE snapshot before downloading
        local, report = download_and_verify(store, stored, staging, allow_incomplete=options.allow_incomplete,
                                            identities=options.identities, verifier=options.verifier,
                                            scratch_dir=staging)
    except Exception as exc:  # damaged files are in the report: this is the store failing
        raise SnapshotUnusable(f"refusing to restore: downloading snapshot {stored.snapshot_id} failed "
                               f"({type(exc).__name__}: {exc}); nothing was written") from None
    if local is None or not report.ok:
        raise SnapshotUnusable("refusing to restore from a snapshot that fails verification; nothing was "
                               "written.\n" + report.summary())
    return open_snapshot(local, allow_incomplete=options.allow_incomplete, identities=options.identities,
                         verifier=options.verifier, scratch_dir=staging)


def plan_targets(source: VectorSource, snapshot: Snapshot, options: RestoreOptions) -> dict[str, str]:
    """Source collection → target name, after every refusal a restore makes before writing.

    :raises RestoreRefused: unknown or failed collections, name clashes, another engine, a definition the
        target cannot recreate, or an existing target that ``if_exists`` does not allow.
    """
    return _Restore(source, options)._plan(snapshot)


def create_target(source: VectorSource, target: str, definition: dict[str, Any], if_exists: str) -> None:
    """Create the target collection (kept when it exists as planned), dropping it first under ``"replace"``."""
    if if_exists == "replace" and source.collection_definition(target) is not None:
        log.warning("Dropping existing collection %r to replace it (if_exists='replace')", target)
        source.drop_collection(target)
    source.create_collection(target, definition)


@dataclass(frozen=True)
class ReadBack:
    """What one read of a restored collection found: its count and digest, and the recall of its search."""

    documents: int
    digest: str
    recall: dict[str, float]
    """recall@10 per vector field (``$vector`` for the Data API's), for the fields that had queries."""
    queries: int
    scan: dict[str, Any] | None


def read_back(source: VectorSource, target: str, definition: dict[str, Any],
              probes: list[tuple[VectorComparison, list[Any]]], options: RestoreOptions, *, shapes: bool = False,
              embedded_by_server: set[str] | frozenset[str] = frozenset()) -> ReadBack:
    """Read the whole target once, in parallel streams, for its count, content digest and exact top 10 of each
    query, while the store answers the same queries (its answers do not depend on the read-back).

    :param probes: each measured vector field with its sample queries (stored-form values).
    :param shapes: digest each document's shape (``shape_of``) instead of its values, for engines that move floats.
    :param embedded_by_server: ids whose vectors the server made: left out of the digest, not of the search.
    """
    restored = ContentDigest()
    neighbours = [NearestNeighbours(queries, comparison) for comparison, queries in probes]
    scan = source.scan(target, definition, streams=options.read_streams, mode=options.scan_mode)
    with concurrent.futures.ThreadPoolExecutor(SEARCHES_AT_ONCE, thread_name_prefix="restore-search") as searches:
        asked = [[searches.submit(source.vector_search, target, q, limit=10, field=comparison.field)
                  for q in queries] for comparison, queries in probes]
        with contextlib.closing(scan.pages()) as pages:
            for page in pages:
                for document in page:
                    for exact in neighbours:  # the server searches its own vectors, embedded ones included
                        exact.add(document)
                    if embedded_by_server and id_key(document["_id"]) in embedded_by_server:
                        document = {k: v for k, v in document.items() if k != VECTOR_FIELD}  # not in the snapshot
                    restored.add(shape_of(document) if shapes else document)
        found = [[[id_key(i) for i in answer.result()] for answer in answers] for answers in asked]
    recall = {recall_name(comparison): round(recall_at_k(exact.eligible(), answer), 4)
              for (comparison, queries), exact, answer in zip(probes, neighbours, found) if queries}
    return ReadBack(restored.documents, restored.hexdigest(), recall, sum(len(q) for _, q in probes),
                    scan.record.to_dict() if scan.record is not None else None)


def recall_name(comparison: VectorComparison) -> str:
    """How reports name a vector field's recall: its name, or ``$vector`` for the Data API's."""
    return comparison.field if comparison.field is not None else VECTOR_FIELD


class _Restore:
    def __init__(self, source: VectorSource, options: RestoreOptions,
                 on_progress: Callable[[Progress], None] | None = None) -> None:
        self.source = source
        self.options = options
        self.on_progress = on_progress
        self.translations: dict[str, CollectionPlan] = {}
        """Per source collection, its translation into another engine (empty when restoring into the same one)."""
        self._refusals: dict[str, list[str]] = {}

    def run(self, store: Store, snapshot_id: str | None) -> dict[str, Any]:
        started = time.monotonic()
        stored, as_of = snapshot_to_restore(store, snapshot_id, self.options)
        with tempfile.TemporaryDirectory(prefix="vectorbackup-restore-", dir=self.options.staging_dir) as staging:
            snapshot = verified_snapshot(store, stored, staging, self.options)
            plan = self._plan(snapshot)
            if self.options.plan_only:
                return {"snapshot_id": stored.snapshot_id, **({"as_of": as_of} if as_of else {}),
                        "source": self.source.kind, "namespace": self.source.namespace, "plan_only": True,
                        "written": False, "collections": {name: {"target": target, "translation": self._plan_of(name)}
                                                          for name, target in plan.items()},
                        "ok": not any(self._refusals.values())}
            replaced_backup = self._back_up_replaced(store, stored.snapshot_id, plan)
            prepared = time.monotonic() - started
            results = {name: self._restore(snapshot, snapshot.manifest.collection(name), target)
                       for name, target in plan.items()}
        phases = {phase: round(sum(r["phases"][phase] for r in results.values()) + (prepared if phase == "prepare"
                                                                                   else 0.0), 3)
                  for phase in ("prepare", "write", "validate")}
        # "keyspace" is the Data API's word for the namespace, kept for reports read by existing DAGs.
        summary = {"snapshot_id": stored.snapshot_id, **({"as_of": as_of} if as_of else {}),
                   **({"replaced_backup": replaced_backup} if self.options.if_exists == "replace" else {}),
                   "source": self.source.kind, "namespace": self.source.namespace, "keyspace": self.source.namespace,
                   "collections": results, "phases": phases,
                   "ok": all(r["ok"] for r in results.values())}
        if not summary["ok"]:
            bad = {name: r for name, r in results.items() if not r["ok"]}
            raise RestoreNotValidated(f"restore of {stored.snapshot_id} did not validate: {bad}", summary)
        return summary

    def _back_up_replaced(self, store: Store, restoring: str, plan: dict[str, str]) -> str | None:
        """Under ``"replace"``, the id of a verified backup of the targets about to be dropped (``None``: none exists)."""
        if self.options.if_exists != "replace":
            return None
        try:
            return back_up_replaced(self.source, store, plan.values(), restoring=restoring,
                                    identities=self.options.identities, staging_dir=self.options.staging_dir)
        except ReplacedBackupFailed as exc:
            raise RestoreRefused(str(exc)) from None

    def _plan(self, snapshot: Snapshot) -> dict[str, str]:
        """Source → target names, with every refusal checked before anything is written."""
        available = {c.name: c for c in snapshot.collections()}
        names = self.options.collections or [c.name for c in available.values() if c.status != COLLECTION_FAILED]
        unknown = [n for n in names if n not in available]
        if unknown:
            raise TargetConflict(f"snapshot {snapshot.snapshot_id} has no collection(s) {unknown}; it has "
                                       f"{sorted(available)}")
        failed = [n for n in names if available[n].status == COLLECTION_FAILED]
        if failed:
            raise SnapshotUnusable(f"collection(s) {failed} failed during snapshot {snapshot.snapshot_id}; their "
                                       f"data is partial and is not restored")
        plan = {n: (self.options.name_mapping or {}).get(n) or f"{self.options.target_prefix or ''}{n}" for n in names}
        if len(set(plan.values())) != len(plan):
            raise TargetConflict(f"two collections would be restored under the same name: {plan}")
        snapshot_kind = (snapshot.manifest.source or {}).get("kind", "astra")
        if snapshot_kind != self.source.kind:
            self._translate(snapshot, snapshot_kind, plan)
            if self.options.plan_only:
                return plan
            refused = [f"{name!r}: {reason}" for name, reasons in self._refusals.items() for reason in reasons]
            if refused:
                raise TargetConflict(
                    f"restoring snapshot {snapshot.snapshot_id} from {snapshot_kind} into {self.source.kind} needs "
                    f"what was not allowed; nothing was written (see the plan with --plan or plan_only=True):\n  "
                    + "\n  ".join(refused))
        unsupported = [f"{name!r}: {problem}" for name in plan
                       for problem in self.source.unsupported(self._target_definition(snapshot, name))]
        if unsupported:
            raise TargetConflict(f"{self.source.kind} cannot recreate what snapshot {snapshot.snapshot_id} holds; "
                                 f"nothing was written: " + "; ".join(unsupported))
        if self.options.plan_only:
            return plan
        for name, target in plan.items():
            self._check_target(target, self._target_definition(snapshot, name), translated=name in self.translations)
        try:  # after if_exists had its say: only targets a restore may write into are compared
            check_models(snapshot, plan, self.source, self.options.embedding_models,
                         allow_model_change=self.options.allow_model_change,
                         created={name: self._target_definition(snapshot, name) for name in plan},
                         renamed={name: {m.source: m.target for m in translation.vectors if m.target is not None}
                                  for name, translation in self.translations.items()})
        except ModelMismatch as exc:
            raise TargetConflict(str(exc)) from None
        return plan

    def _translate(self, snapshot: Snapshot, snapshot_kind: str, plan: dict[str, str]) -> None:
        """Plan every collection's translation into this engine, reading each collection's records twice."""
        for name in plan:
            translation = plan_collection(snapshot.definition(name), snapshot_kind,
                                          lambda name=name: snapshot.records(name), self.source.kind,
                                          self.source.capabilities, self.options.allow_lossy)
            self.translations[name] = translation
            self._refusals[name] = translation.refusal()
            log.info("Translation of %r from %s into %s: %s", name, snapshot_kind, self.source.kind,
                     translation.to_dict())

    def _plan_of(self, name: str) -> dict[str, Any]:
        translation = self.translations.get(name)
        if translation is None:
            return {"source_engine": self.source.kind, "target_engine": self.source.kind, "steps": [],
                    "same_engine": True, "refused": []}
        return {**translation.to_dict(), "refused": self._refusals.get(name, [])}

    def _target_definition(self, snapshot: Snapshot, name: str) -> dict[str, Any]:
        """The definition the target is created with: the snapshot's, or the target engine's for a translation."""
        translation = self.translations.get(name)
        if translation is None:
            return snapshot.definition(name)
        return self.source.portable_definition(translation.portable)

    def _check_target(self, target: str, definition: dict[str, Any], *, translated: bool = False) -> None:
        existing = self.source.collection_definition(target)
        if existing is None or self.options.if_exists == "replace":
            return
        same = existing == definition or (translated and same_shape(existing, definition))
        if same and (self.options.if_exists == "resume" or self.source.count_documents(target).count == 0):
            return
        raise TargetConflict(
            f"collection {target!r} already exists in {self.source.kind} namespace {self.source.namespace!r}"
            + (" with documents" if same else " with a different definition")
            + ". Nothing was written. Restore under another name (target_prefix or name_mapping), set "
            "if_exists='resume' to continue a restore that crashed, or if_exists='replace' to drop and recreate it")

    def _restore(self, snapshot: Snapshot, entry: CollectionEntry, target: str) -> dict[str, Any]:
        source = self.source
        started = time.monotonic()
        retried_before = source.in_band_retries.of(target)
        definition = self._target_definition(snapshot, entry.name)
        translation = self.translations.get(entry.name)
        translator = translation.translator(source.capabilities) if translation is not None else None
        snapshot_kind = translation.source_engine if translation is not None else source.kind
        create_target(source, target, definition, self.options.if_exists)
        created = time.monotonic()
        vectorize = is_vectorize(definition)
        # The records were verified against the manifest's content digest before anything was written, so the
        # digest the read-back must match is the manifest's. Only a vectorize collection's records, and translated
        # ones, are changed on their way out (below), and only then is the digest of what was sent computed again.
        sent = ContentDigest() if vectorize or translator is not None or self.options.where else None
        chosen = 0
        exhausted = False  # a filtered restore's expected count is only known once every record was offered
        stripped = 0
        embedded_by_server: set[str] = set()  # $vectorize documents sent without a vector: the server makes one
        measured, not_measured = comparisons(definition)
        probes = [_Probe(c, self.options.validation_queries, entry) for c in measured]
        tolerance = source.restore_tolerance(definition)
        samples = _Samples(entry.document_count) if tolerance else None
        # What must match exactly: the documents themselves, or their shape when floats may move.
        shapes = ContentDigest() if samples is not None else None
        progress = Progress(log, f"restore {entry.name} into {target}", entry.document_count)

        def documents() -> Iterator[dict[str, Any]]:
            nonlocal stripped, chosen, exhausted
            for record in snapshot.records(entry.name):
                read = neutral(record, snapshot_kind) if self.options.where or translator is not None else None
                if self.options.where and not _matches(read.payload, self.options.where):
                    continue
                chosen += 1
                if translator is not None:
                    record = translator.translate(read)
                if vectorize and VECTOR_FIELD in record and VECTORIZE_FIELD in record:
                    # The Data API refuses both together; keep the stored vector (no re-embedding), drop the text.
                    record = {k: v for k, v in record.items() if k != VECTORIZE_FIELD}
                    stripped += 1
                elif vectorize and VECTOR_FIELD not in record and VECTORIZE_FIELD in record:
                    embedded_by_server.add(id_key(record["_id"]))
                for probe in probes:
                    probe.offer(record)
                if sent is not None:
                    sent.add(record)
                if samples is not None and shapes is not None:
                    samples.offer(record)
                    shapes.add(shape_of(record))
                progress.advance(1)
                if self.on_progress is not None and progress.documents % PROGRESS_EVERY == 0:
                    self.on_progress(progress)
                yield record
            exhausted = True

        inserted = source.insert_documents(target, documents(), chunk_size=self.options.chunk_size,
                                         concurrency=self.options.concurrency)
        progress.done()
        if self.on_progress is not None:
            self.on_progress(progress)
        written = time.monotonic()
        expected_count = entry.document_count if not self.options.where else chosen if exhausted else -1
        log.info("Restored %r into %r: %s", entry.name, target, inserted.summary())
        expected = shapes.hexdigest() if shapes is not None else sent.hexdigest() if sent is not None else \
            entry.content_digest
        # Floats compared before the validation searches: an engine may renormalise vectors as it searches.
        worst = samples.check(source, target) if samples is not None else None
        back = read_back(source, target, definition, [(p.comparison, p.queries) for p in probes], self.options,
                         shapes=samples is not None, embedded_by_server=embedded_by_server)
        recall = back.recall
        result: dict[str, Any] = {
            "target": target, "documents_expected": expected_count, "documents_restored": back.documents,
            "inserted": inserted.inserted, "already_present": inserted.already_present,
            "failures": [f"{f.id!r}: {f.error_code}: {f.message}" for f in inserted.failures[:20]],
            "digest_expected": expected, "digest_restored": back.digest,
            "digest_matches_manifest": sent is None or sent.hexdigest() == entry.content_digest,
            "vectorize_text_dropped": stripped, "vectors_embedded_by_server": len(embedded_by_server),
            "in_band_retries": source.in_band_retries.since(target, retried_before),
            "throttled_requests": inserted.throttled, "fewest_in_flight": inserted.fewest_in_flight,
            "scan": back.scan,
        }
        if translation is not None and translator is not None:
            result["translation"] = {**self._plan_of(entry.name), "lossy_documents": {
                kind: translator.touched.lossy(kind) for kind in translation.allowed}}
        result["recall_at_10"] = min(recall.values()) if recall else None
        result["queries"] = back.queries
        result["recall_by_field"] = recall
        result["recall_not_measured"] = not_measured
        floats_ok = True
        if samples is not None:
            result.update(digest_scope=f"shape: floats compared on {len(samples.documents)} sampled document(s) "
                                       f"within {tolerance} ulp(s)", tolerance_ulps=tolerance, most_ulps_apart=worst)
            floats_ok = worst is not None and worst <= tolerance
        result["ok"] = (inserted.ok and back.documents == expected_count
                        and back.digest == expected and floats_ok
                        and all(value >= self.options.min_recall for value in recall.values()))
        finished = time.monotonic()
        result["phases"] = {"prepare": round(created - started, 3), "write": round(written - created, 3),
                            "validate": round(finished - written, 3)}
        log.info("Validation of %r: %s", target, result)
        return result


def same_shape(existing: dict[str, Any], wanted: dict[str, Any]) -> bool:
    """Whether an existing collection is one a translation's definition created: the same engine, id type and
    vector fields. An engine adds settings of its own as it creates a collection (a Qdrant server), and one that
    learns a dimension from the first vector (Chroma) reads ``None`` until then; the create itself checks the rest."""
    if "engine" not in wanted:
        return existing == wanted
    if existing.get("engine") != wanted["engine"] or (existing.get("id") or {}).get("type") != wanted["id"].get("type"):
        return False
    have, want = existing.get("vectors") or {}, wanted.get("vectors") or {}
    return set(have) == set(want) and all(
        all(have[name].get(key) == spec.get(key) for key in ("kind", "dtype", "metric"))
        and have[name].get("dimension") in (spec.get("dimension"), None) for name, spec in want.items())


def _matches(payload: dict[str, Any], where: dict[str, Any]) -> bool:
    return all(name in payload and payload[name] == value for name, value in where.items())


class _Probe:
    """Sample queries for one vector field, spread evenly over the snapshot's documents that have it."""

    def __init__(self, comparison: VectorComparison, wanted: int, entry: CollectionEntry) -> None:
        self.comparison = comparison
        self.name = recall_name(comparison)
        with_vector = entry.vectors.documents_with_vector
        if comparison.field is not None:
            field = entry.vectors.fields.get(comparison.field)
            with_vector = field.documents_with_vector if field is not None else with_vector
        self.wanted = wanted if with_vector else 0
        self.step = max(1, with_vector // max(1, wanted))
        self.seen = 0
        self.queries: list[Any] = []

    def offer(self, record: dict[str, Any]) -> None:
        if not self.comparison.present(record):
            return
        if self.seen % self.step == 0 and len(self.queries) < self.wanted:
            query = self.comparison.query(record)  # decoded only when picked
            if query is None:
                return  # present but not a readable vector of this kind: never a query
            self.queries.append(query)
        self.seen += 1


class _Samples:
    """Up to :data:`SAMPLED_DOCUMENTS` snapshot documents spread over the collection, to compare floats by id."""

    def __init__(self, documents: int) -> None:
        self.step = max(1, documents // SAMPLED_DOCUMENTS)
        self.seen = 0
        self.documents: dict[str, dict[str, Any]] = {}

    def offer(self, record: dict[str, Any]) -> None:
        if self.seen % self.step == 0 and len(self.documents) < SAMPLED_DOCUMENTS:
            self.documents[id_key(record["_id"])] = record
        self.seen += 1

    def check(self, source: VectorSource, target: str) -> int | None:
        """The most ulps any sampled float moved; ``None`` if a sample is missing or differs beyond its floats."""
        worst = 0
        wanted = list(self.documents.values())
        for start in range(0, len(wanted), 100):
            chunk = wanted[start:start + 100]
            back = {id_key(d["_id"]): d for d in source.find_by_ids(target, [d["_id"] for d in chunk])}
            for document in chunk:
                apart = ulps_apart(document, back.get(id_key(document["_id"])))
                if apart is None:
                    return None
                worst = max(worst, apart)
        return worst


SEARCHES_AT_ONCE = 4
"""Recall queries in flight at once, beside the read-back's streams."""

PROGRESS_EVERY = 1000
"""Documents between two calls of a restore's ``on_progress`` (a progress bar needs no more)."""

SAMPLED_DOCUMENTS = 500
"""Documents whose floats are compared one by one when the engine may move floats (``restore_tolerance``)."""
