"""Triggers for deferrable sensors: the blocking Box calls run in threads off the triggerer's event loop."""
