"""zstd segments: written, read, verified and refused exactly like gzip ones, under format version 2."""

from __future__ import annotations

import json

import pytest

from airflow_provider_vectorbackup.snapshot import SnapshotWriter, open_snapshot, verify
from airflow_provider_vectorbackup.snapshot import compression
from airflow_provider_vectorbackup.snapshot.digest import ContentDigest
from tests.snapshot.conftest import sample_documents
from tests.snapshot.tamper import flip_byte

SOURCE = {"kind": "test"}


def write(tmp_path, how: str, documents: list[dict], segment_max_bytes: int = 40_000):
    with SnapshotWriter(tmp_path, source=SOURCE, snapshot_id=f"20260101T000000Z-{how}", compression=how,
                        segment_max_bytes=segment_max_bytes) as writer:
        with writer.collection("articles", {"vector": {"dimension": 8}}) as collection:
            collection.write_many(documents)
    return writer.result


@pytest.mark.parametrize("how", ["zstd", "gzip", "none"])
def test_every_compression_round_trips_exactly(tmp_path, how) -> None:
    documents = sample_documents(300)
    result = write(tmp_path, how, documents)
    entry = result.manifest.collection("articles")
    assert len(entry.segments) > 1 and all(s.path.endswith(compression.SUFFIXES[how]) for s in entry.segments)
    assert result.manifest.format_version == (2 if how == "zstd" else 1)
    assert json.loads((result.path / "manifest.json").read_bytes())["settings"]["compression"] == how
    assert verify(result.path, "records").ok
    read = list(open_snapshot(result.path).documents("articles"))
    expected, actual = ContentDigest(), ContentDigest()
    for document in documents:
        expected.add(document)
    for document in read:
        actual.add(document)
    assert len(read) == len(documents) and actual.hexdigest() == expected.hexdigest() == entry.content_digest


def test_zstd_segments_are_a_pure_function_of_their_content(tmp_path) -> None:
    documents = sample_documents(120)
    first = write(tmp_path / "a", "zstd", documents).manifest.collection("articles").segments
    second = write(tmp_path / "b", "zstd", documents).manifest.collection("articles").segments
    assert [s.sha256 for s in first] == [s.sha256 for s in second]


@pytest.mark.parametrize("damage", ["flip", "truncate", "append"])
def test_a_damaged_zstd_segment_is_named_by_records_verification(tmp_path, damage) -> None:
    result = write(tmp_path, "zstd", sample_documents(200), segment_max_bytes=10**9)
    segment = result.path / result.manifest.collection("articles").segments[0].path
    raw = segment.read_bytes()
    if damage == "flip":
        flip_byte(segment, len(raw) // 2)
    elif damage == "truncate":
        segment.write_bytes(raw[: len(raw) // 2])
    else:
        segment.write_bytes(raw + b"junk")
    report = verify(result.path, "records")
    assert not report.ok
    codes = {p.code for p in report.problems}
    assert "corrupt_compression" in codes, report.summary()


def test_plaintext_lines_of_an_uncompressed_stream_keep_their_newlines() -> None:
    import io

    assert list(compression.lines(io.BytesIO(b'{"a":1}\n{"b":2}\n'), "none")) == [b'{"a":1}\n', b'{"b":2}\n']


def test_zstd_without_its_package_is_refused_before_anything_is_written(tmp_path, monkeypatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_zstandard(name, *args, **kwargs):
        if name == "zstandard":
            raise ImportError("No module named 'zstandard'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_zstandard)
    with pytest.raises(compression.CompressionUnavailable, match=r"pip install 'airflow-provider-vectorbackup\[zstd\]'"):
        SnapshotWriter(tmp_path, source=SOURCE, compression="zstd")
    assert not list(tmp_path.iterdir())
    with pytest.raises(ValueError, match="compression must be one of"):
        SnapshotWriter(tmp_path, source=SOURCE, compression="brotli")
