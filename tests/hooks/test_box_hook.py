"""BoxHook: an Airflow connection in, a configured BoxApi out, secrets kept out of everything on the way.

The client's own behaviour (folders, verified transfers, auth kinds, throttling) is tested in
``tests/stores/box/``; here only what the hook adds: the connection lookup, caching, the test.
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

from airflow_provider_vectorbackup.exceptions import CredentialsRejected
from airflow_provider_vectorbackup.hooks.box import BoxHook
from airflow_provider_vectorbackup.stores.box.client import BoxApi
from airflow_provider_vectorbackup.testing.box import BoxStandIn
from tests.stores.box.helpers import jwt_app_config, rsa_pair, stand_in_urls


@pytest.fixture(scope="module")
def jwt_stand_in() -> Iterator[BoxStandIn]:
    """A stand-in with a developer token and a JWT key of its own (the canary keys are unknown to it)."""
    with BoxStandIn(jwt_public_key=rsa_pair("stand-in")[1], developer_token="stand-in-token") as stand_in:
        yield stand_in


def _use(monkeypatch: pytest.MonkeyPatch, conn_id: str, **connection: object) -> BoxHook:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "box", **connection}))
    return BoxHook(conn_id)


def test_init_looks_nothing_up_and_repr_is_plain(box_stand_in: BoxStandIn) -> None:
    hook = BoxHook("no_such_connection")  # an unknown id fails on first use, not here
    assert repr(hook) == "BoxHook(box_conn_id='no_such_connection')"
    assert "conn" not in hook.__dict__ and box_stand_in.request_counts == {}
    identity = (BoxHook.conn_type, BoxHook.default_conn_name, BoxHook.conn_name_attr, BoxHook.hook_name)
    assert identity == ("box", "box_default", "box_conn_id", "Box")


def test_get_conn_is_one_box_api_for_the_connection(box_connection: str, box_stand_in: BoxStandIn) -> None:
    hook = BoxHook(box_connection)
    api = hook.get_conn()
    assert isinstance(api, BoxApi) and api is hook.get_conn() is hook.conn
    assert api.conn_id == box_connection
    api.ensure_folder("a")
    hook.get_conn().ensure_folder("b")
    assert box_stand_in.tokens_issued == 1


def test_test_connection(box_connection: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert BoxHook(box_connection).test_connection() == (
        True, "Connected to Box with CCG (enterprise 1000) auth; the root folder is readable.")
    ok, message = _use(monkeypatch, "box_broken", login="client-id-only").test_connection()
    assert not ok and "Box connection 'box_broken' has no usable credentials" in message


def test_canary_secrets_never_surface(jwt_stand_in: BoxStandIn, monkeypatch: pytest.MonkeyPatch,
                                      caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> None:
    secret, token, passphrase = "CANARY-client-secret-1f3a", "CANARY-developer-token-9c2e", "CANARY-passphrase-77d1"
    private_key, _ = rsa_pair(passphrase)  # unknown to the stand-in, so the JWT grant is refused
    key_body = private_key.splitlines()[5]
    urls = stand_in_urls(jwt_stand_in)
    hooks = [
        _use(monkeypatch, "canary_ccg", login=jwt_stand_in.client_id, password=secret,
             extra={"enterprise_id": "1000", **urls}),
        _use(monkeypatch, "canary_dev", password=token, extra=urls),
        _use(monkeypatch, "canary_jwt", extra={"jwt_config": jwt_app_config(jwt_stand_in, private_key, passphrase),
                                               **urls}),
    ]
    seen: list[str] = []
    with caplog.at_level(logging.DEBUG):
        for hook in hooks:
            seen += [repr(hook), *map(str, hook.test_connection())]
            with pytest.raises(CredentialsRejected) as caught:
                hook.get_conn().ensure_folder("never-created")
            assert caught.value.conn_id == hook.box_conn_id and caught.value.status in (400, 401)
            assert f"connection {hook.box_conn_id!r}" in str(caught.value) and ": check " in str(caught.value)
            seen += [str(caught.value), repr(caught.value), repr(hook), repr(hook.__dict__),
                     repr(hook.conn.__dict__)]
    captured = capsys.readouterr()
    text = "\n".join([*seen, caplog.text, captured.out, captured.err])
    assert "invalid_client" in text and "Developer token has expired" in text and "invalid_grant" in text
    for canary in (secret, token, passphrase, key_body):
        assert canary not in text
    assert "CANARY" not in text
    assert "assertion=" not in text and "eyJ" not in text, "a signed JWT grant is a (short-lived) credential too"


@pytest.mark.slow
def test_airflow_connections_test_cli(box_connection: str, tmp_path: Path) -> None:
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
           "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    result = subprocess.run([sys.executable, "-m", "airflow", "connections", "test", box_connection],
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Connection success!" in result.stdout
