"""local/front.py as CloudFront plays it: STOW to the receiver, the rest to the API, the root
header set from the address the front listens on (a client's own copy and a guessed secret
replaced), and a refused STOW answered before its body (Expect: 100-continue) through the front
too."""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
import requests

from chalicelib.routes.deps import Deps
from local.front import Front, ThreadedAsgiServer, front_config
from local.gateway import LocalGateway
from receiver.app import Receiver
from tests.conftest import KEY
from tests.factories import instance_bytes, multipart_body, uid

SECRET = "front-secret"
MULTIPART = 'multipart/related; type="application/dicom"; boundary=test-boundary'


@pytest.fixture
def front(lambda_app: ModuleType) -> Iterator[str]:
    deps = lambda_app.deps
    original = deps.settings
    deps.settings = dataclasses.replace(original, origin_secret=SECRET)
    gateway = LocalGateway(lambda_app.app, deps.settings.request_limit, deps.settings.payload_limit)
    front = Front(gateway, Receiver(Deps(deps.settings)), SECRET)
    server = ThreadedAsgiServer(front, config=front_config)
    try:
        yield server.url
    finally:
        server.close()
        deps.settings = original


def forged(**extra: str) -> dict[str, Any]:
    return {
        "apikey": KEY,
        "x-dicomweb-root": "https://evil.example",
        "x-dicomweb-origin-secret": "guess",
        **extra,
    }


def test_stow_goes_to_the_receiver_and_names_the_clients_root(front: str) -> None:
    study = uid()
    r = requests.post(
        front + "/studies",
        data=multipart_body([instance_bytes(study=study)]),
        headers=forged(**{"Content-Type": MULTIPART}),
        timeout=30,
    )
    assert r.status_code == 200, r.text
    assert r.json()["00081190"]["Value"] == [f"{front}/studies/{study}"]
    # the API answers the rest, with the same root
    found = requests.get(f"{front}/studies/{study}/instances", headers=forged(), timeout=30)
    assert found.status_code == 200
    assert found.json()[0]["00081190"]["Value"][0].startswith(f"{front}/studies/{study}/")
    about = requests.get(front + "/openapi.json", timeout=30).json()
    assert about["servers"] == [{"url": front}]


def test_a_refused_stow_is_answered_before_its_body_through_the_front(front: str) -> None:
    host, port = front.removeprefix("http://").split(":")
    head = (
        f"POST /studies HTTP/1.1\r\nHost: {host}:{port}\r\napikey: wrong\r\n"
        f"Content-Type: {MULTIPART}\r\nContent-Length: 100000000\r\n"
        "Expect: 100-continue\r\n\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(head.encode())
        got = sock.recv(65536)
    assert got.startswith(b"HTTP/1.1 401"), got[:80]


def test_connections_get_tcp_nodelay(lambda_app: ModuleType) -> None:
    """asyncio sets TCP_NODELAY only on sockets of proto IPPROTO_TCP: with a bare socket()
    every keep-alive answer written in two sends waited 40 ms (Nagle, delayed ACK)."""
    server = ThreadedAsgiServer(Receiver(lambda_app.deps))
    try:
        host, port = server.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port))) as client:
            client.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            assert client.recv(1024).startswith(b"HTTP/1.1 200")
        assert server.listening.proto == socket.IPPROTO_TCP
    finally:
        server.close()
