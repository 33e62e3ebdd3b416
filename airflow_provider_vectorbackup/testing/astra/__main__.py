"""``python -m airflow_provider_vectorbackup.testing.astra --port N``: serve the stand-in, print its URL."""

from __future__ import annotations

import argparse
from typing import Any

from airflow_provider_vectorbackup.testing.astra.behaviour import ID_RANGE_KINDS
from airflow_provider_vectorbackup.testing.astra.standin import DEFAULT_TOKEN, AstraStandIn
from airflow_provider_vectorbackup.testing.faults import add_fault_arguments, fault_plan_from_arguments
from airflow_provider_vectorbackup.testing.server import serve_from_command_line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--token", default=DEFAULT_TOKEN, help="application token to accept")
    parser.add_argument("--username", default="cassandra", help="user for the Cassandra:b64:b64 token form")
    parser.add_argument("--password", default="cassandra", help="password for the Cassandra:b64:b64 token form")
    parser.add_argument("--page-size", type=int, default=20, help="find page size (20, or 50 on newer servers)")
    parser.add_argument("--keyspace", action="append", dest="keyspaces",
                        help="keyspace to create (repeatable; default: default_keyspace)")
    parser.add_argument("--regression-mode", action="store_true", help="never return $vector")
    parser.add_argument("--in-band-error-every", type=int, default=0,
                        help="answer every n-th command HTTP 200 with a transient SERVER error")
    parser.add_argument("--in-band-error-code", default="UNAVAILABLE_DATABASE", help="the code of those errors")
    parser.add_argument("--partial-insert-every", type=int, default=0,
                        help="every k-th insertMany writes half its documents, then FAILED_CONCURRENT_OPERATIONS")
    parser.add_argument("--refuse-id-ranges", action="append", choices=ID_RANGE_KINDS, default=[],
                        help="refuse _id range bounds of this type, like an older Data API release (repeatable)")
    add_fault_arguments(parser)


def build_app(args: argparse.Namespace) -> Any:
    stand_in = AstraStandIn(
        token=args.token, username=args.username, password=args.password, page_size=args.page_size,
        keyspaces=tuple(args.keyspaces or ("default_keyspace",)), regression_mode=args.regression_mode,
        in_band_error_every=args.in_band_error_every, in_band_error_code=args.in_band_error_code,
        partial_insert_every=args.partial_insert_every, refuse_id_ranges=args.refuse_id_ranges,
        faults=fault_plan_from_arguments(args),
    )
    return stand_in.app


if __name__ == "__main__":
    serve_from_command_line("Local stand-in for the Astra Data API", build_app, add_arguments=add_arguments)
