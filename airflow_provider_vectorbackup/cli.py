"""``vectorbackup``: list, inspect, verify, dump, restore, prune and download snapshots with no Airflow running.

It runs the same jobs as the operators and reads the same connections, given as ``AIRFLOW_CONN_*``
environment variables (JSON or URI), through the same lookup (``hooks/connections.py``), so one
configuration serves the scheduler and a bad day without it. No metadata database, no scheduler.
``--source-conn-uri`` (a connection URI, read by Airflow's rules) and ``--astra-endpoint`` make the
source's connection in memory; nothing writes to the environment.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

LEVELS = ("files", "records")  # the checker's (check.verify.LEVELS), named here so --help needs no import

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_INCOMPLETE = 2
EXIT_VECTOR_LOSS = 3
EXIT_USAGE = 4

EXIT_CODES = f"""exit codes:
  {EXIT_OK}  success
  {EXIT_INCOMPLETE}  the snapshot is incomplete, or verification or restore validation failed
  {EXIT_VECTOR_LOSS}  the vector-loss guard tripped: a collection lost its vectors
  {EXIT_USAGE}  bad usage or configuration (arguments, connections, keys, names), or credentials refused
  {EXIT_FAILURE}  anything else (e.g. a service stayed unreachable)

credentials come from Airflow connections in the environment, e.g.
  AIRFLOW_CONN_ASTRA_DEFAULT='{{"conn_type": "astra_db", "host": "https://...", "password": "AstraCS:..."}}'
  AIRFLOW_CONN_VECTORS='qdrant://?path=/data/qdrant'   (then --source-conn-id vectors)
  AIRFLOW_CONN_BOX_DEFAULT='{{"conn_type": "box", "login": "<client id>", "password": "<secret>", ...}}'
or, for a source without a secret, --source-conn-uri 'chroma://?path=/data/chroma'; for Astra, also
--astra-endpoint with the token in ASTRA_DB_APPLICATION_TOKEN.
"""

log = logging.getLogger("vectorbackup")
OUR_LOGGERS = ("vectorbackup", "airflow_provider_vectorbackup", "airflow.task.hooks.airflow_provider_vectorbackup")
"""The CLI's, the jobs' and hooks' loggers, and the hooks' Airflow-style ``self.log``: what ``-v`` opens up."""


class UsageError(Exception):
    """Bad arguments or configuration: exit code 4."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse's own exit code 2 means "incomplete" here
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    from airflow_provider_vectorbackup.stores.object.lock import MODES as LOCK_MODES

    common = _Parser(add_help=False)
    where = common.add_argument_group("where snapshots live (exactly one)")
    where.add_argument("--box-folder", help="Box folder path holding snapshots, e.g. vector-backups")
    where.add_argument("--local-folder", help="local or mounted folder holding snapshots")
    where.add_argument("--object-folder", metavar="URL", help="object store URL holding snapshots, "
                                                            "s3://<conn_id>@bucket/prefix (or gs://, abfs://)")
    where.add_argument("--box-conn-id", default="box_default")
    where.add_argument("--box-folder-id", default="0", help="resolve --box-folder below this folder id")
    source = common.add_argument_group("the vector database (at most one of the first four)")
    source.add_argument("--source-conn-id", help="connection of the source; its type picks the engine: astra_db, "
                                                "qdrant, postgres, chroma, milvus or weaviate (default astra_default)")
    source.add_argument("--astra-conn-id", help="deprecated: the old name of --source-conn-id")
    source.add_argument("--source-conn-uri", metavar="URI",
                       help="instead of a connection id: the connection as an Airflow connection URI, e.g. "
                            "'qdrant://?path=/data/qdrant'; a password in it is visible to other users of this "
                            "machine, so keep secrets in an AIRFLOW_CONN_<ID> variable and give --source-conn-id")
    source.add_argument("--astra-endpoint", help="instead of a connection: the Astra API endpoint; the token is read "
                                                "from ASTRA_DB_APPLICATION_TOKEN")
    source.add_argument("--keyspace", help="Astra only: overrides the connection's keyspace")
    keys = common.add_argument_group("keys")
    keys.add_argument("--signing-conn-id", help="connection holding the manifest signing key")
    keys.add_argument("--encryption-conn-id", help="connection holding age recipients (dump) or identity (restore)")
    keys.add_argument("--identity-file", help="age identity file, for verification at level records and restore")
    keys.add_argument("--recipient", action="append", default=[], help="age recipient (age1...), repeatable")
    common.add_argument("--json", action="store_true", help="print machine-readable JSON")
    loudness = common.add_mutually_exclusive_group()
    loudness.add_argument("-q", "--quiet", action="store_true", help="only errors on stderr")
    loudness.add_argument("-v", "--verbose", action="store_true",
                          help="also this tool's debug lines: retries, fallbacks and decisions")

    parser = _Parser(prog="vectorbackup", description=__doc__.splitlines()[0], epilog=EXIT_CODES,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    commands.add_parser("snapshots", parents=[common], help="list snapshots with status, age, size and collections")
    inspect = commands.add_parser("inspect", parents=[common], help="show a snapshot's manifest")
    inspect.add_argument("snapshot_id", help="an id, or latest")
    check = commands.add_parser("verify", parents=[common], help="verify a snapshot")
    check.add_argument("snapshot_id")
    check.add_argument("--level", choices=LEVELS, help="files (default): presence, size and checksums of every file; "
                                                       "records: download and re-read every record (needs the "
                                                       "identity for encrypted snapshots)")
    check.add_argument("--deep", action="store_true", help="deprecated: the same as --level records")
    check.add_argument("--read-data-subset", metavar="N/T", help="with --level files: also read every record of the "
                                                              "deduplicated snapshot's packs in part N of T "
                                                              "(docs/format.md, 12.6)")
    check.add_argument("--allow-incomplete", action="store_true")
    dump = commands.add_parser("dump", parents=[common], help="back up collections into a new snapshot")
    dump.add_argument("--collections", help="comma-separated names (default: all)")
    dump.add_argument("--snapshot-id", help="default: the current UTC time, labelled 'cli'")
    dump.add_argument("--segment-max-bytes", type=int)
    dump.add_argument("--staging-dir")
    dump.add_argument("--max-missing-vector-fraction", type=float, default=0.0)
    dump.add_argument("--scan-streams", type=int, default=4, help="requests in flight per collection (default 4)")
    dump.add_argument("--scan-mode", choices=["auto", "ranges", "single"], default="auto",
                      help="auto: read by _id range when provably complete; ranges: by range, trusting that no id "
                           "is a $uuid/$objectId; single: one scan per collection")
    dump.add_argument("--collections-at-once", type=int, default=2)
    dump.add_argument("--uploads-at-once", type=int, default=2)
    dump.add_argument("--object-lock-mode", choices=LOCK_MODES,
                      help="with --object-folder s3://...: write every object under S3 Object Lock in this mode")
    dump.add_argument("--object-lock-days", type=int, metavar="DAYS", help="days each object stays locked")
    dump.add_argument("--compression", choices=["gzip", "zstd", "none"], default="gzip",
                      help="gzip (level 1, default); zstd needs the zstd extra and writes format version 2")
    dump.add_argument("--deduplicate", action="store_true",
                      help="store each document once per store (format 4): upload only what changed since the "
                           "newest earlier snapshot; every snapshot still restores alone")
    dump.add_argument("--lock-wait", type=float, default=900.0, metavar="SECONDS",
                      help="with --deduplicate: how long to wait for a garbage collection holding the store's "
                           "lock (default 900)")
    dump.add_argument("--embedding-model", action="append", default=[], metavar="[FIELD=]MODEL[@VERSION]",
                      help="the model that made a vector field's vectors, recorded in the manifest, repeatable; "
                           "without FIELD= each collection's only vector field (the Data API's is $vector)")
    restore = commands.add_parser("restore", parents=[common], help="restore collections and validate them")
    restore.add_argument("snapshot_id", nargs="?", help="an id, or latest; leave it out with --as-of")
    restore.add_argument("--as-of", metavar="TIME",
                         help="instead of an id: the newest complete snapshot taken at or before TIME that passes "
                              "files verification, e.g. 2026-11-30T02:00Z (ISO 8601 with Z or an offset; a future "
                              "time means the newest)")
    restore.add_argument("--collections", help="comma-separated names (default: all complete ones)")
    restore.add_argument("--target-prefix", default="")
    restore.add_argument("--map", action="append", default=[], metavar="SOURCE=TARGET", help="rename, repeatable")
    restore.add_argument("--if-exists", choices=["fail", "resume", "replace"], default="fail")
    restore.add_argument("--allow-incomplete", action="store_true")
    restore.add_argument("--chunk-size", type=int, help="documents per insert request (default 20)")
    restore.add_argument("--concurrency", type=int,
                         help="insert requests in flight at most (default 32; fewer while the database throttles)")
    restore.add_argument("--read-streams", type=int, help="requests in flight when the restored collections are "
                                                          "read back for validation (default 16)")
    restore.add_argument("--validation-queries", type=int, default=10)
    restore.add_argument("--scan-mode", choices=["auto", "ranges", "single"], default="auto",
                         help="how the restored collections are read back for validation, as for dump")
    restore.add_argument("--staging-dir")
    restore.add_argument("--embedding-model", action="append", default=[], metavar="[FIELD=]MODEL[@VERSION]",
                         help="the model the targets' vector fields are queried with, repeatable; a snapshot whose "
                              "recorded model differs is refused")
    restore.add_argument("--allow-model-change", action="store_true",
                         help="restore even into a target of another embedding model or vector dimension (the "
                              "stored vectors are restored as they are, nothing is re-embedded)")
    restore.add_argument("--where", action="append", default=[], metavar="FIELD=VALUE",
                         help="restore only documents whose payload FIELD equals VALUE (JSON, else a string); "
                              "repeatable, all must hold")
    restore.add_argument("--target-conn-id", dest="source_conn_id", metavar="CONN_ID",
                         help="the same as --source-conn-id: the connection restored into (any engine)")
    restore.add_argument("--plan", action="store_true",
                         help="download, verify and print how each collection translates into the target engine "
                              "(exact, reversible or lossy steps); write nothing")
    restore.add_argument("--allow-lossy", action="append", default=[], metavar="KIND",
                         help="allow a lossy translation step into another engine, repeatable: "
                              "float32, drop-sparse, drop-multi, drop-vector, metric, normalize, truncate-metadata")
    prune = commands.add_parser("prune", parents=[common], help="delete old snapshots by a keep policy")
    for rule in ("last", "daily", "weekly", "monthly"):
        prune.add_argument(f"--keep-{rule}", type=int, default=7 if rule == "last" else 0)
    prune.add_argument("--grace-days", type=float, default=7.0, help="keep INCOMPLETE/in-progress folders this long")
    prune.add_argument("--owner", metavar="DAG_ID", help="only snapshots whose manifest's producer is this DAG are "
                                                        "pruned (default: snapshots of any producer)")
    prune.add_argument("--dry-run", action="store_true", help="plan and report, including the bytes garbage "
                                                               "collection would free; delete nothing")
    prune.add_argument("--no-collect-garbage", dest="collect_garbage", action="store_false",
                       help="delete snapshots only; leave unused packs of deduplicated snapshots in data/")
    unlock = commands.add_parser("unlock", parents=[common], help="remove expired locks of dumps or garbage "
                                                                  "collections that died; list the others")
    unlock.add_argument("--remove-all", action="store_true", help="remove every lock, also unexpired ones: only "
                                                                  "when no dump or prune is running on this store")
    download = commands.add_parser("download", parents=[common], help="copy a snapshot into a local folder")
    download.add_argument("snapshot_id")
    download.add_argument("directory")
    return parser


def main(argv: Sequence[str] | None = None, *, configure_logging: bool = True) -> int:
    """Run one command; return its exit code. ``configure_logging=False`` leaves logging to an embedding program."""
    args = build_parser().parse_args(argv)
    if configure_logging:
        _log_to_stderr(logging.ERROR if args.quiet else logging.INFO)
    for noisy in ("astrapy", "httpx", "box_sdk_gen", "airflow"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if args.verbose:  # ours only: the libraries' debug output is request-level noise, and stays at WARNING
        for ours in OUR_LOGGERS:
            logging.getLogger(ours).setLevel(logging.DEBUG)
    args.results = sys.stdout
    try:
        with contextlib.redirect_stdout(sys.stderr):  # only results reach stdout, whatever a library prints there
            return COMMANDS[args.command](args)
    except UsageError as exc:
        print(f"vectorbackup: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:  # the last line of defence: a clear message and a documented code, no traceback
        code = _exit_code_for(exc)
        print(f"vectorbackup: {type(exc).__name__}: {exc}", file=sys.stderr)
        return code


def _log_to_stderr(level: int) -> None:
    """Logs go to stderr, stdout carries only results (``--json`` output stays parseable).

    Importing Airflow configures its own logging to stdout (and may log while doing so), so it is
    loaded first, with stdout pointed at stderr, and then overridden.
    """
    import structlog

    from airflow_provider_vectorbackup.hooks.connections import load_airflow

    load_airflow(stdout=sys.stderr)

    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(message)s", force=True)
    structlog.configure(logger_factory=structlog.stdlib.LoggerFactory(),
                        processors=[structlog.stdlib.filter_by_level, structlog.stdlib.render_to_log_kwargs])


def _exit_code_for(exc: BaseException) -> int:
    from airflow_provider_vectorbackup.exceptions import CredentialsRejected
    from airflow_provider_vectorbackup.sources.astra.client import AstraConnectionError
    from airflow_provider_vectorbackup.stores.box.auth import BoxConnectionError
    from airflow_provider_vectorbackup.stores.box.items import BoxIntegrityError
    from airflow_provider_vectorbackup.jobs.restore import RestoreNotValidated, SnapshotUnusable, TargetConflict
    from airflow_provider_vectorbackup.keys import KeyConfigurationError
    from airflow_provider_vectorbackup.snapshot.errors import (
        IntegrityError, ManifestError, SnapshotStateError, VectorLossError,
    )
    from airflow_provider_vectorbackup.hooks.object_storage import MissingObjectStoreExtra
    from airflow_provider_vectorbackup.sources.registry import MissingSourceExtra

    if isinstance(exc, VectorLossError):
        return EXIT_VECTOR_LOSS
    if isinstance(exc, (SnapshotUnusable, RestoreNotValidated, IntegrityError, ManifestError, BoxIntegrityError)):
        return EXIT_INCOMPLETE
    if isinstance(exc, (TargetConflict, KeyConfigurationError, AstraConnectionError, BoxConnectionError,
                        CredentialsRejected, SnapshotStateError, MissingSourceExtra, MissingObjectStoreExtra,
                        ValueError)):
        return EXIT_USAGE
    return EXIT_FAILURE


# -- configuration --------------------------------------------------------------------------------

def _store(args: argparse.Namespace, *, create: bool = False) -> Any:
    from airflow_provider_vectorbackup.hooks.connections import open_store
    from airflow_provider_vectorbackup.stores.spec import StoreSpec

    try:
        spec = StoreSpec.from_arguments(box_folder=args.box_folder, local_folder=args.local_folder,
                                        box_conn_id=args.box_conn_id, box_folder_id=args.box_folder_id,
                                        object_folder=args.object_folder,
                                        object_lock_mode=getattr(args, "object_lock_mode", None),
                                        object_lock_days=getattr(args, "object_lock_days", None))
    except ValueError as exc:
        raise UsageError(_flag_names(str(exc))) from None
    return spec, open_store(spec, create=create)


def _flag_names(message: str) -> str:
    """A store argument error in the CLI's words: ``--box-folder`` where the operators say ``box_folder``."""
    for argument in ("box_folder_id", "box_folder", "local_folder", "object_folder", "object_lock_mode",
                     "object_lock_days"):
        message = message.replace(argument, "--" + argument.replace("_", "-"))
    return message


SOURCE_FLAGS = ("--source-conn-id", "--astra-conn-id", "--source-conn-uri", "--astra-endpoint")
"""The ways to name the source; argparse cannot keep a group of exclusive options in its own help section."""


def _source(args: argparse.Namespace) -> Any:
    """The source of ``--source-conn-id`` (or ``--astra-conn-id``), of ``--source-conn-uri``, or of
    ``--astra-endpoint``; the connection's type picks the engine, as in the operators."""
    from airflow_provider_vectorbackup.connection import ConnectionSettings
    from airflow_provider_vectorbackup.hooks.connections import connection_settings, connection_settings_from_uri
    from airflow_provider_vectorbackup.sources.registry import open_source

    given = [flag for flag in SOURCE_FLAGS if getattr(args, flag[2:].replace("-", "_"))]
    if len(given) > 1:  # names the flags, never their values: a URI may hold a password
        raise UsageError(f"give one of {', '.join(SOURCE_FLAGS)}, not {' and '.join(given)}")
    if args.astra_endpoint:
        token = os.environ.get("ASTRA_DB_APPLICATION_TOKEN")
        if not token:
            raise UsageError("--astra-endpoint needs the token in the environment variable ASTRA_DB_APPLICATION_TOKEN")
        settings = ConnectionSettings("--astra-endpoint", conn_type="astra_db", host=args.astra_endpoint,
                                      password=token)
    elif args.source_conn_uri:
        settings = connection_settings_from_uri(args.source_conn_uri, conn_id="--source-conn-uri")
    elif args.astra_conn_id:
        print("vectorbackup: --astra-conn-id is deprecated: use --source-conn-id", file=sys.stderr)
        settings = connection_settings(args.astra_conn_id)
    else:
        settings = connection_settings(args.source_conn_id or "astra_default")
    return open_source(settings, **({"keyspace": args.keyspace} if args.keyspace else {}))


def _signer(args: argparse.Namespace) -> Any:
    from airflow_provider_vectorbackup.hooks.connections import keys_from
    from airflow_provider_vectorbackup.keys import signer_from_connection

    return keys_from(signer_from_connection, args.signing_conn_id)


def _verifier(args: argparse.Namespace) -> Any:
    from airflow_provider_vectorbackup.hooks.connections import keys_from
    from airflow_provider_vectorbackup.keys import verifier_from_connection

    return keys_from(verifier_from_connection, args.signing_conn_id)


def _encryption(args: argparse.Namespace) -> Any:
    from airflow_provider_vectorbackup.hooks.connections import connection_settings
    from airflow_provider_vectorbackup.keys import recipients_from_connection
    from airflow_provider_vectorbackup.snapshot.encryption import AgeEncryption

    recipients = list(args.recipient)
    if args.encryption_conn_id:
        recipients += recipients_from_connection(connection_settings(args.encryption_conn_id))
    return AgeEncryption.from_recipients(recipients) if recipients else None


def _identities(args: argparse.Namespace) -> Any:
    from airflow_provider_vectorbackup.hooks.connections import connection_settings
    from airflow_provider_vectorbackup.keys import identity_text_from_connection
    from airflow_provider_vectorbackup.snapshot.encryption import AgeIdentities

    if args.identity_file:
        try:
            return AgeIdentities.from_file(args.identity_file)
        except OSError as exc:
            raise UsageError(f"cannot read --identity-file: {exc.strerror}") from None
    if args.encryption_conn_id:
        return AgeIdentities.from_text(identity_text_from_connection(connection_settings(args.encryption_conn_id)))
    return None


def _names(value: str | None) -> list[str] | None:
    return [n.strip() for n in value.split(",") if n.strip()] if value else None


def _emit(args: argparse.Namespace, data: Any, text: str) -> None:
    print(json.dumps(data, indent=2, default=str) if args.json else text, file=args.results)


# -- commands -------------------------------------------------------------------------------------

def cmd_snapshots(args: argparse.Namespace) -> int:
    from airflow_provider_vectorbackup.snapshot.layout import SnapshotState

    _, store = _store(args)
    now = dt.datetime.now(dt.timezone.utc)
    rows = []
    for snapshot in store.snapshots():
        row = {"snapshot_id": snapshot.snapshot_id, "state": snapshot.state.value,
               "age_hours": round((now - snapshot.ref.created_at).total_seconds() / 3600, 1),
               "bytes": None, "collections": []}
        if snapshot.state is not SnapshotState.IN_PROGRESS:
            try:
                manifest = store.read_manifest(snapshot)
                row["bytes"] = sum(f.bytes for f in manifest.files) + sum(
                    f.bytes for c in manifest.collections for f in c.shared)  # a deduplicated one's packs too
                row["collections"] = [f"{c.name}({c.document_count})" for c in manifest.collections]
            except Exception as exc:  # a damaged snapshot is listed, not hidden
                row["collections"] = [f"unreadable manifest: {type(exc).__name__}"]
        rows.append(row)
    lines = [f"{'snapshot':<36}{'state':<12}{'age':>8}{'bytes':>14}  collections"]
    lines += [f"{r['snapshot_id']:<36}{r['state']:<12}{r['age_hours']:>7}h{r['bytes'] or '-':>14}  "
              f"{', '.join(r['collections'])}" for r in rows]
    _emit(args, rows, "\n".join(lines) if rows else f"no snapshots in {store.describe()}")
    return EXIT_OK


def cmd_inspect(args: argparse.Namespace) -> int:
    _, store = _store(args)
    snapshot = store.get(args.snapshot_id)
    manifest = store.read_manifest(snapshot)
    lines = [f"snapshot {manifest.snapshot_id}: {manifest.status} ({snapshot.ref.folder_name})",
             f"  {manifest.started_at} → {manifest.finished_at} ({manifest.duration_seconds} s)",
             f"  source {manifest.source}", f"  software {manifest.software}"]
    if manifest.error:
        lines.append(f"  error: {manifest.error}")
    for c in manifest.collections:
        lines.append(f"  {c.name}: {c.status}, {c.document_count} documents, {c.vectors.documents_with_vector} with "
                     f"$vector {c.vectors.dimensions}, {_stored_as(c)}, digest {c.content_digest[:16]}…")
        lines += [f"    embedding model of {field}: {m.get('model')}" + (f"@{m['version']}" if m.get("version") else "")
                  + f" (from {m.get('from')})" for field, m in c.embedding_models.items() if isinstance(m, dict)]
        lines += [f"    warning: {w}" for w in c.warnings] + ([f"    error: {c.error}"] if c.error else [])
    _emit(args, json.loads(manifest.to_json()), "\n".join(lines))
    return EXIT_OK


def _stored_as(collection: Any) -> str:
    """Segments, or for a deduplicated collection its packs and what its dump added to the store."""
    if collection.index is None:
        return f"{len(collection.segments)} segment(s)"
    record = collection.deduplication or {}
    return (f"{len(collection.packs)} shared pack(s), {record.get('new_documents', '?')} document(s) stored by this "
            f"dump ({record.get('bytes_stored', '?')} bytes), deduplicated against {record.get('parent') or 'nothing'}")


def cmd_verify(args: argparse.Namespace) -> int:
    from airflow_provider_vectorbackup.check.stored import check_stored

    level = args.level or "files"
    if args.deep:
        print("vectorbackup: --deep is deprecated: use --level records", file=sys.stderr)
        if level != "records" and args.level is not None:
            raise UsageError(f"--deep means --level records, not --level {args.level}: give one of them")
        level = "records"
    _, store = _store(args)
    snapshot = store.get(args.snapshot_id)
    subset = None
    if args.read_data_subset:
        from airflow_provider_vectorbackup.check.verify import DataSubset

        if level != "files":
            raise UsageError("--read-data-subset goes with --level files: --level records reads every record anyway")
        try:
            subset = DataSubset.parse(args.read_data_subset)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    report = check_stored(store, snapshot, level, allow_incomplete=args.allow_incomplete, verifier=_verifier(args),
                          identities=_identities(args) if level == "records" or subset else None,
                          read_data_subset=subset)
    _emit(args, report.to_dict(), report.summary())
    return EXIT_OK if report.ok else EXIT_INCOMPLETE


def cmd_dump(args: argparse.Namespace) -> int:
    from airflow_provider_vectorbackup.jobs.dump import DumpOptions, dump_snapshot
    from airflow_provider_vectorbackup.jobs.outcome import summary_of
    from airflow_provider_vectorbackup.snapshot.errors import VectorLossError
    from airflow_provider_vectorbackup.snapshot.guard import VectorLossPolicy
    from airflow_provider_vectorbackup.snapshot.layout import new_snapshot_id

    spec, store = _store(args, create=True)
    settings: dict[str, Any] = {"segment_max_bytes": args.segment_max_bytes} if args.segment_max_bytes else {}
    signer, encryption = _signer(args), _encryption(args)  # a broken key is reported as such, not as usage
    try:
        options = DumpOptions(
            collections=_names(args.collections), staging_dir=args.staging_dir,
            vector_policy=VectorLossPolicy(args.max_missing_vector_fraction), producer={"tool": "vectorbackup-cli"},
            signer=signer, encryption=encryption, compression=args.compression,
            scan_mode=args.scan_mode, scan_streams=args.scan_streams, collections_at_once=args.collections_at_once,
            uploads_at_once=args.uploads_at_once, deduplicate=args.deduplicate, lock_wait=args.lock_wait,
            embedding_models=_embedding_models(args), **settings)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    with _ProgressDisplay(enabled=not args.quiet and sys.stderr.isatty()) as display:
        outcome = dump_snapshot(_source(args), store, args.snapshot_id or new_snapshot_id(label="cli"), options,
                                on_progress=display.update)
    summary = summary_of(outcome, spec.kind, spec.folder)
    text = f"snapshot {summary['snapshot_id']}: {summary['status']} at {summary['path']}\n" + "\n".join(
        f"  {name}: {c['status']}, {c['documents']} documents, {c['documents_with_vector']} with $vector"
        for name, c in summary["collections"].items())
    _emit(args, summary, text)
    for name, exc in outcome.failures.items():
        print(f"vectorbackup: collection {name!r} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
    if any(isinstance(exc, VectorLossError) for exc in outcome.failures.values()):
        return EXIT_VECTOR_LOSS
    return EXIT_INCOMPLETE if outcome.failures or summary["status"] != "complete" else EXIT_OK


def cmd_restore(args: argparse.Namespace) -> int:
    from airflow_provider_vectorbackup.jobs.as_of import AS_OF_EXAMPLE, parse_as_of
    from airflow_provider_vectorbackup.jobs.restore import RestoreNotValidated, RestoreOptions, restore_snapshot

    if args.snapshot_id is not None and args.as_of is not None:
        raise UsageError(f"give a snapshot id ({args.snapshot_id}) or --as-of, not both: --as-of chooses the snapshot")
    if args.snapshot_id is None and args.as_of is None:
        raise UsageError(f"which snapshot? give an id, latest, or --as-of TIME (e.g. --as-of {AS_OF_EXAMPLE})")
    try:
        as_of = parse_as_of(args.as_of) if args.as_of is not None else None
    except ValueError as exc:
        raise UsageError(str(exc).replace("as_of ", "--as-of ", 1)) from None
    mapping = {}
    for item in args.map:
        source, sep, target = item.partition("=")
        if not sep or not source or not target:
            raise UsageError(f"--map takes SOURCE=TARGET, not {item!r}")
        mapping[source] = target
    models = _embedding_models(args)
    _, store = _store(args)
    options = RestoreOptions(
        collections=_names(args.collections), target_prefix=args.target_prefix or None, name_mapping=mapping or None,
        if_exists=args.if_exists, allow_incomplete=args.allow_incomplete, validation_queries=args.validation_queries,
        scan_mode=args.scan_mode, staging_dir=args.staging_dir, identities=_identities(args), verifier=_verifier(args),
        as_of=as_of, embedding_models=models, allow_model_change=args.allow_model_change,
        plan_only=args.plan, allow_lossy=tuple(args.allow_lossy), where=_where(args.where),
        **{name: getattr(args, name) for name in ("chunk_size", "concurrency", "read_streams")
           if getattr(args, name) is not None})
    try:
        with _ProgressDisplay(enabled=not args.quiet and sys.stderr.isatty()) as display:
            report = restore_snapshot(store, args.snapshot_id, _source(args), options, on_progress=display.update)
    except RestoreNotValidated as exc:
        _emit(args, exc.report, _restore_text(exc.report))
        raise
    _emit(args, report, _restore_text(report))
    return EXIT_OK


def _embedding_models(args: argparse.Namespace) -> dict[str, str] | None:
    """``--embedding-model [FIELD=]MODEL[@VERSION]`` arguments as ``{field: model}`` (field ``""``: the only one)."""
    from airflow_provider_vectorbackup.jobs.models import ModelMismatch, parse_model_argument, parse_models

    models: dict[str, str] = {}
    try:
        for item in args.embedding_model:
            field, model = parse_model_argument(item)
            if field in models:
                raise UsageError(f"--embedding-model gives {field or 'the only vector field'} twice: "
                                 f"{models[field]!r} and {model!r}")
            models[field] = model
        parse_models(models, "--embedding-model")
    except ModelMismatch as exc:
        raise UsageError(str(exc)) from None
    return models or None


def _where(items: list[str]) -> dict[str, Any] | None:
    """``--where FIELD=VALUE`` pairs: VALUE read as JSON (``3``, ``true``, ``"x"``), else taken as a string."""
    where: dict[str, Any] = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name:
            raise UsageError(f"--where takes FIELD=VALUE, not {item!r}")
        try:
            where[name] = json.loads(text)
        except ValueError:
            where[name] = text
    return where or None


def _restore_text(report: dict[str, Any]) -> str:
    if report.get("plan_only"):
        return _plan_text(report)
    lines = [f"restore of {report['snapshot_id']} into {report['source']} namespace {report['namespace']}: "
             f"{'validated' if report['ok'] else 'FAILED validation'}"]
    as_of = report.get("as_of")
    if as_of:
        lines.append(f"  as of {as_of['requested']}: snapshot {as_of['chosen']}, taken at {as_of['chosen_taken_at']}")
        lines += [f"    skipped {s['snapshot_id']}: {s['reason']}" for s in as_of["skipped"]]
    if report.get("replaced_backup"):
        lines.append(f"  what it replaced was backed up first, verified: snapshot {report['replaced_backup']}")
    for name, r in report["collections"].items():
        lines.append(f"  {name} → {r['target']}: {r['documents_restored']}/{r['documents_expected']} documents, "
                     f"digest {'match' if r['digest_restored'] == r['digest_expected'] else 'DIFFERS'}, "
                     f"recall@10 {r['recall_at_10']}")
    phases = report.get("phases") or {}
    if phases:
        lines.append("  seconds: " + ", ".join(f"{phase} {seconds:,.1f}" for phase, seconds in phases.items()))
    return "\n".join(lines)


def _plan_text(report: dict[str, Any]) -> str:
    lines = [f"plan: restore of {report['snapshot_id']} into {report['source']} namespace {report['namespace']} "
             f"(nothing written){'' if report['ok'] else ': REFUSED as it stands'}"]
    for name, r in report["collections"].items():
        plan = r["translation"]
        lines.append(f"  {name} → {r['target']}: {plan['source_engine']} → {plan['target_engine']}"
                     + (" (same engine: everything exact)" if plan.get("same_engine") else ""))
        for step in plan["steps"]:
            touched = f", {step['documents']} document(s)" if "documents" in step else ""
            lossy = f" [--allow-lossy {step['lossy']}]" if step.get("lossy") else ""
            lines.append(f"    {step['class']:<10} {step['part']} {step['name']}: {step['change']}{touched}{lossy}")
        lines += [f"    not carried: {item}" for item in plan.get("not_carried", [])]
        lines += [f"    REFUSED: {reason}" for reason in plan.get("refused", [])]
    return "\n".join(lines)


def cmd_prune(args: argparse.Namespace) -> int:
    from airflow_provider_vectorbackup.jobs.retention import RetentionOptions, RetentionPolicy, prune

    _, store = _store(args)
    policy = RetentionPolicy(keep_last=args.keep_last, keep_daily=args.keep_daily, keep_weekly=args.keep_weekly,
                             keep_monthly=args.keep_monthly, incomplete_grace=dt.timedelta(days=args.grace_days))
    plan = prune(store, RetentionOptions(policy=policy, owner=args.owner, verifier=_verifier(args),
                                         dry_run=args.dry_run, collect_garbage=args.collect_garbage))
    lines = [("dry run: " if args.dry_run else "") + plan.summary()]
    lines += [f"  {'delete' if d.delete else 'keep  '} {d.record.ref.folder_name}: {'; '.join(d.reasons)}"
              for d in plan.decisions]
    lines += [f"  locked {locked.snapshot_id}: {locked.message}" for locked in plan.locked]
    _emit(args, {**plan.to_dict(), "dry_run": args.dry_run}, "\n".join(lines))
    return EXIT_OK


def cmd_unlock(args: argparse.Namespace) -> int:
    from airflow_provider_vectorbackup.stores.locking import LockInfo, remove_expired_locks

    _, store = _store(args)
    removed = remove_expired_locks(store)
    if args.remove_all:
        for name in store.lock_files():
            store.delete_lock_file(name)
            removed.append(name)
    left = {}
    for name, raw in store.lock_files().items():
        info = LockInfo.parse(name, raw)
        left[name] = info.describe() if info is not None else "unreadable lock file"
    lines = [f"removed {len(removed)} lock(s)" + (f": {', '.join(sorted(removed))}" if removed else "")]
    lines += [f"  held: {text}" for text in left.values()]
    _emit(args, {"removed": sorted(removed), "held": left}, "\n".join(lines))
    return EXIT_OK


def cmd_download(args: argparse.Namespace) -> int:
    _, store = _store(args)
    snapshot = store.get(args.snapshot_id)
    target_root = Path(args.directory)
    target_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="vectorbackup-download-", dir=target_root) as tmp:
        local = store.download(snapshot, tmp)
        final = target_root / snapshot.ref.folder_name
        if final.exists():
            raise UsageError(f"{final} already exists; choose another directory")
        if Path(tmp) in local.parents:
            local.rename(final)
        else:
            shutil.copytree(local, final)
        _download_shared(store, final, Path(tmp))
    _emit(args, {"snapshot_id": snapshot.snapshot_id, "path": str(final)}, f"downloaded to {final}")
    return EXIT_OK


def _download_shared(store: Any, final: Path, scratch: Path) -> None:
    """A deduplicated snapshot's packs go to ``data/`` beside it, where readers look for them (docs/format.md, 12)."""
    from airflow_provider_vectorbackup.snapshot.packs import BLOB_DIR, blob_name
    from airflow_provider_vectorbackup.snapshot.reader import read_manifest

    for collection in read_manifest(final).collections:
        for entry in collection.shared:
            name = blob_name(entry.path)
            target = final.parent / BLOB_DIR / name
            if target.is_file() and target.stat().st_size == entry.bytes:
                continue  # content-addressed: already here from another snapshot
            target.parent.mkdir(exist_ok=True)
            fetched = scratch / BLOB_DIR / name
            if not fetched.is_file():
                fetched = store.get_blob(name, scratch)
            if scratch in fetched.parents:
                fetched.rename(target)
            else:
                shutil.copyfile(fetched, target)


COMMANDS = {"snapshots": cmd_snapshots, "inspect": cmd_inspect, "verify": cmd_verify, "dump": cmd_dump,
            "restore": cmd_restore, "prune": cmd_prune, "unlock": cmd_unlock, "download": cmd_download}


class _ProgressDisplay:
    """A rich progress bar per collection with docs/s, a dump's stored MB and an ETA on a terminal; elsewhere the
    jobs' plain log lines suffice."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._bar: Any = None
        self._tasks: dict[str, Any] = {}

    def __enter__(self) -> _ProgressDisplay:
        if self.enabled:
            from rich.progress import (
                BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
            )

            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[rate]:,.0f} docs/s"), TextColumn("{task.fields[stored]}"),
                                 TimeElapsedColumn(), TextColumn("{task.fields[eta]}"), transient=False)
            self._bar.start()
        return self

    def update(self, progress: Any) -> None:
        if self._bar is None:
            return
        task = self._tasks.get(progress.what)
        if task is None:
            task = self._tasks[progress.what] = self._bar.add_task(progress.what, total=progress.expected, rate=0.0,
                                                                   stored="", eta="")
        stored = f"{progress.bytes / 1e6:,.1f} MB" if progress.bytes else ""  # a restore stores no files
        remaining = progress.remaining()  # the rate since the start, as in the log lines
        self._bar.update(task, completed=progress.documents, rate=progress.rate, stored=stored,
                         eta=f"ETA {remaining}" if remaining is not None else "")

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()


if __name__ == "__main__":
    sys.exit(main())
