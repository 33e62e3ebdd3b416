"""Old names kept working with a DeprecationWarning: import paths that moved, and arguments that were renamed.

For a moved name, the new module is imported only when the old name is used, so an old module
that stays free of Airflow does not pull Airflow in.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Mapping
from typing import Any


def moved(old_module: str, name: str, new_modules: Mapping[str, str]) -> Any:
    """For a module's ``__getattr__``: ``name`` from its new place (``new_modules[name]``), with a warning.

    A new place is a module, where the name is the same, or ``"module:NewName"`` for a renamed one.

    :raises AttributeError: ``name`` never was in ``old_module``.
    """
    place = new_modules.get(name)
    if place is None:
        raise AttributeError(f"module {old_module!r} has no attribute {name!r}")
    new_module, _, new_name = place.partition(":")
    new_name = new_name or name
    warnings.warn(f"{old_module}.{name} moved to {new_module}.{new_name}; import it from there, the old path will go "
                  f"away in a future release", DeprecationWarning, stacklevel=3)
    return getattr(importlib.import_module(new_module), new_name)


def moved_module(old_module: str, new_module: str) -> None:
    """Warn that the module ``old_module`` (a shim being imported) moved to ``new_module``."""
    warnings.warn(f"{old_module} moved to {new_module}; import from there, the old path will go away in a future "
                  f"release", DeprecationWarning, stacklevel=3)


def renamed_argument(owner: str, old: str, new: str, *, stacklevel: int = 3) -> None:
    """Warn that ``owner``'s argument ``old`` is now called ``new`` (it still works under its old name)."""
    warnings.warn(f"{owner}: the argument {old} is deprecated, use {new}; the old name will go away in a future "
                  f"release", DeprecationWarning, stacklevel=stacklevel)
