"""Pinecone as a vector source: indexes and their namespaces, read through the ``pinecone`` client (the ``pinecone`` extra)."""
