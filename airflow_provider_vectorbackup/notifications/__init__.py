"""Notifiers: alerts that the vector-loss guard fires."""
