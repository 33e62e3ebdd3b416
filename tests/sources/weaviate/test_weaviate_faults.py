"""Faults on the stand-in's gRPC data calls: the client's own retries ride out UNAVAILABLE, and a fault it does not
retry fails the read with a clear error naming the collection and how far it got, never the API key."""

from __future__ import annotations

import contextlib

import pytest

from airflow_provider_vectorbackup.sources.weaviate.client import WeaviateReadError
from tests.sources.test_conformance import digest_of, scanned
from tests.sources.weaviate.test_weaviate_source import _create, _document


def test_unavailable_calls_are_retried_by_the_client_and_nothing_is_lost(weaviate_source, weaviate_stand_in) -> None:
    source = weaviate_source(page_size=7)
    _create(source, "Notes")
    documents = [_document(i) for i in range(30)]
    weaviate_stand_in.faults.configure(server_error_every=4, server_error_status=503)
    report = source.insert_documents("Notes", documents)
    assert report.ok and report.inserted == 30, report.summary()
    assert digest_of(scanned(source, "Notes", source.collection_definition("Notes"))) == digest_of(documents)
    assert weaviate_stand_in.faults.injected["server_error"] >= 2


def test_a_fault_the_client_does_not_retry_fails_the_scan_naming_the_collection(weaviate_source,
                                                                                 weaviate_stand_in) -> None:
    source = weaviate_source(page_size=7)
    _create(source, "Notes")
    source.insert_documents("Notes", [_document(i) for i in range(30)])
    definition = source.collection_definition("Notes")
    weaviate_stand_in.faults.configure(server_error_every=3, server_error_status=500)
    with pytest.raises(WeaviateReadError, match=r"'Notes' .* failed after 14 document\(s\): .*internal error") as caught:
        with contextlib.closing(source.scan("Notes", definition).pages()) as pages:
            for _ in pages:
                pass
    assert weaviate_stand_in.api_key not in str(caught.value)
