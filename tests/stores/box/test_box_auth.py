"""BoxHook connections: CCG, JWT and developer tokens against the stand-in, secrets kept out of everything.

The real boxsdk authenticates against the stand-in's token endpoint (JWT assertions are
verified with the public key of an RSA pair made here); the hook is never mocked.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from airflow_provider_vectorbackup.exceptions import CredentialsRejected
from airflow_provider_vectorbackup.hooks.box import BoxHook
from airflow_provider_vectorbackup.testing.box import BoxStandIn

DEVELOPER_TOKEN = "stand-in-developer-token"
PASSPHRASE = "stand-in-passphrase"


def _rsa_pair(passphrase: str) -> tuple[str, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.BestAvailableEncryption(passphrase.encode())).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public


@pytest.fixture(scope="module")
def jwt_key() -> tuple[str, bytes]:
    return _rsa_pair(PASSPHRASE)


@pytest.fixture(scope="module")
def auth_stand_in(jwt_key: tuple[str, bytes]) -> Iterator[BoxStandIn]:
    """A stand-in that also knows a JWT public key and a developer token."""
    with BoxStandIn(jwt_public_key=jwt_key[1], developer_token=DEVELOPER_TOKEN) as stand_in:
        yield stand_in


def _urls(stand_in: BoxStandIn, slash: str = "") -> dict[str, str]:
    return {"base_url": stand_in.url + slash, "upload_url": stand_in.upload_url + slash,
            "oauth2_url": stand_in.oauth2_url + slash}


def _jwt_config(stand_in: BoxStandIn, private_key: str, passphrase: str = PASSPHRASE) -> str:
    return json.dumps({
        "boxAppSettings": {"clientID": stand_in.client_id, "clientSecret": stand_in.client_secret,
                           "appAuth": {"publicKeyID": "key-1", "privateKey": private_key, "passphrase": passphrase}},
        "enterpriseID": stand_in.enterprise_id,
    })


def _use(monkeypatch: pytest.MonkeyPatch, conn_id: str, **connection: object) -> BoxHook:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "box", **connection}))
    return BoxHook(conn_id)


# -- each kind of auth passes test_connection ----------------------------------------------


def test_ccg_from_the_plugin_connection(box_connection: str) -> None:
    assert BoxHook(box_connection).test_connection() == (
        True, "Connected to Box with CCG (enterprise 1000) auth; the root folder is readable.")


def test_ccg_user_subject_wins_over_enterprise(auth_stand_in: BoxStandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    hook = _use(monkeypatch, "box_user", login=auth_stand_in.client_id, password=auth_stand_in.client_secret,
                extra={"enterprise_id": "1000", "user_id": 42, **_urls(auth_stand_in, slash="/")})
    ok, message = hook.test_connection()
    assert ok, message
    assert "CCG (user 42)" in message


def test_jwt_from_an_extra_and_from_a_file(auth_stand_in: BoxStandIn, jwt_key: tuple[str, bytes],
                                           monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = _jwt_config(auth_stand_in, jwt_key[0])
    inline = _use(monkeypatch, "box_jwt", extra={"jwt_config": config, **_urls(auth_stand_in)})
    assert inline.test_connection() == (True, "Connected to Box with JWT (enterprise 1000) auth; the root folder "
                                              "is readable.")
    as_object = _use(monkeypatch, "box_jwt_object", extra={"jwt_config": json.loads(config), **_urls(auth_stand_in)})
    assert as_object.test_connection()[0]
    (tmp_path / "config.json").write_text(config)
    from_file = _use(monkeypatch, "box_jwt_file",
                     extra={"jwt_config_path": str(tmp_path / "config.json"), "user_id": "77", **_urls(auth_stand_in)})
    assert from_file.test_connection() == (True, "Connected to Box with JWT (user 77) auth; the root folder "
                                                 "is readable.")
    assert from_file.ensure_folder("jwt-made") == from_file.ensure_folder("jwt-made")


def test_developer_token(auth_stand_in: BoxStandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    hook = _use(monkeypatch, "box_dev", password=DEVELOPER_TOKEN, extra=_urls(auth_stand_in))
    assert hook.test_connection() == (True, "Connected to Box with developer token auth; the root folder is readable.")


# -- refusals ------------------------------------------------------------------------------


def test_wrong_ccg_secret(auth_stand_in: BoxStandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    hook = _use(monkeypatch, "box_bad", login=auth_stand_in.client_id, password="wrong-secret-value",
                extra={"enterprise_id": "1000", **_urls(auth_stand_in)})
    ok, message = hook.test_connection()
    assert not ok
    assert "HTTP 400 invalid_client: The client credentials are invalid" in message
    assert "wrong-secret-value" not in message


def test_jwt_signed_with_an_unknown_key(auth_stand_in: BoxStandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    stranger, _ = _rsa_pair(PASSPHRASE)
    hook = _use(monkeypatch, "box_stranger", extra={"jwt_config": _jwt_config(auth_stand_in, stranger),
                                                    **_urls(auth_stand_in)})
    ok, message = hook.test_connection()
    assert not ok and "HTTP 400 invalid_grant" in message and PASSPHRASE not in message


def test_expired_developer_token(auth_stand_in: BoxStandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    hook = _use(monkeypatch, "box_old_dev", password="not-the-token", extra=_urls(auth_stand_in))
    ok, message = hook.test_connection()
    assert not ok and "Developer token has expired" in message and "not-the-token" not in message


@pytest.mark.parametrize(("connection", "reason"), [
    ({}, "has no usable credentials"),
    ({"login": "client-id-only"}, "has no usable credentials"),
    ({"login": "id", "password": "secret"}, "neither extra enterprise_id nor user_id"),
    ({"extra": {"jwt_config": "{}", "jwt_config_path": "/x.json"}}, "sets both jwt_config and jwt_config_path"),
    ({"extra": {"jwt_config": "{not json"}}, "extra jwt_config is not a Box JWT app config"),
    ({"extra": {"jwt_config_path": "/nonexistent/config.json"}}, "cannot read jwt_config_path"),
    ({"password": "token", "extra": {"max_attempts": "many"}}, "must be numbers"),
])
def test_unusable_connections_say_which_fields_work(monkeypatch: pytest.MonkeyPatch, connection: dict,
                                                    reason: str) -> None:
    ok, message = _use(monkeypatch, "box_broken", **connection).test_connection()
    assert not ok and reason in message
    if "credentials" in reason or "neither" in reason:
        assert "CCG = login (client id) + password (client secret)" in message and "developer token =" in message


# -- secrets stay secret -------------------------------------------------------------------


def test_canary_secrets_never_surface(auth_stand_in: BoxStandIn, monkeypatch: pytest.MonkeyPatch,
                                      caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> None:
    secret, token, passphrase = "CANARY-client-secret-1f3a", "CANARY-developer-token-9c2e", "CANARY-passphrase-77d1"
    private_key, _ = _rsa_pair(passphrase)  # unknown to the stand-in, so the JWT grant is refused
    key_body = private_key.splitlines()[5]
    hooks = [
        _use(monkeypatch, "canary_ccg", login=auth_stand_in.client_id, password=secret,
             extra={"enterprise_id": "1000", **_urls(auth_stand_in)}),
        _use(monkeypatch, "canary_dev", password=token, extra=_urls(auth_stand_in)),
        _use(monkeypatch, "canary_jwt", extra={"jwt_config": _jwt_config(auth_stand_in, private_key, passphrase),
                                               **_urls(auth_stand_in)}),
    ]
    seen: list[str] = []
    with caplog.at_level(logging.DEBUG):
        for hook in hooks:
            seen += [repr(hook), *map(str, hook.test_connection())]
            with pytest.raises(CredentialsRejected) as caught:
                hook.ensure_folder("never-created")
            assert caught.value.conn_id == hook.box_conn_id and caught.value.status in (400, 401)
            assert f"connection {hook.box_conn_id!r}" in str(caught.value) and ": check " in str(caught.value)
            seen += [str(caught.value), repr(caught.value), repr(hook), repr(hook.__dict__)]
    captured = capsys.readouterr()
    text = "\n".join([*seen, caplog.text, captured.out, captured.err])
    assert "invalid_client" in text and "Developer token has expired" in text and "invalid_grant" in text
    for canary in (secret, token, passphrase, key_body):
        assert canary not in text
    assert "CANARY" not in text
    assert "assertion=" not in text and "eyJ" not in text, "a signed JWT grant is a (short-lived) credential too"


def test_a_403_is_a_refusal_that_names_the_connection(box_stand_in: BoxStandIn, box_connection: str) -> None:
    hook = BoxHook(box_connection)
    hook.ensure_folder("reachable")  # signed in: the 403 below comes from the API, not the token endpoint
    box_stand_in.faults.configure(server_error_every=1, server_error_status=403)
    with pytest.raises(CredentialsRejected) as caught:
        hook.ensure_folder("forbidden")
    assert (caught.value.conn_id, caught.value.service, caught.value.status) == ("box_default", "Box", 403)
    assert "refused connection 'box_default' (CCG (enterprise 1000) auth) access (HTTP 403" in str(caught.value)
    assert "collaborator on the snapshot folder" in str(caught.value)


def test_a_403_about_storage_space_is_not_a_refusal_of_credentials() -> None:
    """Box answers a full account with 403 ``storage_limit_exceeded``: checking the credentials would not help."""
    from types import SimpleNamespace

    from airflow_provider_vectorbackup.hooks.box_items import credentials_rejected

    def box_error(code: str) -> Exception:
        error = Exception("boxsdk error")
        error.response_info = SimpleNamespace(status_code=403, code=code, body={"code": code}, request_id="r1")
        return error

    assert credentials_rejected(box_error("storage_limit_exceeded"), "box_default", "CCG (enterprise 1)") is None
    refused = credentials_rejected(box_error("access_denied_insufficient_permissions"), "box_default",
                                   "CCG (enterprise 1)")
    assert refused is not None and refused.status == 403


# -- the Airflow CLI -----------------------------------------------------------------------


@pytest.mark.slow
def test_airflow_connections_test_cli(box_connection: str, tmp_path: Path) -> None:
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
           "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    result = subprocess.run([sys.executable, "-m", "airflow", "connections", "test", box_connection],
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Connection success!" in result.stdout
