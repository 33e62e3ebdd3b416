"""Hooks: the provider's public Python API over the sources (any connection type, VectorSourceHook) and Box."""
