"""The command-line entry point and the plugin's connection fixture."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from box_sdk_gen import BaseUrls, BoxAPIError, BoxCCGAuth, BoxClient, CCGConfig, NetworkSession

from airflow_provider_vectorbackup.testing.box import BoxStandIn


@pytest.mark.slow
def test_cli_prints_url_and_serves_the_sdk() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_vectorbackup.testing.box", "--port", "0",
         "--client-id", "cli-id", "--client-secret", "cli-secret", "--enterprise-id", "77",
         "--chunk-minimum", "1024"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        auth = BoxCCGAuth(CCGConfig("cli-id", "cli-secret", enterprise_id="77"))
        client = BoxClient(auth, network_session=NetworkSession(
            base_urls=BaseUrls(base_url=url, upload_url=url + "/api", oauth_2_url=url + "/oauth2")))
        assert client.folders.get_folder_by_id("0").name == "All Files"
        with pytest.raises(BoxAPIError) as excinfo:  # --chunk-minimum took effect
            client.chunked_uploads.create_file_upload_session("0", 1023, "tiny.bin")
        assert excinfo.value.response_info.code == "file_size_too_small"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_box_connection_points_airflow_at_the_stand_in(box_connection: str, box_stand_in: BoxStandIn) -> None:
    assert box_connection == "box_default"
    connection = json.loads(os.environ["AIRFLOW_CONN_BOX_DEFAULT"])
    assert connection["login"] == box_stand_in.client_id and connection["password"] == box_stand_in.client_secret
    assert connection["extra"] == {"enterprise_id": box_stand_in.enterprise_id, "base_url": box_stand_in.url,
                                   "upload_url": box_stand_in.url + "/api", "oauth2_url": box_stand_in.url + "/oauth2",
                                   "max_uploads_per_minute": 0, "max_requests_per_minute": 0}
    from airflow.sdk import Connection

    airflow_connection = Connection.get(box_connection)
    assert airflow_connection.conn_type == "box"
    assert airflow_connection.extra_dejson["base_url"] == box_stand_in.url
