"""verify() catches every kind of damage, names the file and the problem, and reports them all."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest

from airflow_provider_vectorbackup.check import verify
from airflow_provider_vectorbackup.snapshot import (
    FORMAT_VERSION, AgeEncryption, AgeIdentities, HmacKey, open_snapshot,
)
from airflow_provider_vectorbackup.snapshot.manifest import ManifestNameError
from airflow_provider_vectorbackup.snapshot.signing import write_signature
from tests.snapshot.tamper import edit_manifest, flip_byte, rewrite_segment_consistently, segment_lines

SEGMENT = "collections/docs/part-00001.jsonl.gz"


def codes(report) -> set[tuple[str, str]]:
    return {(p.path, p.code) for p in report.problems}


@pytest.mark.parametrize("level", ["files", "records"])
def test_an_intact_snapshot_passes(write_snapshot, level: str) -> None:
    report = verify(write_snapshot().path, level)
    assert report.ok, report.summary()
    assert report.files_checked > 2 and report.bytes_checked > 0
    assert report.documents_checked == (300 if level == "records" else 0)


@pytest.mark.parametrize("level", ["files", "records"])
def test_one_flipped_byte_in_a_segment(write_snapshot, level: str) -> None:
    snapshot = write_snapshot().path
    flip_byte(snapshot / SEGMENT, 40)
    report = verify(snapshot, level)
    assert (SEGMENT, "checksum_mismatch") in codes(report)
    assert SEGMENT in report.summary() and "SHA-256" in report.summary()


@pytest.mark.parametrize("level", ["files", "records"])
def test_a_truncated_gzip_segment(write_snapshot, level: str) -> None:
    snapshot = write_snapshot().path
    data = (snapshot / SEGMENT).read_bytes()
    (snapshot / SEGMENT).write_bytes(data[: len(data) // 2])
    found = codes(verify(snapshot, level))
    assert {(SEGMENT, "size_mismatch"), (SEGMENT, "checksum_mismatch")} <= found
    if level == "records":
        assert (SEGMENT, "corrupt_compression") in found


@pytest.mark.parametrize("level", ["files", "records"])
def test_a_deleted_segment(write_snapshot, level: str) -> None:
    snapshot = write_snapshot().path
    (snapshot / SEGMENT).unlink()
    report = verify(snapshot, level)
    assert (SEGMENT, "missing_file") in codes(report)


def test_a_manifest_edited_to_a_wrong_count(write_snapshot) -> None:
    snapshot = write_snapshot().path
    edit_manifest(snapshot, lambda m: m["collections"][0].update(document_count=299))
    report = verify(snapshot, "records")
    assert codes(report) == {("collections/docs", "count_mismatch")}
    assert "300 readable document(s), the manifest says 299" in report.summary()


def test_a_manifest_edited_to_a_wrong_segment_count(write_snapshot) -> None:
    snapshot = write_snapshot().path
    edit_manifest(snapshot, lambda m: m["collections"][0]["segments"][1].update(documents=1))
    assert (SEGMENT, "count_mismatch") in codes(verify(snapshot, "records"))


@pytest.mark.parametrize("level", ["files", "records"])
def test_an_extra_unlisted_file(write_snapshot, level: str) -> None:
    snapshot = write_snapshot().path
    (snapshot / "collections/docs/part-00099.jsonl.gz").write_bytes(b"extra")
    report = verify(snapshot, level)
    assert codes(report) == {("collections/docs/part-00099.jsonl.gz", "unlisted_file")}


def test_a_document_line_that_is_not_json(write_snapshot) -> None:
    snapshot = write_snapshot().path
    lines = segment_lines(snapshot, SEGMENT)
    lines[3] = b'{"_id": "doc-broken", "title": '
    rewrite_segment_consistently(snapshot, SEGMENT, lines)
    report = verify(snapshot, "records")
    found = codes(report)
    assert (SEGMENT, "invalid_json") in found
    assert ("collections/docs", "count_mismatch") in found
    assert f"{SEGMENT}: line 4: not valid JSON" in report.summary()
    assert verify(snapshot, "files").ok, "a consistent tamper passes file checks: that is what records level is for"


def test_a_replaced_document_is_caught_by_the_content_digest(write_snapshot) -> None:
    snapshot = write_snapshot().path
    lines = segment_lines(snapshot, SEGMENT)
    document = json.loads(lines[0])
    document["title"] = "changed"
    lines[0] = json.dumps(document).encode()
    rewrite_segment_consistently(snapshot, SEGMENT, lines)
    assert codes(verify(snapshot, "records")) == {("collections/docs", "digest_mismatch")}


def test_wrong_vector_dimensions_and_bad_envelopes_are_reported(write_snapshot) -> None:
    snapshot = write_snapshot().path
    lines = segment_lines(snapshot, SEGMENT)
    short = json.loads(lines[0])
    short["$vector"] = [0.5, 0.5]
    bad = json.loads(lines[1])
    bad["when"] = {"$backupType": "datetime", "value": "not-a-date"}
    lines[:2] = [json.dumps(short).encode(), json.dumps(bad).encode()]
    rewrite_segment_consistently(snapshot, SEGMENT, lines)
    report = verify(snapshot, "records")
    assert ("collections/docs", "vector_dimension_mismatch") in codes(report)
    assert (SEGMENT, "invalid_envelope") in codes(report)
    assert "declares dimension 8 but 1 vector(s) have dimension 2" in report.summary()


def test_every_problem_is_reported_not_just_the_first(write_snapshot) -> None:
    snapshot = write_snapshot().path
    flip_byte(snapshot / "collections/docs/part-00000.jsonl.gz", 30)
    (snapshot / "collections/docs/part-00002.jsonl.gz").unlink()
    (snapshot / "stray.txt").write_text("x")
    definition = snapshot / "collections/docs/definition.json"
    definition.write_text(definition.read_text().replace("cosine", "euclidean"))
    found = codes(verify(snapshot, "records"))
    assert {
        ("collections/docs/part-00000.jsonl.gz", "checksum_mismatch"),
        ("collections/docs/part-00002.jsonl.gz", "missing_file"),
        ("stray.txt", "unlisted_file"),
        ("collections/docs/definition.json", "checksum_mismatch"),
        ("collections/docs/definition.json", "definition_mismatch"),
        ("collections/docs", "count_mismatch"),
    } <= found


def test_in_progress_and_manifestless_snapshots_are_refused(write_snapshot, tmp_path: Path) -> None:
    snapshot = write_snapshot().path
    in_progress = snapshot.parent / f".{snapshot.name}.inprogress"
    shutil.copytree(snapshot, in_progress)
    assert codes(verify(in_progress)) == {(in_progress.name, "in_progress")}
    (snapshot / "manifest.json").unlink()
    report = verify(snapshot)
    assert codes(report) == {("manifest.json", "manifest_invalid")}
    assert "not a finished snapshot" in report.summary()


def test_a_manifest_from_a_newer_format_asks_for_an_upgrade(write_snapshot) -> None:
    snapshot = write_snapshot().path
    edit_manifest(snapshot, lambda m: m.update(format_version=FORMAT_VERSION + 1))
    report = verify(snapshot)
    assert codes(report) == {("manifest.json", "manifest_invalid")}
    assert "upgrade airflow-provider-vectorbackup" in report.summary()


def test_unsafe_paths_in_a_manifest_are_never_followed(write_snapshot, tmp_path: Path) -> None:
    snapshot = write_snapshot().path
    edit_manifest(snapshot, lambda m: m["collections"][0]["segments"][0].update(path="../../etc/passwd"))
    report = verify(snapshot, "records")
    assert codes(report) == {("manifest.json", "invalid_name")} and report.documents_checked == 0
    assert "collections[0].segments[0].path is '../../etc/passwd'" in report.summary()


EVIL = "../../../evil_target/x"
NAME_EDITS = {
    "collections[0].name": lambda m: m["collections"][0].update(name=EVIL),
    "source.keyspace": lambda m: m["source"].update(keyspace="ks/../../x"),
    "collections[0].definition_file.path": lambda m: m["collections"][0]["definition_file"].update(
        path="collections/other/definition.json"),
    "collections[0].segments[1].path": lambda m: m["collections"][0]["segments"][1].update(
        path="collections/docs/notes.txt"),
}


@pytest.mark.parametrize("field", sorted(NAME_EDITS))
@pytest.mark.parametrize("level", ["files", "records"])
def test_every_name_and_path_is_validated_before_anything_is_read(write_snapshot, field: str, level: str) -> None:
    snapshot = write_snapshot(signer=HmacKey(b"k" * 32)).path
    edit_manifest(snapshot, NAME_EDITS[field])
    write_signature(snapshot, (snapshot / "manifest.json").read_bytes(), HmacKey(b"k" * 32))  # a hostile signer
    report = verify(snapshot, level, verifier=HmacKey(b"k" * 32))
    assert [(p.path, p.code) for p in report.problems] == [("manifest.json", "invalid_name")], report.summary()
    assert report.problems[0].message.startswith(f"{field} is ") and report.files_checked == 0
    with pytest.raises(ManifestNameError, match=re.escape(field)):
        open_snapshot(snapshot, verifier=HmacKey(b"k" * 32))


def test_an_encrypted_snapshot_is_refused_for_a_bad_name_too(write_snapshot) -> None:
    from pyrage import x25519

    identity = x25519.Identity.generate()
    snapshot = write_snapshot(encryption=AgeEncryption.from_recipients([str(identity.to_public())])).path
    edit_manifest(snapshot, NAME_EDITS["collections[0].name"])
    identities = AgeIdentities.from_text(f"{identity}\n")
    assert codes(verify(snapshot, "records", identities=identities)) == {("manifest.json", "invalid_name")}
    with pytest.raises(ManifestNameError, match=re.escape(EVIL)):
        open_snapshot(snapshot, identities=identities)


def test_report_is_serialisable_for_xcom_with_file_problem_expected_and_found(write_snapshot) -> None:
    snapshot = write_snapshot().path
    listed = json.loads((snapshot / "manifest.json").read_bytes())["collections"][0]["segments"][1]
    flip_byte(snapshot / SEGMENT, 40)
    data = json.loads(json.dumps(verify(snapshot).to_dict()))
    actual = hashlib.sha256((snapshot / SEGMENT).read_bytes()).hexdigest()
    assert data["ok"] is False
    assert data["problems"] == [{"file": SEGMENT, "problem": "checksum_mismatch", "expected": listed["sha256"],
                                 "found": actual, "message": data["problems"][0]["message"]}]
    assert actual in data["problems"][0]["message"]
