"""A caller's request id is echoed only when the whole of it is sane."""

from __future__ import annotations

from service.http.request_context import _SANE


def test_a_caller_request_id_must_match_whole() -> None:
    assert _SANE.fullmatch("req-1:2.3_4")
    assert not _SANE.fullmatch("req-1\n")
    assert not _SANE.fullmatch("x" * 129)
