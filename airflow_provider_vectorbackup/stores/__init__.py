"""Where snapshots live: the snapshot format mapped onto a storage service."""
