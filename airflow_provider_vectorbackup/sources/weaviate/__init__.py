"""Weaviate collections (named vectors, typed properties, tenants) through weaviate-client v4."""
