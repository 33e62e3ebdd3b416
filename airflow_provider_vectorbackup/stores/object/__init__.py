"""Snapshots in an object store (S3-compatible, GCS, Azure) reached through an fsspec filesystem."""
