"""``python -m airflow_provider_vectorbackup.testing.pinecone --port N``: serve the stand-in, print its URL."""

from __future__ import annotations

import argparse
from typing import Any

from airflow_provider_vectorbackup.testing.faults import add_fault_arguments, fault_plan_from_arguments
from airflow_provider_vectorbackup.testing.pinecone.standin import DEFAULT_API_KEY, PineconeStandIn
from airflow_provider_vectorbackup.testing.server import serve_from_command_line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--api-key", default=DEFAULT_API_KEY, help="the Api-Key to accept")
    add_fault_arguments(parser)


def build_app(args: argparse.Namespace) -> Any:
    stand_in = PineconeStandIn(api_key=args.api_key, host=args.host, faults=fault_plan_from_arguments(args))
    return stand_in.planes.control_app()


if __name__ == "__main__":
    serve_from_command_line("Local stand-in for Pinecone (control plane; each index gets its own port)", build_app,
                            add_arguments=add_arguments)
