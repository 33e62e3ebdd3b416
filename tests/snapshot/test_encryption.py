"""Client-side encryption at rest with age: what is stored, what verifies without the key, and how it fails."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import struct
from pathlib import Path
from typing import Any

import pyrage
import pytest
from pyrage import x25519

from airflow_provider_vectorbackup.check import verify
from airflow_provider_vectorbackup.snapshot import (
    AgeEncryption, AgeIdentities, DecryptionError, HmacKey, IntegrityError, SnapshotWriter, VectorLossError,
    describe_source, open_snapshot,
)
from airflow_provider_vectorbackup.snapshot.encryption import recipients_fingerprint
from airflow_provider_vectorbackup.snapshot.vectors import floats_to_binary
from tests.snapshot.conftest import sample_documents
from tests.snapshot.tamper import edit_manifest

IDENTITY = x25519.Identity.generate()
OTHER = x25519.Identity.generate()
SECRET = str(IDENTITY)
RECIPIENT = str(IDENTITY.to_public())
MODEL = "zebra-embed-v9-canary"
DEFINITION = {"vector": {"dimension": 8, "metric": "dot_product", "sourceModel": MODEL}, "indexing": {"deny": ["blob"]}}
KNOWN_VECTOR = [0.125, -0.5, 0.75, 1.5, -2.25, 3.0, 0.0625, -4.5]  # exactly representable as float32
CANARY_TEXT = "Marmalade-Cassowary-7731 is a distinctive sentence"
CANARY_ID = "canary-id-5f3c9e"


def documents() -> list[dict[str, Any]]:
    docs = sample_documents(300)
    docs[17] = {"_id": CANARY_ID, "body": CANARY_TEXT, "$vector": {"$binary": floats_to_binary(KNOWN_VECTOR)}}
    docs[18] = {"_id": "array-vector", "body": "x", "$vector": list(KNOWN_VECTOR)}
    return docs


def identities(identity: x25519.Identity = IDENTITY) -> AgeIdentities:
    return AgeIdentities.from_text(f"# created: test\n{identity}\n")


def write(tmp_path: Path, encrypted: bool = True, docs: list[dict[str, Any]] | None = None, **options: Any):
    seen: list[tuple[Any, bytes]] = []
    options.setdefault("segment_max_bytes", 20_000)
    if encrypted:
        options.setdefault("encryption", AgeEncryption.from_recipients([RECIPIENT]))
    with SnapshotWriter(tmp_path / "store", source=describe_source("astra", "https://db.example", "ks"),
                        on_file_complete=lambda entry, local: seen.append((entry, local.read_bytes())),
                        **options) as writer:
        with writer.collection("docs", DEFINITION) as collection:
            collection.write_many(documents() if docs is None else docs)
    return writer.result, seen


def codes(report) -> set[tuple[str, str]]:
    return {(p.path, p.code) for p in report.problems}


def stored_files(path: Path) -> list[Path]:
    return [f for f in path.rglob("*") if f.is_file()]


def test_round_trip_verifies_without_the_key_and_reads_back_with_it(tmp_path: Path) -> None:
    result, seen = write(tmp_path)
    manifest = json.loads((result.path / "manifest.json").read_bytes())
    assert manifest["encryption"] == {"scheme": "age", "recipients_fingerprint": recipients_fingerprint([RECIPIENT])}
    collection = manifest["collections"][0]
    assert collection["definition"] == {} and collection["embedding"] == {}, "definitions are only in the ciphertext"
    assert collection["definition_file"]["path"] == "collections/docs/definition.json.age"
    assert len(collection["segments"]) > 1
    assert all(s["path"].endswith(".jsonl.gz.age") for s in collection["segments"])
    assert sum(s["documents"] for s in collection["segments"]) == collection["document_count"] == 300
    assert collection["vectors"]["documents_with_vector"] == 300

    names = sorted(f.relative_to(result.path).as_posix() for f in stored_files(result.path))
    assert names == sorted(["manifest.json", collection["definition_file"]["path"],
                            *(s["path"] for s in collection["segments"])])
    # The callback saw exactly the ciphertexts, described by their own size and hashes.
    assert [entry.path for entry, _ in seen] == [collection["definition_file"]["path"],
                                                 *(s["path"] for s in collection["segments"])]
    for entry, data in seen:
        assert data.startswith(b"age-encryption.org/v1\n")
        assert (entry.bytes, entry.sha256, entry.sha1) == (
            len(data), hashlib.sha256(data).hexdigest(), hashlib.sha1(data).hexdigest())

    assert verify(result.path, "files").ok
    report = verify(result.path, "records", identities=identities())
    assert report.ok, report.summary()
    assert report.documents_checked == 300

    snapshot = open_snapshot(result.path, identities=identities())
    assert snapshot.encrypted
    assert snapshot.definition("docs") == DEFINITION
    assert list(snapshot.records("docs")) == documents()
    assert list(snapshot.documents("docs")) == documents()


def test_unencrypted_snapshots_are_unchanged(tmp_path: Path) -> None:
    result, _ = write(tmp_path, encrypted=False, compression="none")
    manifest = json.loads((result.path / "manifest.json").read_bytes())
    assert "encryption" not in manifest
    assert manifest["collections"][0]["definition"] == DEFINITION
    snapshot = open_snapshot(result.path)
    assert not snapshot.encrypted and snapshot.definition("docs") == DEFINITION
    assert list(snapshot.records("docs")) == documents(), "uncompressed segments read back too"
    assert verify(result.path, "records").ok


NEEDLES = {
    "document text": CANARY_TEXT.encode(),
    "an _id": CANARY_ID.encode(),
    "the model name": MODEL.encode(),
    "a vector in base64": floats_to_binary(KNOWN_VECTOR).encode(),
}
RAW_VECTOR = struct.pack(">8f", *KNOWN_VECTOR)


@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_stored_bytes_contain_no_plaintext(tmp_path: Path, compression: str) -> None:
    plain, _ = write(tmp_path / "plain", encrypted=False, compression="none")
    plain_bytes = b"".join(f.read_bytes() for f in stored_files(plain.path))
    for what, needle in NEEDLES.items():
        assert needle in plain_bytes, f"control: an unencrypted snapshot holds {what}"

    result, seen = write(tmp_path / "secret", compression=compression)
    blobs = {f.relative_to(result.path).as_posix(): f.read_bytes() for f in stored_files(result.path)}
    blobs.update({f"callback:{entry.path}": data for entry, data in seen})
    assert "manifest.json" in blobs and len(blobs) > 4
    needles = {**NEEDLES, "raw float32 vector bytes": RAW_VECTOR,
               "a vector's float32 bytes in little-endian": struct.pack("<8f", *KNOWN_VECTOR),
               "a vector as JSON": json.dumps(KNOWN_VECTOR, separators=(",", ":")).encode()}
    for name, data in blobs.items():
        for what, needle in needles.items():
            assert needle not in data, f"{name} holds {what}"
        if name != "manifest.json":
            assert data.startswith(b"age-encryption.org/v1\n") and b"\x1f\x8b" not in data[:64]
    assert b"Document 1 " not in b"".join(blobs.values())


def test_a_wrong_identity_fails_cleanly_and_never_shows_key_material(tmp_path: Path) -> None:
    result, _ = write(tmp_path)
    wrong = identities(OTHER)
    report = verify(result.path, "records", identities=wrong)
    assert not report.ok
    assert ("collections/docs/definition.json.age", "decryption_failed") in codes(report)
    assert {code for _, code in codes(report)} == {"decryption_failed"}, "one clear problem, not one per file"
    assert report.documents_checked == 0

    with pytest.raises(DecryptionError) as opened:
        open_snapshot(result.path, identities=wrong)
    assert opened.value.code == "decryption_failed"
    assert "definition.json.age" in str(opened.value) and "identity" in str(opened.value)

    snapshot = open_snapshot(result.path)  # the manifest is readable without any key
    snapshot.identities = wrong
    with pytest.raises(DecryptionError) as read:
        next(snapshot.records("docs"))
    assert read.value.code == "decryption_failed" and "part-00000.jsonl.gz.age" in str(read.value)

    for text in (str(opened.value), str(read.value), report.summary(), repr(wrong), str(wrong),
                 repr(identities()), json.dumps(report.to_dict())):
        for secret in (str(OTHER), SECRET, SECRET[len("AGE-SECRET-KEY-1"):], str(OTHER)[len("AGE-SECRET-KEY-1"):]):
            assert secret not in text and secret.lower() not in text


def test_a_missing_identity_is_asked_for(tmp_path: Path) -> None:
    result, _ = write(tmp_path)
    report = verify(result.path, "records")
    assert codes(report) == {("manifest.json", "identity_required")}
    assert "AgeIdentities" in report.problems[0].message and report.files_checked == 6

    snapshot = open_snapshot(result.path)
    assert snapshot.encrypted and snapshot.manifest.collection("docs").document_count == 300
    for read in (lambda: snapshot.definition("docs"), lambda: next(snapshot.records("docs")),
                 lambda: next(snapshot.documents("docs"))):
        with pytest.raises(DecryptionError) as caught:
            read()
        assert caught.value.code == "identity_required"
        assert "encrypted" in str(caught.value) and "identity" in str(caught.value)


def _fix_hashes(snapshot: Path, relative: str) -> None:
    data = (snapshot / relative).read_bytes()

    def fix(manifest: dict[str, Any]) -> None:
        for collection in manifest["collections"]:
            for entry in [collection["definition_file"], *collection["segments"]]:
                if entry["path"] == relative:
                    entry.update(bytes=len(data), sha256=hashlib.sha256(data).hexdigest(),
                                 sha1=hashlib.sha1(data).hexdigest())

    edit_manifest(snapshot, fix)


def test_a_truncated_ciphertext_is_caught_at_files_level_and_by_age_when_hashes_are_fixed(tmp_path: Path) -> None:
    result, _ = write(tmp_path)
    relative = result.manifest.collection("docs").segments[1].path
    target = result.path / relative
    target.write_bytes(target.read_bytes()[:-100])

    files = verify(result.path, "files")
    assert {(relative, "size_mismatch"), (relative, "checksum_mismatch")} <= codes(files)
    deep = verify(result.path, "records", identities=identities())
    assert {(relative, "corrupt_ciphertext"), (relative, "size_mismatch")} <= codes(deep)
    with pytest.raises(DecryptionError):
        list(open_snapshot(result.path, identities=identities()).records("docs"))

    _fix_hashes(result.path, relative)  # a careful tamperer (or a truncated download whose listing was trusted)
    assert verify(result.path, "files").ok
    deep = verify(result.path, "records", identities=identities())
    assert (relative, "corrupt_ciphertext") in codes(deep), deep.summary()
    assert "truncated or was altered" in str(deep.problems[0])
    with pytest.raises(DecryptionError) as caught:
        list(open_snapshot(result.path, identities=identities()).records("docs"))
    assert caught.value.code == "corrupt_ciphertext"


def test_a_flipped_byte_with_fixed_hashes_fails_age_authentication_before_any_record(tmp_path: Path) -> None:
    result, _ = write(tmp_path)
    relative = result.manifest.collection("docs").segments[0].path
    target = result.path / relative
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    _fix_hashes(result.path, relative)
    assert verify(result.path, "files").ok
    assert (relative, "corrupt_ciphertext") in codes(verify(result.path, "records", identities=identities()))
    records = open_snapshot(result.path, identities=identities()).records("docs")
    with pytest.raises(DecryptionError):
        next(records)  # the segment is authenticated whole before its first record is handed out


def test_a_segment_re_encrypted_to_the_public_key_is_caught_by_the_content_digest(tmp_path: Path) -> None:
    """age authenticates the file, not who wrote it: anyone with the public key can encrypt. The digest catches it."""
    result, _ = write(tmp_path, compression="none")
    relative = result.manifest.collection("docs").segments[0].path
    target = result.path / relative
    plain = io.BytesIO()
    identities().decrypt_stream(io.BytesIO(target.read_bytes()), plain, relative)
    lines = plain.getvalue().splitlines(keepends=True)
    forged = lines[0].replace(b"Document 0", b"Document X")
    assert forged != lines[0]
    target.write_bytes(pyrage.encrypt(b"".join([forged, *lines[1:]]), [x25519.Recipient.from_str(RECIPIENT)]))
    _fix_hashes(result.path, relative)
    assert verify(result.path, "files").ok
    assert ("collections/docs", "digest_mismatch") in codes(verify(result.path, "records", identities=identities()))


def test_encrypted_and_signed_together_verify(tmp_path: Path) -> None:
    key = HmacKey("a shared secret of enough bytes")
    result, _ = write(tmp_path, signer=key)
    assert (result.path / "manifest.json.sig").is_file()
    assert verify(result.path, "files", verifier=key).ok
    report = verify(result.path, "records", verifier=key, identities=identities())
    assert report.ok and report.signature_key_id == key.key_id
    snapshot = open_snapshot(result.path, verifier=key, identities=identities())
    assert snapshot.signature_key_id == key.key_id and list(snapshot.records("docs")) == documents()

    relative = result.manifest.collection("docs").segments[0].path
    (result.path / relative).write_bytes(pyrage.encrypt(b"{}\n", [x25519.Recipient.from_str(RECIPIENT)]))
    _fix_hashes(result.path, relative)
    assert ("manifest.json", "signature_invalid") in codes(verify(result.path, "files", verifier=key))


def test_decrypted_segments_live_only_in_the_scratch_folder_while_read(tmp_path: Path) -> None:
    result, _ = write(tmp_path)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    assert verify(result.path, "records", identities=identities(), scratch_dir=scratch).ok
    assert not any(scratch.iterdir())
    snapshot = open_snapshot(result.path, identities=identities(), scratch_dir=scratch)
    records = snapshot.records("docs")
    next(records)
    assert len(list(scratch.iterdir())) == 1, "one decrypted segment at a time"
    records.close()  # a reader that stops early
    assert not any(scratch.iterdir())
    assert len(list(snapshot.records("docs"))) == 300 and not any(scratch.iterdir())
    assert not any(f.name.endswith((".jsonl", ".jsonl.gz", ".json")) for f in stored_files(result.path)
                   if f.name != "manifest.json")


def test_the_vector_loss_guard_still_runs_on_encrypted_snapshots(tmp_path: Path) -> None:
    with pytest.raises(VectorLossError):
        write(tmp_path, docs=[{"_id": i, "text": "no vector"} for i in range(5)])
    incomplete = next((tmp_path / "store").glob("*.INCOMPLETE"))
    manifest = json.loads((incomplete / "manifest.json").read_bytes())
    assert manifest["collections"][0]["status"] == "failed" and manifest["collections"][0]["definition"] == {}
    assert verify(incomplete, "files", allow_incomplete=True).ok


def test_recipients_and_identities_are_parsed_strictly(tmp_path: Path) -> None:
    for bad in ([], [""], ["# only a comment"], ["age1notakey"], ["ssh-ed25519 AAAA"]):
        with pytest.raises(ValueError):
            AgeEncryption.from_recipients(bad)
    with pytest.raises(ValueError) as secret_given:
        AgeEncryption.from_recipients([SECRET])
    assert "public" in str(secret_given.value) and SECRET not in str(secret_given.value)

    other = str(OTHER.to_public())
    both = AgeEncryption.from_recipients([RECIPIENT, other])
    assert both.fingerprint == AgeEncryption.from_recipients(f"{other}\n{RECIPIENT}\n").fingerprint
    expected = hashlib.sha256("".join(f"{r}\n" for r in sorted([RECIPIENT, other])).encode()).hexdigest()[:16]
    assert both.fingerprint == expected != AgeEncryption.from_recipients([RECIPIENT]).fingerprint
    assert SECRET not in repr(both)

    for bad_text in ("", "# nothing\n", RECIPIENT, "AGE-SECRET-KEY-1NOTVALID"):
        with pytest.raises(ValueError) as caught:
            AgeIdentities.from_text(bad_text)
        assert "NOTVALID" not in str(caught.value)
    path = tmp_path / "key.txt"
    path.write_text(f"# public key: {RECIPIENT}\n\n{SECRET}\n{OTHER}\n")
    loaded = AgeIdentities.from_file(path)
    assert loaded.recipients == sorted([RECIPIENT, other])
    assert SECRET not in repr(loaded)

    # Several recipients: either identity decrypts.
    result, _ = write(tmp_path / "two", encryption=both)
    assert verify(result.path, "records", identities=identities(OTHER)).ok
    assert base64.b64decode(floats_to_binary(KNOWN_VECTOR)) == struct.pack(">8f", *KNOWN_VECTOR)


def test_reading_an_encrypted_snapshot_checks_the_ciphertext_hashes_first(tmp_path: Path) -> None:
    """A substituted but validly encrypted definition is refused when its hashes do not match the manifest."""
    result, _ = write(tmp_path)
    relative = result.manifest.collection("docs").definition_file.path
    (result.path / relative).write_bytes(pyrage.encrypt(b'{"vector": {"dimension": 3}}\n',
                                                        [x25519.Recipient.from_str(RECIPIENT)]))
    with pytest.raises(IntegrityError):
        open_snapshot(result.path, identities=identities())
    assert (relative, "checksum_mismatch") in codes(verify(result.path, "records", identities=identities()))


def test_an_unknown_scheme_or_an_unencrypted_file_in_an_encrypted_snapshot_is_reported(tmp_path: Path) -> None:
    result, _ = write(tmp_path)
    edit_manifest(result.path, lambda m: m["collections"][0]["segments"][0].update(path="collections/docs/part-00000.jsonl.gz"))
    assert ("collections/docs/part-00000.jsonl.gz", "not_encrypted") in codes(verify(result.path, "files"))
    edit_manifest(result.path, lambda m: m.update(encryption={"scheme": "rot13"}))
    report = verify(result.path, "files")
    assert [p.code for p in report.problems] == ["manifest_invalid"] and "rot13" in report.problems[0].message


def test_restore_needs_the_right_identity_and_writes_nothing_without_it(tmp_path: Path, astra_stand_in,
                                                                        astra_connection) -> None:
    from airflow_provider_vectorbackup.hooks.astra import AstraDBHook
    from airflow_provider_vectorbackup.jobs.restore import RestoreOptions, SnapshotUnusable, restore_snapshot
    from airflow_provider_vectorbackup.stores.local import LocalStore
    from airflow_provider_vectorbackup.testing import sample_data

    sample_data.seed(astra_stand_in, {"articles": 60})
    astra = AstraDBHook().get_conn()
    definition = astra.collection_definition("articles")
    with SnapshotWriter(tmp_path / "store", source=describe_source("astra", "https://db.example", "ks"),
                        encryption=AgeEncryption.from_recipients([RECIPIENT])) as writer:
        with writer.collection("articles", definition) as collection:
            collection.write_many(astra.iter_documents("articles"))
    store = LocalStore(tmp_path / "store")
    inserts = astra_stand_in.request_counts.get("insertMany", 0)
    for given, code in ((None, "identity_required"), (identities(OTHER), "decryption_failed")):
        with pytest.raises(SnapshotUnusable, match=f"(?s)nothing was written.*{code}") as refused:
            restore_snapshot(store, writer.snapshot_id, astra, RestoreOptions(target_prefix="copy_", identities=given))
        assert SECRET not in str(refused.value) and str(OTHER) not in str(refused.value)
        assert astra.collection_definition("copy_articles") is None
        assert astra_stand_in.request_counts.get("insertMany", 0) == inserts

    report = restore_snapshot(store, writer.snapshot_id, astra,
                              RestoreOptions(target_prefix="copy_", identities=identities(), validation_queries=5))
    restored = report["collections"]["articles"]
    assert report["ok"] and restored["documents_restored"] == 60 and restored["digest_matches_manifest"]
    assert restored["recall_at_10"] == 1.0 and restored["queries"] == 5
    assert astra.collection_definition("copy_articles") == definition, "created from the decrypted definition"
