"""The front's contract: which requests the STOW receiver serves, which root answers name."""

from __future__ import annotations

import pytest

from chalicelib.routes.front import ROOT_HEADER, SECRET_HEADER, is_stow, public_root

#: (method, path, goes to the receiver). tests/infra runs the CloudFront Function on these.
ROUTING_CASES = [
    ("POST", "/studies", True),
    ("POST", "/studies/", True),
    ("POST", "/studies/1.2.3", True),
    ("POST", "/studies/1.2.3/", True),
    ("post", "/studies", True),
    ("GET", "/studies", False),
    ("GET", "/studies/1.2.3", False),
    ("DELETE", "/studies/1.2.3", False),
    ("POST", "/studies/1.2.3/series", False),
    ("POST", "/studies/1.2.3/series/4.5", False),
    ("POST", "/uploads", False),
    ("POST", "/studiesx", False),
    ("POST", "/x/studies", False),
    ("OPTIONS", "/studies", False),
]


@pytest.mark.parametrize(("method", "path", "expected"), ROUTING_CASES)
def test_is_stow(method: str, path: str, expected: bool) -> None:
    assert is_stow(method, path) is expected


def headers(**values: str):
    named = {k.replace("_", "-"): v for k, v in values.items()}
    return lambda name: named.get(name)


def test_a_configured_root_wins_over_every_header() -> None:
    h = headers(
        **{ROOT_HEADER.replace("-", "_"): "https://evil", SECRET_HEADER.replace("-", "_"): "s"}
    )
    assert (
        public_root(h, "https://pacs.example.org/", "s", "http://host")
        == "https://pacs.example.org"
    )


def test_the_fronts_root_is_trusted_only_with_the_secret() -> None:
    root, secret = ROOT_HEADER.replace("-", "_"), SECRET_HEADER.replace("-", "_")
    good = headers(**{root: "https://d1.cloudfront.net", secret: "s3cret"})
    assert public_root(good, "", "s3cret", "http://alb") == "https://d1.cloudfront.net"
    wrong = headers(**{root: "https://evil.example", secret: "guess"})
    assert public_root(wrong, "", "s3cret", "http://alb") == "http://alb"
    bare = headers(**{root: "https://evil.example"})
    assert public_root(bare, "", "s3cret", "http://alb") == "http://alb"
    # no secret configured: the header is never trusted, even with an empty secret header
    assert (
        public_root(headers(**{root: "https://evil", secret: ""}), "", "", "http://h") == "http://h"
    )
