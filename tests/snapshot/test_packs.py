"""Format 4's pieces on their own: the external sort, content-defined chunk boundaries, and an index that refuses
to be read when it was tampered with."""

from __future__ import annotations

import hashlib
import random

import pytest

from airflow_provider_vectorbackup.snapshot import dedup_writer
from airflow_provider_vectorbackup.snapshot.dedup_writer import SortedRuns
from airflow_provider_vectorbackup.snapshot.errors import IntegrityError
from airflow_provider_vectorbackup.snapshot.packs import (
    CHUNK_MAX_ENTRIES, ChunkRef, DocumentKeys, check_blob_name, encode_chunk, encode_entry, ends_chunk, read_chunk,
)


def test_the_external_sort_merges_many_runs_in_bounded_passes(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(dedup_writer, "RUN_BYTES", 2_000)  # a run per ~20 records
    monkeypatch.setattr(dedup_writer, "MERGE_FAN_IN", 3)  # so that runs are merged in several passes
    rng = random.Random(3)
    records = [(rng.randbytes(32), rng.randbytes(rng.randrange(0, 40))) for _ in range(1_000)]
    runs = SortedRuns(tmp_path)
    for key, line in records:
        runs.add(key, line)
    merged = list(runs.merged())
    assert sorted(merged) == sorted(records), "every record once"
    assert [k for k, _ in merged] == sorted(k for k, _ in records), "in key order"
    assert not list(tmp_path.iterdir()), "every run file is removed once read"


def chunks_of(keys: list[bytes]) -> list[tuple[bytes, ...]]:
    chunks, current = [], []
    for key in sorted(keys):
        current.append(key)
        if ends_chunk(key, len(current)):
            chunks.append(tuple(current))
            current = []
    return chunks + ([tuple(current)] if current else [])


def test_a_change_moves_only_the_chunks_around_it() -> None:
    rng = random.Random(7)
    keys = [rng.randbytes(32) for _ in range(20_000)]
    before = set(chunks_of(keys))
    changed = keys[:]
    changed[5_000] = rng.randbytes(32)  # an update: one key gone, one new
    after = set(chunks_of(changed))
    assert len(after - before) <= 2 and len(before - after) <= 2, "at most the old and the new key's chunks"
    assert 20_000 / len(before) == pytest.approx(16, rel=0.2), "16 entries a chunk on average"
    assert max(map(len, before)) <= CHUNK_MAX_ENTRIES


def test_a_chunk_whose_bytes_or_entries_were_altered_is_refused(tmp_path) -> None:
    keys = DocumentKeys()
    entries = sorted(encode_entry(keys(f"doc {i}".encode()), "a" * 64 + ".jsonl.gz", i) for i in range(5))
    stored = encode_chunk(entries)
    pack = tmp_path / ("b" * 64 + ".index")
    pack.write_bytes(b"x" * 10 + stored)
    first = entries[0][2:18].decode()
    ref = ChunkRef(hashlib.sha256(stored).hexdigest(), pack.name, 10, len(stored), 5, first)
    assert [e.line for e in read_chunk(pack, ref)] == sorted(range(5), key=lambda i: keys(f"doc {i}".encode()))
    for wrong in (ChunkRef(ref.chunk, ref.pack, 9, ref.bytes, 5, first), ChunkRef(ref.chunk, ref.pack, 10, ref.bytes,
                                                                                      4, first)):
        with pytest.raises(IntegrityError):
            read_chunk(pack, wrong)
    damaged = bytearray(pack.read_bytes())
    damaged[20] ^= 1
    pack.write_bytes(bytes(damaged))
    with pytest.raises(IntegrityError, match="does not hash"):
        read_chunk(pack, ref)


def test_keyed_names_differ_from_plain_ones_and_never_show_the_key() -> None:
    keyed = DocumentKeys(b"k" * 32)
    assert keyed(b"line") != DocumentKeys()(b"line") and keyed.scheme == "hmac-sha256" and len(keyed.key_id) == 16
    assert "k" * 8 not in repr(keyed)
    with pytest.raises(TypeError, match="cannot be pickled"):
        __import__("pickle").dumps(keyed)
    for bad in ("../x", "a" * 64 + ".exe", "A" * 64 + ".index", "a" * 63 + ".index"):
        with pytest.raises(ValueError, match="not a name of the store's data area"):
            check_blob_name(bad)
