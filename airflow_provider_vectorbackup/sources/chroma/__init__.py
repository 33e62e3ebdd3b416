"""Chroma as a vector source: :class:`~airflow_provider_vectorbackup.sources.chroma.client.ChromaSource`."""
