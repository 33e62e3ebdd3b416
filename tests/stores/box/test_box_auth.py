"""BoxApi connections: CCG, JWT and developer tokens against the stand-in, secrets kept out of everything.

The real boxsdk authenticates against the stand-in's token endpoint (JWT assertions are
verified with the public key of an RSA pair made here); the client is never mocked. The
checks that go through the Airflow hook are in ``tests/hooks/test_box_hook.py``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_provider_vectorbackup.exceptions import CredentialsRejected
from airflow_provider_vectorbackup.stores.box.client import BoxApi
from airflow_provider_vectorbackup.testing.box import BoxStandIn
from tests.stores.box.helpers import (
    DEVELOPER_TOKEN, PASSPHRASE, box_api, jwt_app_config, rsa_pair, stand_in_urls,
)


@pytest.fixture(scope="module")
def jwt_key() -> tuple[str, bytes]:
    return rsa_pair(PASSPHRASE)


@pytest.fixture(scope="module")
def auth_stand_in(jwt_key: tuple[str, bytes]) -> Iterator[BoxStandIn]:
    """A stand-in that also knows a JWT public key and a developer token."""
    with BoxStandIn(jwt_public_key=jwt_key[1], developer_token=DEVELOPER_TOKEN) as stand_in:
        yield stand_in


def _use(monkeypatch: pytest.MonkeyPatch, conn_id: str, **connection: object) -> BoxApi:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "box", **connection}))
    return box_api(conn_id)


# -- each kind of auth passes test_connection ----------------------------------------------


def test_ccg_from_the_plugin_connection(box_connection: str) -> None:
    assert box_api(box_connection).test_connection() == (
        True, "Connected to Box with CCG (enterprise 1000) auth; the root folder is readable.")


def test_ccg_user_subject_wins_over_enterprise(auth_stand_in: BoxStandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    api = _use(monkeypatch, "box_user", login=auth_stand_in.client_id, password=auth_stand_in.client_secret,
               extra={"enterprise_id": "1000", "user_id": 42, **stand_in_urls(auth_stand_in, slash="/")})
    ok, message = api.test_connection()
    assert ok, message
    assert "CCG (user 42)" in message


def test_jwt_from_an_extra_and_from_a_file(auth_stand_in: BoxStandIn, jwt_key: tuple[str, bytes],
                                           monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = jwt_app_config(auth_stand_in, jwt_key[0])
    inline = _use(monkeypatch, "box_jwt", extra={"jwt_config": config, **stand_in_urls(auth_stand_in)})
    assert inline.test_connection() == (True, "Connected to Box with JWT (enterprise 1000) auth; the root folder "
                                              "is readable.")
    as_object = _use(monkeypatch, "box_jwt_object",
                     extra={"jwt_config": json.loads(config), **stand_in_urls(auth_stand_in)})
    assert as_object.test_connection()[0]
    (tmp_path / "config.json").write_text(config)
    from_file = _use(monkeypatch, "box_jwt_file",
                     extra={"jwt_config_path": str(tmp_path / "config.json"), "user_id": "77",
                            **stand_in_urls(auth_stand_in)})
    assert from_file.test_connection() == (True, "Connected to Box with JWT (user 77) auth; the root folder "
                                                 "is readable.")
    assert from_file.ensure_folder("jwt-made") == from_file.ensure_folder("jwt-made")


def test_developer_token(auth_stand_in: BoxStandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    api = _use(monkeypatch, "box_dev", password=DEVELOPER_TOKEN, extra=stand_in_urls(auth_stand_in))
    assert api.test_connection() == (True, "Connected to Box with developer token auth; the root folder is readable.")


# -- refusals ------------------------------------------------------------------------------


def test_wrong_ccg_secret(auth_stand_in: BoxStandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    api = _use(monkeypatch, "box_bad", login=auth_stand_in.client_id, password="wrong-secret-value",
               extra={"enterprise_id": "1000", **stand_in_urls(auth_stand_in)})
    ok, message = api.test_connection()
    assert not ok
    assert "HTTP 400 invalid_client: The client credentials are invalid" in message
    assert "wrong-secret-value" not in message


def test_jwt_signed_with_an_unknown_key(auth_stand_in: BoxStandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    stranger, _ = rsa_pair(PASSPHRASE)
    api = _use(monkeypatch, "box_stranger", extra={"jwt_config": jwt_app_config(auth_stand_in, stranger),
                                                   **stand_in_urls(auth_stand_in)})
    ok, message = api.test_connection()
    assert not ok and "HTTP 400 invalid_grant" in message and PASSPHRASE not in message


def test_expired_developer_token(auth_stand_in: BoxStandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    api = _use(monkeypatch, "box_old_dev", password="not-the-token", extra=stand_in_urls(auth_stand_in))
    ok, message = api.test_connection()
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


# -- refusals name the connection ------------------------------------------------------------


def test_a_403_is_a_refusal_that_names_the_connection(box_stand_in: BoxStandIn, box_connection: str) -> None:
    api = box_api(box_connection)
    api.ensure_folder("reachable")  # signed in: the 403 below comes from the API, not the token endpoint
    box_stand_in.faults.configure(server_error_every=1, server_error_status=403)
    with pytest.raises(CredentialsRejected) as caught:
        api.ensure_folder("forbidden")
    assert (caught.value.conn_id, caught.value.service, caught.value.status) == ("box_default", "Box", 403)
    assert "refused connection 'box_default' (CCG (enterprise 1000) auth) access (HTTP 403" in str(caught.value)
    assert "collaborator on the snapshot folder" in str(caught.value)


def test_a_403_about_storage_space_is_not_a_refusal_of_credentials() -> None:
    """Box answers a full account with 403 ``storage_limit_exceeded``: checking the credentials would not help."""
    from types import SimpleNamespace

    from airflow_provider_vectorbackup.stores.box.items import credentials_rejected

    def box_error(code: str) -> Exception:
        error = Exception("boxsdk error")
        error.response_info = SimpleNamespace(status_code=403, code=code, body={"code": code}, request_id="r1")
        return error

    assert credentials_rejected(box_error("storage_limit_exceeded"), "box_default", "CCG (enterprise 1)") is None
    refused = credentials_rejected(box_error("access_denied_insufficient_permissions"), "box_default",
                                   "CCG (enterprise 1)")
    assert refused is not None and refused.status == 403
