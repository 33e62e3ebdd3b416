"""The checker's tests write snapshots with the format tests' fixture."""

from tests.snapshot.conftest import write_snapshot  # noqa: F401  (a fixture, found by pytest by name)
