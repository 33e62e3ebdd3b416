"""DumpOptions: every setting of a dump checked once, with a message naming the argument."""

from __future__ import annotations

import pytest

from airflow_provider_vectorbackup.jobs.dump import DumpOptions
from airflow_provider_vectorbackup.snapshot import HmacKey


@pytest.mark.parametrize(("arguments", "message"), [
    ({"collections": "articles"}, r"collections must be a list of collection names, not 'articles'"),
    ({"collections": ["articles", ""]}, "collections must be a list of collection names"),
    ({"collections": ["articles", "faq", "articles"]}, "collections are listed more than once"),
    ({"compression": "brotli"}, "compression must be one of"),
    ({"scan_mode": "fast"}, "scan_mode must be one of"),
    ({"scan_streams": 0}, "scan_streams must be at least 1, not 0"),
    ({"collections_at_once": "2"}, "collections_at_once must be a whole number, not '2'"),
    ({"uploads_at_once": True}, "uploads_at_once must be a whole number"),
    ({"segment_max_bytes": 0}, "segment_max_bytes must be at least 1"),
])
def test_a_bad_setting_is_refused_naming_the_argument(arguments, message) -> None:
    with pytest.raises(ValueError, match=message):
        DumpOptions(**arguments)


def test_the_defaults_are_the_measured_ones_and_the_keys_never_show() -> None:
    options = DumpOptions(signer=HmacKey(b"s" * 32), collections=["articles"])
    assert (options.scan_mode, options.collections_at_once, options.uploads_at_once) == ("auto", 2, 2)
    assert "signer" not in repr(options) and "encryption" not in repr(options)
    assert options.describe().startswith("scan_mode=auto, scan_streams=")
