"""Run an ASGI stand-in on uvicorn, in-process (a daemon thread) or from the command line."""

from __future__ import annotations

import argparse
import socket
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

import uvicorn


class _SignallingServer(uvicorn.Server):
    """A uvicorn server that tells a waiting thread when it is bound and serving."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        self.ready.set()


class BackgroundServer:
    """An ASGI app served on ``host:port`` from a daemon thread.

    ``port=0`` binds a free port; :attr:`url` tells which. ``start`` returns only once the
    socket accepts connections, so callers never need to sleep.
    """

    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.host = host
        self.port = port
        self._server: _SignallingServer | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    @property
    def url(self) -> str:
        if self._socket is None:
            raise RuntimeError("server is not started")
        return f"http://{self.host}:{self._socket.getsockname()[1]}"

    def start(self, timeout: float = 30.0) -> str:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self._socket = sock
        config = uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="off")
        self._server = _SignallingServer(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name=f"stand-in:{self.url}", daemon=True
        )
        self._thread.start()
        if not self._server.ready.wait(timeout):
            self.stop()
            raise RuntimeError(f"stand-in did not start within {timeout}s")
        return self.url

    def request_stop(self) -> None:
        """Ask the server to exit without waiting, so several can wind down together before :meth:`stop`."""
        if self._server is not None:
            self._server.should_exit = True

    def stop(self, timeout: float = 10.0) -> None:
        self.request_stop()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None

    def __enter__(self) -> BackgroundServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_from_command_line(
    description: str, build_app: Callable[[argparse.Namespace], Any], argv: Sequence[str] | None = None,
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
) -> None:
    """Parse ``--host/--port`` (plus a stand-in's own flags), serve, and print the URL when ready."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    if add_arguments is not None:
        add_arguments(parser)
    args = parser.parse_args(argv)
    server = BackgroundServer(build_app(args), host=args.host, port=args.port)
    print(server.start(), flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        sys.stdout.flush()
