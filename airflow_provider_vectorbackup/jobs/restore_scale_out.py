"""The scale-out restore: one snapshot restored by many workers, each inserting a slice of a collection's segments.

A single-task restore (:mod:`.restore`) reads and writes every collection in one process. Here
the same restore runs in three steps that may each run in another process on another machine:

1. :func:`plan_restore` downloads and verifies the snapshot once (every record), checks every
   target exactly as a single-task restore does, creates the targets, and splits each collection's
   segments into slices; its ``work_items`` are ``<collection>[<slice>/<slices>]``;
2. :func:`restore_slice`, once per work item, in any order or in parallel, reads its segments
   (each checked against the manifest as it is read) and inserts their documents; inserting is
   idempotent, so a retried slice counts what its earlier attempt wrote as ``already_present``.
   It returns a JSON-safe report: the segments it read, its count and content digest, and a few
   sample query vectors;
3. :func:`commit_restore` checks that every slice reported, for exactly its planned segments, and
   that the slices' counts and digests add up to the manifest's; then it validates each target as
   a single-task restore does: read-back count, content digest and vector-search recall.

No Airflow here; the operators pass the plan and the reports between tasks through XCom.
"""

from __future__ import annotations

import dataclasses
import logging
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_vectorbackup.jobs.recall import comparisons
from airflow_provider_vectorbackup.jobs.replace import ReplacedBackupFailed, back_up_replaced
from airflow_provider_vectorbackup.jobs.restore import (
    RestoreNotValidated, RestoreOptions, RestoreRefused, SnapshotUnusable, TargetConflict, create_target, plan_targets, read_back,
    recall_name, snapshot_to_restore, verified_snapshot,
)
from airflow_provider_vectorbackup.jobs.scale_out import parse_work_item, slice_item
from airflow_provider_vectorbackup.snapshot.digest import ContentDigest, combine_digests
from airflow_provider_vectorbackup.snapshot.guard import is_vectorize
from airflow_provider_vectorbackup.snapshot.manifest import CollectionEntry
from airflow_provider_vectorbackup.snapshot.reader import Snapshot, open_snapshot
from airflow_provider_vectorbackup.sources.base import VectorSource
from airflow_provider_vectorbackup.stores.base import Store

log = logging.getLogger(__name__)

_MAX_FAILURES_REPORTED = 20


@dataclass(frozen=True)
class RestorePlan:
    """What every worker of one scale-out restore must agree on. JSON-safe through :meth:`to_dict`.

    ``slices`` holds, per collection, its slices: each a list of segment paths, in index order.
    ``queries_per_slice`` is how many sample query vectors each slice reports for the recall check.
    """

    snapshot_id: str
    targets: dict[str, str]
    slices: dict[str, list[list[str]]]
    queries_per_slice: int = 3
    definitions: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per collection, the definition each target was created with (the manifest's; decrypted when encrypted)."""
    as_of: dict[str, Any] | None = None
    """When the snapshot was chosen by time: the choice, as a single-task restore reports it."""
    replaced_backup: str | None = None
    """Under ``if_exists="replace"``: the verified snapshot of the targets the plan dropped (``None``: none existed)."""

    @property
    def work_items(self) -> list[str]:
        """One per restore task: ``<collection>[<slice>/<slices>]``, collection by collection."""
        return [slice_item(name, k, len(groups)) for name, groups in self.slices.items() for k in range(len(groups))]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RestorePlan:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def split_segments(entry: CollectionEntry, slices: int) -> list[list[str]]:
    """Up to ``slices`` runs of consecutive segments holding about equal numbers of documents (at least one slice).

    Each segment goes to the slice its middle document falls in, so equal segments spread evenly.
    """
    segments = entry.segments
    count = max(1, min(slices, len(segments)))
    total = sum(s.documents or 0 for s in segments)
    groups: list[list[str]] = [[] for _ in range(count)]
    done = 0
    for i, segment in enumerate(segments):
        size = segment.documents or 0
        k = min(count - 1, int((done + size / 2) * count // total)) if total else i * count // len(segments)
        groups[k].append(segment.path)
        done += size
    return [group for group in groups if group] or [[]]


# -- 1. plan ---------------------------------------------------------------------------------------


def plan_restore(store: Store, snapshot_id: str | None, source: VectorSource, options: RestoreOptions = RestoreOptions(), *,
                 slices_per_collection: int = 4) -> RestorePlan:
    """Verify the snapshot once, check and create every target, and split each collection's segments into slices.

    Every refusal of a single-task restore applies, before anything is written; ``snapshot_id`` is
    ``None`` with ``options.as_of``, as for :func:`.restore.restore_snapshot`.

    :raises RestoreRefused: before anything is written (including a ``$vectorize`` collection, whose
        server-embedded documents a sliced restore cannot yet tell apart at validation).
    """
    if slices_per_collection < 1:
        raise ValueError(f"slices_per_collection must be at least 1, not {slices_per_collection}")
    stored, as_of = snapshot_to_restore(store, snapshot_id, options)
    with tempfile.TemporaryDirectory(prefix="vectorbackup-restore-", dir=options.staging_dir) as staging:
        snapshot = verified_snapshot(store, stored, staging, options)
        snapshot_kind = (snapshot.manifest.source or {}).get("kind", "astra")
        if snapshot_kind != source.kind:
            raise TargetConflict(f"snapshot {snapshot.snapshot_id} was taken from {snapshot_kind}: a restore into "
                                 f"{source.kind} translates it, which runs in one task (RestoreOperator, or the CLI's "
                                 f"restore); splitting it over tasks is not built yet; nothing was written")
        targets = plan_targets(source, snapshot, options)  # the single-task restore's checks
        definitions = {name: snapshot.definition(name) for name in targets}
        vectorize = [name for name, definition in definitions.items() if is_vectorize(definition)]
        if vectorize:
            raise TargetConflict(f"collection(s) {vectorize} use $vectorize: restore them with one task "
                                 f"(RestoreOperator), which tells server-embedded vectors apart; nothing was written")
        packed = [name for name in targets if snapshot.manifest.collection(name).index is not None]
        if packed:
            raise TargetConflict(f"collection(s) {packed} are deduplicated (format 4): restore them with one task "
                                 f"(RestoreOperator); splitting them over tasks is not built yet; nothing was written")
        tolerant = [name for name, definition in definitions.items() if source.restore_tolerance(definition)]
        if tolerant:
            raise TargetConflict(f"{source.kind} may move floats when it stores them, which only a single-task "
                                 f"restore checks (collections {tolerant}); nothing was written")
        slices = {name: split_segments(snapshot.manifest.collection(name), slices_per_collection) for name in targets}
    replaced_backup = None
    if options.if_exists == "replace":
        try:
            replaced_backup = back_up_replaced(source, store, targets.values(), restoring=stored.snapshot_id,
                                               identities=options.identities, staging_dir=options.staging_dir)
        except ReplacedBackupFailed as exc:
            raise RestoreRefused(str(exc)) from None
    for name, target in targets.items():
        create_target(source, target, definitions[name], options.if_exists)
    plan = RestorePlan(snapshot_id=stored.snapshot_id, targets=targets, slices=slices, definitions=definitions,
                       as_of=as_of, replaced_backup=replaced_backup,
                       queries_per_slice=-(-options.validation_queries // max(1, slices_per_collection)))
    log.info("Planned the restore of %s: %d task(s): %s", stored.snapshot_id, len(plan.work_items),
             ", ".join(plan.work_items))
    return plan


# -- 2. one slice ----------------------------------------------------------------------------------


def restore_slice(store: Store, plan: RestorePlan, item: str, source: VectorSource,
                  options: RestoreOptions = RestoreOptions()) -> dict[str, Any]:
    """Insert the documents of one slice's segments into its target; return the slice's JSON-safe report.

    The snapshot is fetched from the store (a local or shared folder is read in place) and each
    segment is checked against the manifest as it is read. ``report["ok"]`` is False when a
    document could not be inserted; the caller reports and then fails.
    """
    name, k = parse_work_item(item)
    groups = plan.slices.get(name)
    if k is None or groups is None or not 0 <= k < len(groups):
        raise ValueError(f"{item!r} is not a work item of the restore of {plan.snapshot_id} "
                         f"({', '.join(plan.work_items)})")
    paths = groups[k]
    target = plan.targets[name]
    stored = store.get(plan.snapshot_id)
    with tempfile.TemporaryDirectory(prefix="vectorbackup-restore-", dir=options.staging_dir) as staging:
        local = store.download(stored, staging)
        snapshot = open_snapshot(local, allow_incomplete=options.allow_incomplete, identities=options.identities,
                                 verifier=options.verifier, scratch_dir=staging)
        measured, _ = comparisons(plan.definitions.get(name))
        digest = ContentDigest()
        queries: dict[str, list[Any]] = {recall_name(c): [] for c in measured}
        step = max(1, _documents_in(snapshot.manifest.collection(name), paths) // max(1, plan.queries_per_slice))

        def documents() -> Iterator[dict[str, Any]]:
            for number, record in enumerate(_slice_records(snapshot, name, paths)):
                if number % step == 0:
                    for comparison in measured:
                        wanted = queries[recall_name(comparison)]
                        query = comparison.query(record)
                        if query is not None and len(wanted) < plan.queries_per_slice:
                            wanted.append(query)
                digest.add(record)
                yield record

        inserted = source.insert_documents(target, documents(), chunk_size=options.chunk_size,
                                           concurrency=options.concurrency)
    log.info("Restored %s into %r: %s", item, target, inserted.summary())
    return {"collection": name, "slice": k, "target": target, "segments": paths, "documents": digest.documents,
            "content_digest": digest.hexdigest(), "inserted": inserted.inserted,
            "already_present": inserted.already_present,
            "failures": [f"{f.id!r}: {f.error_code}: {f.message}" for f in inserted.failures[:_MAX_FAILURES_REPORTED]],
            "queries": queries, "ok": inserted.ok}


def _slice_records(snapshot: Snapshot, name: str, paths: list[str]) -> Iterator[dict[str, Any]]:
    """The stored-form records of the listed segments, read and checked by the snapshot's own reader."""
    entry = snapshot.manifest.collection(name)
    wanted = set(paths)
    part = dataclasses.replace(entry, segments=[s for s in entry.segments if s.path in wanted])
    if len(part.segments) != len(wanted):
        missing = sorted(wanted - {s.path for s in part.segments})
        raise SnapshotUnusable(f"snapshot {snapshot.snapshot_id} lists no segment(s) {missing} of collection "
                               f"{name!r}; the restore plan does not fit this snapshot")
    view = dataclasses.replace(snapshot, manifest=dataclasses.replace(snapshot.manifest, collections=[part]))
    yield from view.records(name)


def _documents_in(entry: CollectionEntry, paths: list[str]) -> int:
    wanted = set(paths)
    return sum(s.documents or 0 for s in entry.segments if s.path in wanted)


# -- 3. commit -------------------------------------------------------------------------------------


def commit_restore(store: Store, plan: RestorePlan, reports: Iterable[Mapping[str, Any] | None], source: VectorSource,
                   options: RestoreOptions = RestoreOptions()) -> dict[str, Any]:
    """Reconcile the slices' reports with the manifest, then validate every target; return the restore report.

    :raises RestoreNotValidated: a slice is missing, failed or does not add up, or a target's
        read-back count, digest or recall does not match the snapshot; the report says which.
    """
    manifest = store.read_manifest(store.get(plan.snapshot_id))
    by_slice: dict[str, dict[int, Mapping[str, Any]]] = {}
    for report in reports:
        if isinstance(report, Mapping) and isinstance(report.get("slice"), int):
            by_slice.setdefault(str(report.get("collection")), {})[report["slice"]] = report
    results: dict[str, dict[str, Any]] = {}
    for name, groups in plan.slices.items():
        entry = manifest.collection(name)
        problems = _reconciled(name, groups, by_slice.get(name, {}), entry)
        got = [by_slice.get(name, {}).get(k) or {} for k in range(len(groups))]
        result: dict[str, Any] = {
            "target": plan.targets[name], "slices": len(groups), "documents_expected": entry.document_count,
            "inserted": sum(r.get("inserted", 0) for r in got),
            "already_present": sum(r.get("already_present", 0) for r in got),
            "failures": [f for r in got for f in r.get("failures", [])][:_MAX_FAILURES_REPORTED],
            "slice_problems": problems}
        if not problems:
            queries = {key: [q for r in got for q in r["queries"].get(key, [])] for key in got[0]["queries"]}
            result.update(validate_target(source, plan.targets[name], plan.definitions.get(name), entry, queries,
                                          options))
        result["ok"] = not problems and result.get("validated", False)
        results[name] = result
    summary = {"snapshot_id": plan.snapshot_id, **({"as_of": plan.as_of} if plan.as_of else {}),
               **({"replaced_backup": plan.replaced_backup} if plan.replaced_backup is not None else {}),
               "source": source.kind, "namespace": source.namespace, "keyspace": source.namespace,
               "collections": results, "ok": all(r["ok"] for r in results.values())}
    if not summary["ok"]:
        bad = {name: r for name, r in results.items() if not r["ok"]}
        lines = [f"restore of {plan.snapshot_id} did not validate:"]
        for name, r in bad.items():
            lines += [f"  {name}: {p}" for p in r["slice_problems"]] or [f"  {name}: {r}"]
        raise RestoreNotValidated("\n".join(lines), summary)
    return summary


def _reconciled(name: str, groups: list[list[str]], reported: Mapping[int, Mapping[str, Any]],
                entry: CollectionEntry) -> list[str]:
    """What is wrong with the slices' reports of one collection (empty when they add up to the manifest)."""
    problems = []
    count = len(groups)
    for k, paths in enumerate(groups):
        report = reported.get(k)
        item = slice_item(name, k, count)
        if report is None:
            problems.append(f"{item} reported nothing: its task was killed, timed out or did not run; clear it to "
                            f"run it again (re-inserting is safe)")
        elif list(report.get("segments") or []) != paths:
            problems.append(f"{item} reports segments {report.get('segments')}, the plan gave it {paths}")
        elif not report.get("ok"):
            problems.append(f"{item} could not insert every document: {(report.get('failures') or ['?'])[0]}")
    if problems:
        return problems
    documents = sum(int(reported[k]["documents"]) for k in range(count))
    if documents != entry.document_count:
        problems.append(f"the slices read {documents} document(s), the manifest lists {entry.document_count}")
    try:
        digest = combine_digests(str(reported[k]["content_digest"]) for k in range(count))
    except (KeyError, ValueError) as exc:
        return problems + [f"a slice reported a malformed content digest ({exc})"]
    if digest != entry.content_digest:
        problems.append(f"the slices' documents add up to content digest {digest}, the manifest says "
                        f"{entry.content_digest}: what was read is not what was backed up")
    return problems


def validate_target(source: VectorSource, target: str, definition: Mapping[str, Any] | None, entry: CollectionEntry,
                    queries: Mapping[str, list[Any]], options: RestoreOptions) -> dict[str, Any]:
    """Read the restored target back once (:func:`.restore.read_back`, as a single-task restore does): its count,
    content digest and recall@10 against the snapshot's, for documents that slices inserted."""
    measured, not_measured = comparisons(definition)
    probes = [(c, list(queries.get(recall_name(c), []))) for c in measured]
    back = read_back(source, target, dict(definition or {}), probes, options)
    validated = (back.documents == entry.document_count and back.digest == entry.content_digest
                 and all(value >= options.min_recall for value in back.recall.values()))
    return {"documents_restored": back.documents, "digest_expected": entry.content_digest,
            "digest_restored": back.digest, "recall_at_10": min(back.recall.values()) if back.recall else None,
            "queries": back.queries, "recall_by_field": back.recall, "recall_not_measured": not_measured,
            "validated": validated, "scan": back.scan}
