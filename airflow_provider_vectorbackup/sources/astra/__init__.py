"""Astra DB and other Data API databases (HCD, DSE) as a :class:`~airflow_provider_vectorbackup.sources.base.VectorSource`."""
