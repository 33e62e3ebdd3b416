"""zstd segments: written, read, verified and refused exactly like gzip ones, under format version 2; and every
decompression is bounded by what the manifest records."""

from __future__ import annotations

import io
from pathlib import Path
import json
import zlib

import pytest

from airflow_provider_vectorbackup.check import verify
from airflow_provider_vectorbackup.snapshot import SnapshotWriter, open_snapshot
from airflow_provider_vectorbackup.snapshot import compression
from airflow_provider_vectorbackup.snapshot.digest import ContentDigest
from tests.snapshot.conftest import sample_documents
from airflow_provider_vectorbackup.snapshot.errors import DecompressionBoundError
from tests.snapshot.tamper import bomb, flip_byte, plant_segment

SOURCE = {"kind": "astra"}


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


def plain_lines(count: int) -> list[bytes]:
    return [json.dumps({"_id": i, "text": "x" * (i % 3000)}).encode() + b"\n" for i in range(count)]


def packed(how: str, plain: bytes) -> bytes:
    if how == "gzip":
        return zlib.compress(plain, wbits=31)
    import zstandard

    return zstandard.ZstdCompressor(write_checksum=True).compress(plain)


@pytest.mark.parametrize("how", ["gzip", "zstd"])
def test_bounded_reading_returns_every_line_across_chunk_boundaries_and_refuses_damage(how) -> None:
    expected = plain_lines(3000)  # about 4.5 MB: several output chunks, lines cut between them
    raw = packed(how, b"".join(expected))
    assert list(compression.lines(io.BytesIO(raw), how)) == expected
    with pytest.raises(EOFError, match="cut short"):
        list(compression.lines(io.BytesIO(raw[:-12]), how))
    with pytest.raises(OSError, match="data after the end"):
        list(compression.lines(io.BytesIO(raw + raw[:20]), how))


@pytest.mark.parametrize("how", ["gzip", "zstd"])
def test_a_bomb_stops_at_the_uncompressed_size_its_manifest_records(tmp_path, how) -> None:
    result = write(tmp_path, how, sample_documents(50), segment_max_bytes=10**9)
    relative = result.manifest.collection("articles").segments[0].path
    plant_segment(result.path, relative, bomb(how, 64), uncompressed_bytes=4096)
    report = verify(result.path, "records")
    bounded = [(p.path, p.expected) for p in report.problems if p.code == "decompression_bound"]
    assert bounded == [(relative, "at most 4096 bytes")], report.summary()
    with pytest.raises(DecompressionBoundError, match="more than 4096 bytes"):
        list(open_snapshot(result.path).records("articles"))


@pytest.mark.parametrize("how", ["gzip", "zstd"])
def test_a_bomb_without_a_recorded_size_stops_at_the_longest_line_a_document_may_have(tmp_path, how) -> None:
    result = write(tmp_path, how, sample_documents(50), segment_max_bytes=10**9)
    relative = result.manifest.collection("articles").segments[0].path
    plant_segment(result.path, relative, bomb(how, 64), uncompressed_bytes=None)
    report = verify(result.path, "records")
    bounded = [(p.path, p.expected) for p in report.problems if p.code == "decompression_bound"]
    assert bounded == [(relative, f"at most {compression.MAX_LINE_BYTES} bytes")], report.summary()


def test_without_a_recorded_size_a_segment_is_bounded_by_the_documented_ceiling(tmp_path, monkeypatch) -> None:
    result = write(tmp_path, "gzip", sample_documents(50), segment_max_bytes=10**9)
    relative = result.manifest.collection("articles").segments[0].path
    plant_segment(result.path, relative, packed("gzip", b"".join(plain_lines(3000))), uncompressed_bytes=None,
                  documents=3000)
    monkeypatch.setattr(compression, "UNRECORDED_SEGMENT_CEILING", 1 << 20)
    report = verify(result.path, "records")
    assert [p.expected for p in report.problems if p.code == "decompression_bound"] == [f"at most {1 << 20} bytes"]


def test_one_check_refuses_an_unknown_compression_and_only_for_writing_needs_the_package(monkeypatch) -> None:
    monkeypatch.setattr(compression, "_zstandard", lambda why: (_ for _ in ()).throw(
        compression.CompressionUnavailable(f"{why} needs the zstandard package")))
    assert compression.check_compression("zstd", for_writing=False) == "zstd"  # e.g. when a DAG is parsed
    with pytest.raises(compression.CompressionUnavailable, match="writing zstd segments"):
        compression.check_compression("zstd", for_writing=True)
    with pytest.raises(ValueError, match="compression must be one of"):
        compression.check_compression("brotli", for_writing=False)
    assert not hasattr(compression, "check") and not hasattr(compression, "check_name")


@pytest.mark.parametrize(("kind", "compression", "version"), [
    ("astra", "gzip", 1), ("astra", "zstd", 2), ("qdrant", "gzip", 3), ("milvus", "zstd", 3)])
def test_the_format_version_is_the_lowest_a_reader_needs(tmp_path: Path, kind: str, compression: str,
                                                         version: int) -> None:
    with SnapshotWriter(tmp_path, source={"kind": kind}, compression=compression) as writer:
        writer.collection("things", {}).close()
    assert writer.result.manifest.format_version == version
