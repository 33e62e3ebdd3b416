"""Qdrant as a vector source: local mode (a path) or a server, through qdrant-client."""
