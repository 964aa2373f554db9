"""dicomweb/warnings.py: the Warning header, shaped from client input."""

from __future__ import annotations

from chalicelib.dicomweb.warnings import WARNING_TEXT_LIMIT, warning_header


def test_warning_header_is_visible_ascii_with_quotes_escaped() -> None:
    header = warning_header("h", ['unknown attribute "\u0100\x07\\x"', "second"])["Warning"]
    header.encode("latin-1")  # what every HTTP server must be able to send
    assert all(" " <= c <= "~" for c in header)
    assert header == '299 h "unknown attribute \\"\\\\u0100\\\\x07\\\\x\\"", 299 h "second"'


def test_warning_header_caps_echoed_text() -> None:
    header = warning_header("h", ["x" * 10_000])["Warning"]
    assert len(header) < WARNING_TEXT_LIMIT + 20 and header.endswith('..."')
    assert warning_header("h", []) == {}
