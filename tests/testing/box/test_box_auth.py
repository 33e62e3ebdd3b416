"""OAuth (CCG, JWT), developer tokens, Bearer checks and the SDK's refresh-on-401."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests
from box_sdk_gen import (
    BaseUrls,
    BoxAPIError,
    BoxCCGAuth,
    BoxClient,
    BoxDeveloperTokenAuth,
    BoxJWTAuth,
    BoxRetryStrategy,
    BoxSDKError,
    CCGConfig,
    JWTConfig,
    NetworkSession,
)
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from airflow_provider_vectorbackup.testing.box import BoxStandIn

PASSPHRASE = "stand-in-passphrase"  # the SDK only loads encrypted private keys


def _session(stand_in: BoxStandIn) -> NetworkSession:
    return NetworkSession(base_urls=BaseUrls(base_url=stand_in.url, upload_url=stand_in.upload_url,
                                             oauth_2_url=stand_in.oauth2_url))


def _rsa_pem() -> tuple[str, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.BestAvailableEncryption(PASSPHRASE.encode())).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public


@pytest.fixture(scope="module")
def jwt_keys() -> tuple[str, bytes]:
    return _rsa_pem()


@pytest.fixture(scope="module")
def jwt_stand_in(jwt_keys: tuple[str, bytes]) -> Iterator[BoxStandIn]:
    with BoxStandIn(jwt_public_key=jwt_keys[1], developer_token="dev-token-123") as stand_in:
        yield stand_in


def _jwt_client(stand_in: BoxStandIn, private_key: str, enterprise_id: str | None = None) -> BoxClient:
    config = JWTConfig.from_config_json_string(json.dumps({
        "boxAppSettings": {"clientID": stand_in.client_id, "clientSecret": stand_in.client_secret,
                           "appAuth": {"publicKeyID": "kid-1", "privateKey": private_key, "passphrase": PASSPHRASE}},
        "enterpriseID": enterprise_id or stand_in.enterprise_id,
    }))
    return BoxClient(BoxJWTAuth(config), network_session=_session(stand_in))


def test_ccg_enterprise_token_then_api_call(box_stand_in: BoxStandIn) -> None:
    folder = box_stand_in.ccg_client().folders.get_folder_by_id("0")
    assert (folder.id, folder.name) == ("0", "All Files")
    assert box_stand_in.tokens_issued == 1
    assert box_stand_in.request_counts == {"token": 1, "get_folder": 1}


def test_ccg_user_subject(box_stand_in: BoxStandIn) -> None:
    auth = BoxCCGAuth(CCGConfig(box_stand_in.client_id, box_stand_in.client_secret, user_id="42"))
    assert BoxClient(auth, network_session=_session(box_stand_in)).folders.get_folder_by_id("0").id == "0"


@pytest.mark.parametrize(("secret", "enterprise", "error"), [
    ("wrong-secret", "1000", "invalid_client"),
    (None, "999", "invalid_grant"),
])
def test_ccg_bad_credentials_are_refused(box_stand_in: BoxStandIn, secret: str | None, enterprise: str,
                                         error: str) -> None:
    auth = BoxCCGAuth(CCGConfig(box_stand_in.client_id, secret or box_stand_in.client_secret,
                                enterprise_id=enterprise))
    with pytest.raises(BoxAPIError) as excinfo:
        BoxClient(auth, network_session=_session(box_stand_in)).folders.get_folder_by_id("0")
    assert excinfo.value.response_info.status_code == 400
    assert excinfo.value.response_info.body["error"] == error
    assert box_stand_in.tokens_issued == 0


def test_jwt_signed_assertion_is_verified(jwt_stand_in: BoxStandIn, jwt_keys: tuple[str, bytes]) -> None:
    client = _jwt_client(jwt_stand_in, jwt_keys[0])
    assert client.folders.get_folder_by_id("0").id == "0"


def test_jwt_signed_by_another_key_is_refused(jwt_stand_in: BoxStandIn) -> None:
    with pytest.raises(BoxAPIError) as excinfo:
        _jwt_client(jwt_stand_in, _rsa_pem()[0]).folders.get_folder_by_id("0")
    assert excinfo.value.response_info.status_code == 400
    assert excinfo.value.response_info.body == {"error": "invalid_grant",
                                                "error_description": "Grant credentials are invalid"}


def test_jwt_for_another_enterprise_is_refused(jwt_stand_in: BoxStandIn, jwt_keys: tuple[str, bytes]) -> None:
    with pytest.raises(BoxAPIError) as excinfo:
        _jwt_client(jwt_stand_in, jwt_keys[0], enterprise_id="31337").folders.get_folder_by_id("0")
    assert excinfo.value.response_info.body["error"] == "invalid_grant"


def test_developer_token_and_its_expiry(jwt_stand_in: BoxStandIn) -> None:
    client = BoxClient(BoxDeveloperTokenAuth("dev-token-123"), network_session=_session(jwt_stand_in))
    assert client.folders.get_folder_by_id("0").id == "0"
    jwt_stand_in.expire_tokens()
    with pytest.raises(BoxSDKError, match="Developer token has expired"):
        client.folders.get_folder_by_id("0")


def test_missing_or_unknown_bearer_gets_401(box_stand_in: BoxStandIn) -> None:
    for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic abc"}):
        response = requests.get(f"{box_stand_in.url}/2.0/folders/0", headers=headers, timeout=10)
        assert response.status_code == 401
        assert "invalid_token" in response.headers["www-authenticate"]


def test_ccg_refreshes_after_expire_tokens(box_stand_in: BoxStandIn, fast_retries: BoxRetryStrategy) -> None:
    client = box_stand_in.ccg_client(fast_retries)
    client.folders.get_folder_by_id("0")
    box_stand_in.expire_tokens()
    assert client.folders.get_folder_by_id("0").id == "0"
    assert box_stand_in.tokens_issued == 2
    assert box_stand_in.request_counts == {"token": 2, "get_folder": 3}  # one 401, then the retry


def test_tokens_expire_by_ttl(fast_retries: BoxRetryStrategy) -> None:
    with BoxStandIn(token_ttl_seconds=0) as stand_in:
        with pytest.raises(BoxAPIError) as excinfo:
            stand_in.ccg_client(fast_retries).folders.get_folder_by_id("0")
        assert excinfo.value.response_info.status_code == 401
        # The SDK refreshed after every 401 until its five attempts ran out.
        assert stand_in.request_counts["get_folder"] == 5
        assert stand_in.tokens_issued == 5
