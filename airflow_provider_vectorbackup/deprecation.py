"""Old import paths kept working: a name that moved is still found where it was, with a DeprecationWarning.

The new module is imported only when the old name is used, so an old module that stays free of
Airflow does not pull Airflow in.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Mapping
from typing import Any


def moved(old_module: str, name: str, new_modules: Mapping[str, str]) -> Any:
    """For a module's ``__getattr__``: ``name`` from its new module (``new_modules[name]``), with a warning.

    :raises AttributeError: ``name`` never was in ``old_module``.
    """
    new_module = new_modules.get(name)
    if new_module is None:
        raise AttributeError(f"module {old_module!r} has no attribute {name!r}")
    warnings.warn(f"{old_module}.{name} moved to {new_module}.{name}; import it from there, the old path will go "
                  f"away in a future release", DeprecationWarning, stacklevel=3)
    return getattr(importlib.import_module(new_module), name)


def moved_module(old_module: str, new_module: str) -> None:
    """Warn that the module ``old_module`` (a shim being imported) moved to ``new_module``."""
    warnings.warn(f"{old_module} moved to {new_module}; import from there, the old path will go away in a future "
                  f"release", DeprecationWarning, stacklevel=3)
