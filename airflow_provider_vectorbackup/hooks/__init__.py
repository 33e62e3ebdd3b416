"""Hooks: the provider's public Python API over astrapy and boxsdk."""
