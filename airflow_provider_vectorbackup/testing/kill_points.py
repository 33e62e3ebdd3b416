"""Kill this process with SIGKILL at a chosen call of a chosen function, for crash tests.

A crash test needs to stop a dump or a prune at an exact step of its protocol (after the k-th
pack is stored, between the packs and the manifest, in the middle of a sweep), the same step on
every run. Timers cannot promise that; counting calls can. :func:`install` wraps the functions
named in :data:`TARGETS`, counts every call to each, and kills the process when the chosen call
begins (or, with ``after``, when it has returned).

The point is chosen by the environment variable :data:`KILL_AT`, so a test sets it for a child
process only: ``LocalStore.put_blob:3`` kills as the third ``put_blob`` begins, i.e. after two
were stored; ``LocalStore.delete:2:after`` kills once the second snapshot folder is deleted.
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
from collections import Counter
from collections.abc import Callable
from typing import Any

from airflow_provider_vectorbackup.stores.local import LocalPendingSnapshot, LocalStore

KILL_AT = "VECTORBACKUP_KILL_AT"

TARGETS: dict[str, tuple[Any, str]] = {
    "LocalStore.put_blob": (LocalStore, "put_blob"),
    "LocalStore.delete_blob": (LocalStore, "delete_blob"),
    "LocalStore.delete": (LocalStore, "delete"),
    "LocalStore.put_lock_file": (LocalStore, "put_lock_file"),
    "LocalStore.delete_lock_file": (LocalStore, "delete_lock_file"),
    "LocalPendingSnapshot.put": (LocalPendingSnapshot, "put"),
    "LocalPendingSnapshot.seal": (LocalPendingSnapshot, "seal"),
    "os.replace": (os, "replace"),
    "os.rename": (os, "rename"),
    "shutil.rmtree": (shutil, "rmtree"),
    "shutil.copyfile": (shutil, "copyfile"),
}
"""The steps a crash test can stop at, by the name the kill point uses."""


def parse(spec: str) -> tuple[str, int, bool]:
    """``"<target>:<k>[:after]"`` as (target, k, after); a ValueError names what is wrong."""
    parts = spec.split(":")
    if len(parts) not in (2, 3) or parts[0] not in TARGETS or not parts[1].isdigit() or int(parts[1]) < 1 or (
            len(parts) == 3 and parts[2] != "after"):
        raise ValueError(f"{KILL_AT}={spec!r} must be '<target>:<k>' or '<target>:<k>:after', k from 1, "
                         f"the target one of {sorted(TARGETS)}")
    return parts[0], int(parts[1]), len(parts) == 3


def install(spec: str | None = None) -> Counter[str]:
    """Count calls to every target, killing at ``spec`` (default: the :data:`KILL_AT` variable; none if unset).

    :returns: the live counts, for a run that is not killed to report how many calls each step took.
    """
    spec = os.environ.get(KILL_AT) if spec is None else spec
    point = parse(spec) if spec else None
    calls: Counter[str] = Counter()
    for name, (owner, attribute) in TARGETS.items():
        setattr(owner, attribute, _counted(name, getattr(owner, attribute), calls, point))
    return calls


def _counted(name: str, function: Callable[..., Any], calls: Counter[str],
             point: tuple[str, int, bool] | None) -> Callable[..., Any]:
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls[name] += 1
        kill = point is not None and point[0] == name and point[1] == calls[name]
        if kill and not point[2]:
            os.kill(os.getpid(), signal.SIGKILL)
        result = function(*args, **kwargs)
        if kill:
            os.kill(os.getpid(), signal.SIGKILL)
        return result
    return wrapper
