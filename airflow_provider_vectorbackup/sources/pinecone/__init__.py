"""Pinecone as a vector source: indexes and their namespaces, through the ``pinecone`` client (its extra)."""
