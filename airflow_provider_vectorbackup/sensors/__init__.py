"""Sensors: wait for a snapshot, then prove it intact."""
