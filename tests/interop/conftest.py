"""The interop fixtures: this service's local stack and Orthanc + DICOMweb configured to push
to it, each on free loopback ports with their own temporary storage.

``make interop`` runs these tests: it installs Debian's ``orthanc`` and ``orthanc-dicomweb`` if
absent and sets ``DICOMWEB_INTEROP=1``; ``make test`` skips them (each module's ``pytestmark``).
The local stack is ``python -m local.stack`` (what ``make serve`` runs); Orthanc starts from a
generated configuration (``bench/servers.py``) naming this service in ``DicomWeb.Servers`` as a
user would (README, "Orthanc as a sender"): ``Username`` any, ``Password`` the API key.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bench.servers import orthanc as start_orthanc
from local.spawn import Served, spawn_stack

KEY = "interop-key-" + "z" * 32
#: Orthanc's name for this service, and for this service with a wrong password.
SERVER = "serverless"
WRONG_KEY_SERVER = "wrong-key"
#: Orthanc's HTTP client timeout (``HttpTimeout``, seconds; its default is 60): libcurl's limit
#: on a whole transfer, and a large study's STOW or retrieve is one transfer.
ORTHANC_HTTP_TIMEOUT = 300


@dataclass
class Orthanc:
    root: str
    headers: dict[str, str]  # Orthanc's own REST API: its Basic credentials
    version: str
    plugin_version: str
    log: Path


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Served]:
    """The local stack, logging at INFO: one JSON ``request`` line per request (the receiver's
    and the API's), which is how a test counts the requests a client made. Its state (a copy
    of every stored object) is removed when it stops: pytest keeps the last runs' tmp_path."""
    state = tmp_path / "stack"
    served = spawn_stack(state, KEY, {"POWERTOOLS_LOG_LEVEL": "INFO"})
    try:
        yield served
    finally:
        served.stop()
        shutil.rmtree(state, ignore_errors=True)


@pytest.fixture
def orthanc(stack: Served, tmp_path: Path) -> Iterator[Orthanc]:
    """Orthanc + DICOMweb with two DICOMweb servers: this service with the key as the Basic
    password, and the same with a wrong one. No storage limit (``MaximumStorageSize`` and
    ``MaximumPatientCount`` 0: nothing recycled midway); its files under a temporary directory
    removed when it stops; its log kept in the test's ``tmp_path``."""
    binary = shutil.which("Orthanc") or "/usr/sbin/Orthanc"
    assert Path(binary).exists(), "Orthanc is not installed: run `make interop`"
    peers = {
        SERVER: {"Url": stack.url + "/", "Username": "any", "Password": KEY},
        WRONG_KEY_SERVER: {"Url": stack.url + "/", "Username": "any", "Password": "wrong"},
    }
    extra = {
        "HttpTimeout": ORTHANC_HTTP_TIMEOUT,
        "MaximumStorageSize": 0,
        "MaximumPatientCount": 0,
    }
    log = tmp_path / "orthanc.log"
    with start_orthanc(peers, extra, log) as (server, about):
        yield Orthanc(
            server.url.removesuffix("/dicom-web"),
            server.headers,
            about["version"],
            about["dicomweb_plugin"] or "?",
            log,
        )


def logged(served: Served, message: str) -> list[dict[str, Any]]:
    """The stack's JSON log lines with this ``message`` (among the last lines it keeps)."""
    found = []
    for line in list(served.output):
        if not line.startswith("{"):
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("message") == message:
            found.append(entry)
    return found
