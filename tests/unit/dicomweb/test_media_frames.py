"""Frames negotiation (media.negotiate_frames)."""

from __future__ import annotations

import pytest

from chalicelib.dicomweb.media import negotiate_frames, parse_accept

ELE = "1.2.840.10008.1.2.1"
J2K = "1.2.840.10008.1.2.4.90"


@pytest.mark.parametrize(
    ("accept", "stored", "expected"),
    [
        ("*/*", ELE, ("application/octet-stream", ELE, False)),
        ("*/*", J2K, ("application/octet-stream", ELE, True)),
        (
            "multipart/related; type=application/octet-stream; transfer-syntax=*",
            J2K,
            ("application/octet-stream", J2K, False),
        ),
        ('multipart/related; type="image/jp2"', J2K, ("image/jp2", J2K, False)),
        ('multipart/related; type="image/jpeg"', J2K, None),
        (
            'multipart/related; type="application/octet-stream"',
            "1.2.840.10008.1.2",
            ("application/octet-stream", ELE, False),
        ),
        (
            'multipart/related; type="image/jpeg", '
            "multipart/related; type=application/octet-stream",
            J2K,
            ("application/octet-stream", ELE, True),
        ),
        ("image/png", ELE, None),
        ('multipart/related; type="*/*"', J2K, ("image/jp2", J2K, False)),
        ('multipart/related; type="*/*"', ELE, ("application/octet-stream", ELE, False)),
    ],
)
def test_negotiate_frames(accept, stored, expected):
    choice = negotiate_frames(parse_accept(accept), stored)
    if expected is None:
        assert choice is None
    else:
        assert (choice.content_type, choice.transfer_syntax, choice.decode) == expected
