"""The receiver over real HTTP: uvicorn in a thread, on moto in-process (the ``lambda_app``
fixture's backend and tenants), with small bounds where a test needs them."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest

from chalicelib.routes.deps import Deps
from local.front import ThreadedAsgiServer
from receiver.app import Receiver

Start = Callable[..., str]


@pytest.fixture
def start_receiver(lambda_app: ModuleType) -> Iterator[Start]:
    """``start_receiver(**settings) -> url``: a receiver with these settings changed."""
    servers: list[ThreadedAsgiServer] = []

    def start(**settings: Any) -> str:
        changed = dataclasses.replace(lambda_app.deps.settings, **settings)
        server = ThreadedAsgiServer(Receiver(Deps(changed)))
        servers.append(server)
        return server.url

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def receiver_url(start_receiver: Start) -> str:
    return start_receiver()
