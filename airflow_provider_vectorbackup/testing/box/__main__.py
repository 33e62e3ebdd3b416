"""``python -m airflow_provider_vectorbackup.testing.box --port N``: a Box stand-in for CI and demos.

Prints the API base URL once it accepts connections (uploads under ``URL/api``, tokens at
``URL/oauth2/token``); the download host gets its own free port.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from airflow_provider_vectorbackup.testing.box.standin import MIB, BoxStandIn
from airflow_provider_vectorbackup.testing.faults import add_fault_arguments, fault_plan_from_arguments
from airflow_provider_vectorbackup.testing.server import serve_from_command_line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--client-id", default="stand-in-client-id")
    parser.add_argument("--client-secret", default="stand-in-client-secret")
    parser.add_argument("--enterprise-id", default="1000")
    parser.add_argument("--developer-token", default=None, help="a fixed token accepted as Bearer")
    parser.add_argument("--jwt-public-key", type=Path, default=None,
                        help="PEM file; when given, JWT assertions must be signed by its private key")
    parser.add_argument("--token-ttl", type=float, default=3600, help="access token lifetime in seconds")
    parser.add_argument("--chunk-minimum", type=int, default=20 * MIB, help="smallest upload session, bytes")
    parser.add_argument("--part-size", type=int, default=8 * MIB, help="upload session part size, bytes")
    parser.add_argument("--storage-dir", type=Path, default=None, help="where file bytes go (default: a temp dir)")
    add_fault_arguments(parser)


def build_app(args: argparse.Namespace) -> object:
    stand_in = BoxStandIn(
        client_id=args.client_id, client_secret=args.client_secret, enterprise_id=args.enterprise_id,
        developer_token=args.developer_token,
        jwt_public_key=args.jwt_public_key.read_bytes() if args.jwt_public_key else None,
        token_ttl_seconds=args.token_ttl, chunk_minimum=args.chunk_minimum, part_size=args.part_size,
        storage_dir=args.storage_dir, host=args.host,
        faults=fault_plan_from_arguments(args),
    )
    stand_in.start_download_host()
    return stand_in.api_app


if __name__ == "__main__":
    serve_from_command_line(__doc__.splitlines()[0], build_app, add_arguments=add_arguments)
