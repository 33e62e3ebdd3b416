"""Operators: thin tasks that delegate to the hooks, the stores and the snapshot format core."""
