"""Milvus (and Milvus Lite) as a vector source: :class:`~.client.MilvusSource`."""
