"""Signed manifests: a manifest edited together with its files' hashes fails verification when signing is on."""

from __future__ import annotations

import base64
import json
import pickle
import shutil
from pathlib import Path

import pytest

from airflow_provider_vectorbackup.check import verify
from airflow_provider_vectorbackup.snapshot import (
    SIGNATURE_NAME, Ed25519Signer, Ed25519Verifier, HmacKey, SignatureError, SnapshotWriter, describe_source,
    open_snapshot, signer_from_key, verifier_from_key,
)
from airflow_provider_vectorbackup.snapshot.signing import SIGNED_PREFIX, check_signature
from tests.snapshot.tamper import edit_manifest, rewrite_segment_consistently, segment_lines

SEGMENT = "collections/docs/part-00001.jsonl.gz"
CANARY = "canary-secret-7f3e9a1c-do-not-leak"
ED_KEY = Ed25519Signer.generate()
ED_PUBLIC = Ed25519Verifier.from_pem(ED_KEY.public_key_pem())


def codes(report) -> set[tuple[str, str]]:
    return {(p.path, p.code) for p in report.problems}


def tamper(snapshot: Path) -> None:
    """Change one document and fix the segment's size, SHA-256, SHA-1 and count in the manifest."""
    lines = segment_lines(snapshot, SEGMENT)
    document = json.loads(lines[0])
    document["title"] = "forged"
    lines[0] = json.dumps(document).encode()
    rewrite_segment_consistently(snapshot, SEGMENT, lines)


# (signer, verifier) for each algorithm
KEYS = {
    "hmac-sha256": (HmacKey(CANARY), HmacKey(CANARY)),
    "ed25519": (ED_KEY, ED_PUBLIC),
}


@pytest.fixture(params=sorted(KEYS))
def keys(request):
    return KEYS[request.param]


@pytest.mark.parametrize("level", ["files", "records"])
def test_a_signed_snapshot_verifies_with_the_right_key(write_snapshot, keys, level: str) -> None:
    signer, verifier = keys
    result = write_snapshot(signer=signer)
    assert result.signature_key_id == signer.key_id == verifier.key_id
    report = verify(result.path, level, verifier=verifier)
    assert report.ok, report.summary()
    assert report.signature_key_id == verifier.key_id
    assert f"manifest signed by key {verifier.key_id}" in report.summary()
    snapshot = open_snapshot(result.path, verifier=verifier)
    assert snapshot.signature_key_id == verifier.key_id
    assert sum(1 for _ in snapshot.records("docs")) == 300


def test_the_signature_file_is_as_specified(write_snapshot, keys) -> None:
    signer, verifier = keys
    path = write_snapshot(signer=signer).path
    document = json.loads((path / SIGNATURE_NAME).read_bytes())
    assert set(document) == {"algorithm", "key_id", "signature"}
    assert document["algorithm"] == signer.algorithm and document["key_id"] == signer.key_id
    assert len(document["key_id"]) == 16 and int(document["key_id"], 16) >= 0
    signature = base64.b64decode(document["signature"], validate=True)
    assert len(signature) == (32 if signer.algorithm == "hmac-sha256" else 64)
    message = SIGNED_PREFIX + (path / "manifest.json").read_bytes()
    assert verifier.verify(message, signature)
    assert not verifier.verify((path / "manifest.json").read_bytes(), signature), "the prefix is part of the message"
    manifest = (path / "manifest.json").read_text()
    assert SIGNATURE_NAME not in manifest, "the signature cannot be listed in what it signs"


def test_signature_follows_the_spec_for_an_independent_implementation(write_snapshot) -> None:
    """Recompute both algorithms with the stdlib / the raw key, exactly as docs/format.md describes."""
    import hashlib
    import hmac

    from cryptography.hazmat.primitives import serialization

    path = write_snapshot(signer=HmacKey(CANARY)).path
    document = json.loads((path / SIGNATURE_NAME).read_bytes())
    message = b"vectorbackup-manifest-signature/v1\n" + (path / "manifest.json").read_bytes()
    assert base64.b64decode(document["signature"]) == hmac.new(CANARY.encode(), message, hashlib.sha256).digest()
    assert document["key_id"] == hmac.new(CANARY.encode(), b"vectorbackup-key-id/v1", hashlib.sha256).hexdigest()[:16]
    raw_public = serialization.load_pem_public_key(ED_KEY.public_key_pem()).public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert ED_KEY.key_id == hashlib.sha256(raw_public).hexdigest()[:16]


def test_a_manifest_edited_with_its_files_hashes_fails_only_when_signing_is_checked(write_snapshot, keys) -> None:
    signer, verifier = keys
    path = write_snapshot(signer=signer).path
    tamper(path)
    assert verify(path, "files").ok, "a consistent tamper passes plain file checks: that is why signing exists"
    report = verify(path, "files", verifier=verifier)
    assert codes(report) == {("manifest.json", "signature_invalid")}
    assert "was changed after the backup was signed" in report.summary()
    assert report.signature_key_id is None
    with pytest.raises(SignatureError, match="does not match manifest.json") as caught:
        open_snapshot(path, verifier=verifier)
    assert caught.value.code == "signature_invalid"


def test_a_manifest_edited_without_touching_files_fails(write_snapshot, keys) -> None:
    signer, verifier = keys
    path = write_snapshot(signer=signer).path
    edit_manifest(path, lambda m: m["source"].update(keyspace="elsewhere"))
    assert verify(path).ok
    assert codes(verify(path, verifier=verifier)) == {("manifest.json", "signature_invalid")}


def test_a_re_signature_by_another_key_is_a_key_mismatch(write_snapshot) -> None:
    """A tamperer who re-signs with their own key is caught: the verifier knows which key it trusts."""
    path = write_snapshot(signer=HmacKey(CANARY)).path
    tamper(path)
    forger = Ed25519Signer.generate()
    from airflow_provider_vectorbackup.snapshot.signing import write_signature
    write_signature(path, (path / "manifest.json").read_bytes(), forger)
    for verifier in (HmacKey(CANARY), ED_PUBLIC):
        report = verify(path, verifier=verifier)
        assert codes(report) == {("manifest.json", "signature_key_mismatch")}
        assert forger.key_id in report.summary() and verifier.key_id in report.summary()


@pytest.mark.parametrize("wrong", [HmacKey("another-secret-of-enough-length"), Ed25519Signer.generate().verifier()])
def test_the_wrong_key_fails(write_snapshot, keys, wrong) -> None:
    signer, _ = keys
    path = write_snapshot(signer=signer).path
    report = verify(path, verifier=wrong)
    assert codes(report) == {("manifest.json", "signature_key_mismatch")}
    assert "use the key that signed this snapshot" in report.summary()
    with pytest.raises(SignatureError, match=f"signed by {signer.algorithm} key {signer.key_id}"):
        open_snapshot(path, verifier=wrong)


def test_a_forged_key_id_with_a_wrong_key_is_still_invalid(write_snapshot) -> None:
    """The key_id only selects a key; the cryptographic check decides."""
    path = write_snapshot(signer=Ed25519Signer.generate()).path
    document = json.loads((path / SIGNATURE_NAME).read_bytes())
    document["key_id"] = ED_PUBLIC.key_id
    (path / SIGNATURE_NAME).write_text(json.dumps(document))
    assert codes(verify(path, verifier=ED_PUBLIC)) == {("manifest.json", "signature_invalid")}


def test_a_missing_signature_fails_when_one_is_required(write_snapshot, keys) -> None:
    signer, verifier = keys
    unsigned = write_snapshot().path
    report = verify(unsigned, "records", verifier=verifier)
    assert codes(report) == {("manifest.json", "signature_missing")}
    assert "manifest.json.sig is missing" in report.summary()
    with pytest.raises(SignatureError, match="manifest.json.sig is missing") as caught:
        open_snapshot(unsigned, verifier=verifier)
    assert caught.value.code == "signature_missing"
    signed = write_snapshot(signer=signer, snapshot_id="20300101T000000Z").path
    (signed / SIGNATURE_NAME).unlink()  # stripping the signature is not a way around it
    assert codes(verify(signed, verifier=verifier)) == {("manifest.json", "signature_missing")}


def test_unsigned_snapshots_verify_without_a_verifier_and_signatures_are_ignored(write_snapshot, keys) -> None:
    signer, _ = keys
    unsigned = write_snapshot()
    assert unsigned.signature_key_id is None and not (unsigned.path / SIGNATURE_NAME).exists()
    assert verify(unsigned.path, "records").ok
    signed = write_snapshot(signer=signer, snapshot_id="20300101T000000Z").path
    for level in ("files", "records"):
        report = verify(signed, level)
        assert report.ok, report.summary()  # manifest.json.sig is not an unlisted file
        assert report.signature_key_id is None
    assert open_snapshot(signed).signature_key_id is None


@pytest.mark.parametrize("content, code", [
    (b"not json", "signature_malformed"),
    (b"[]", "signature_malformed"),
    (json.dumps({"algorithm": "hmac-sha256", "key_id": "x"}).encode(), "signature_malformed"),
    (json.dumps({"algorithm": "hmac-sha256", "key_id": "x", "signature": "%%%"}).encode(), "signature_malformed"),
    (json.dumps({"algorithm": "rsa-pss", "key_id": "x", "signature": "AAAA"}).encode(), "signature_unsupported"),
])
def test_a_damaged_or_unknown_signature_file(write_snapshot, content: bytes, code: str) -> None:
    path = write_snapshot(signer=HmacKey(CANARY)).path
    (path / SIGNATURE_NAME).write_bytes(content)
    report = verify(path, verifier=HmacKey(CANARY))
    assert codes(report) == {("manifest.json", code)}
    with pytest.raises(SignatureError) as caught:
        open_snapshot(path, verifier=HmacKey(CANARY))
    assert caught.value.code == code


def test_several_verifiers_allow_key_rotation(write_snapshot) -> None:
    old, new = HmacKey(CANARY), Ed25519Signer.generate()
    first = write_snapshot(signer=old).path
    second = write_snapshot(signer=new, snapshot_id="20300101T000000Z").path
    trusted = [HmacKey(CANARY), new.verifier()]
    assert verify(first, verifier=trusted).signature_key_id == old.key_id
    assert verify(second, verifier=trusted).signature_key_id == new.key_id
    assert not verify(second, verifier=[HmacKey(CANARY)]).ok
    with pytest.raises(ValueError, match="at least one verifier"):
        verify(first, verifier=[])


def test_a_signed_incomplete_snapshot_is_signed_too(tmp_path: Path) -> None:
    signer = HmacKey(CANARY)
    with SnapshotWriter(tmp_path, source=describe_source("astra", "https://db.example", "ks"), signer=signer) as writer:
        writer.collection("docs", {}).write({"_id": 1})
        writer.abort("source unreachable")
    path = writer.result.path
    assert path.name.endswith(".INCOMPLETE") and (path / SIGNATURE_NAME).is_file()
    assert codes(verify(path, allow_incomplete=True, verifier=signer)) == set()


def test_a_failing_signer_leaves_only_the_in_progress_folder(tmp_path: Path) -> None:
    class Broken:
        algorithm, key_id = "hmac-sha256", "0" * 16

        def sign(self, message: bytes) -> bytes:
            raise RuntimeError("HSM unavailable")

    writer = SnapshotWriter(tmp_path, source={"kind": "test"}, signer=Broken()).open()
    writer.collection("docs", {}).close()
    with pytest.raises(RuntimeError, match="HSM unavailable"):
        writer.finish()
    assert [p.name for p in tmp_path.iterdir()] == [writer.path.name]
    assert writer.path.name.endswith(".inprogress") and not (writer.path / "manifest.json").exists()


def test_the_secret_never_leaves_the_key(write_snapshot, tmp_path: Path) -> None:
    key = HmacKey(CANARY)
    result = write_snapshot(signer=key)
    for file in result.path.rglob("*"):
        if file.is_file():
            assert CANARY.encode() not in file.read_bytes(), file
            assert base64.b64encode(CANARY.encode()) not in file.read_bytes(), file
    assert CANARY not in repr(key) and CANARY not in str(key) and CANARY not in repr(result)
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(key)
    tamper(result.path)
    messages = [str(p) for p in verify(result.path, "records", verifier=HmacKey(CANARY)).problems]
    with pytest.raises(SignatureError) as caught:
        open_snapshot(result.path, verifier=HmacKey(CANARY))
    messages.append(str(caught.value))
    shutil.rmtree(result.path)
    messages.append(repr(verify(result.path, verifier=HmacKey(CANARY))))
    with pytest.raises(ValueError) as short:
        HmacKey(CANARY[:10])
    messages.append(str(short.value))
    assert messages and not any(CANARY in m or CANARY[:10] in m for m in messages)


def test_the_private_key_never_leaves_the_signer(write_snapshot) -> None:
    pem = ED_KEY.private_key_pem()
    body = b"".join(pem.splitlines()[1:-1])
    result = write_snapshot(signer=Ed25519Signer.from_pem(pem))
    for file in result.path.rglob("*"):
        if file.is_file():
            assert body not in file.read_bytes() and body[:20] not in file.read_bytes()
    assert body.decode() not in repr(ED_KEY)
    with pytest.raises(ValueError) as caught:
        Ed25519Signer.from_pem(pem.replace(body[10:30], b"A" * 20))
    assert body.decode()[:20] not in str(caught.value) and "Ed25519 private key" in str(caught.value)
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(ED_KEY)


def test_keys_from_configuration() -> None:
    assert signer_from_key("hmac-sha256", CANARY).key_id == HmacKey(CANARY.encode()).key_id
    pem = ED_KEY.private_key_pem(password=b"pw")
    assert b"ENCRYPTED" in pem
    assert signer_from_key("ed25519", pem.decode(), password="pw").key_id == ED_KEY.key_id
    assert verifier_from_key("ed25519", ED_KEY.public_key_pem().decode()).key_id == ED_KEY.key_id
    assert verifier_from_key("ed25519", ED_KEY.private_key_pem()).key_id == ED_KEY.key_id  # private PEM: public half
    assert isinstance(verifier_from_key("ed25519", ED_KEY.public_key_pem()), Ed25519Verifier)
    with pytest.raises(ValueError, match="unknown signing algorithm"):
        signer_from_key("rsa", "x")
    with pytest.raises(ValueError, match="could not load an Ed25519 public key"):
        verifier_from_key("ed25519", "-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    other = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    with pytest.raises(ValueError, match="not an Ed25519 key"):
        Ed25519Signer.from_pem(other)


def test_check_signature_works_on_bytes_for_remote_stores() -> None:
    manifest = b'{"format": "vectorbackup-snapshot"}\n'
    from airflow_provider_vectorbackup.snapshot.signing import signature_document
    signature = signature_document(manifest, ED_KEY)
    assert check_signature(manifest, signature, ED_PUBLIC) == []
    assert [code for code, _ in check_signature(manifest + b" ", signature, ED_PUBLIC)] == ["signature_invalid"]
    assert [code for code, _ in check_signature(manifest, None, ED_PUBLIC)] == ["signature_missing"]


def test_every_signature_code_and_constant_is_in_the_format_spec() -> None:
    from airflow_provider_vectorbackup.snapshot import signing

    spec = (Path(__file__).parents[2] / "docs" / "format.md").read_text()
    for code in (signing.SIGNATURE_MISSING, signing.SIGNATURE_MALFORMED, signing.SIGNATURE_UNSUPPORTED,
                 signing.SIGNATURE_KEY_MISMATCH, signing.SIGNATURE_INVALID, *signing.ALGORITHMS):
        assert f"`{code}`" in spec or f'"{code}"' in spec, code
    assert f"`{SIGNED_PREFIX.rstrip().decode()}`" in spec and f"the {len(SIGNED_PREFIX) - 1} ASCII bytes" in spec
    assert "`manifest.json.sig`" in spec
