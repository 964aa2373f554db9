"""Orthanc as a sender: its DICOMweb client pushes an instance to this service over HTTP Basic,
configured as a user would (README, "Orthanc as a sender"): ``DicomWeb.Servers`` names this
service with ``Username`` any and ``Password`` the API key.

``make interop`` runs it: it installs Debian's ``orthanc`` and ``orthanc-dicomweb`` if absent
and sets ``DICOMWEB_INTEROP=1``; ``make test`` skips it. The local stack (``python -m
local.stack``, what ``make serve`` runs) and Orthanc each start on free loopback ports with
their own temporary storage, Orthanc from a generated configuration (``bench/servers.py``).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from bench.servers import dicomweb_plugin, orthanc_config
from local.spawn import Served, spawn_stack
from local.stack import free_port
from tests.factories import dataset, to_bytes

pytestmark = pytest.mark.skipif(
    os.environ.get("DICOMWEB_INTEROP") != "1",
    reason="make interop runs it (Debian's orthanc and orthanc-dicomweb)",
)

KEY = "interop-key-" + "z" * 32
SERVER = "serverless"


@dataclass
class Orthanc:
    root: str
    auth: tuple[str, str]
    version: str
    plugin_version: str


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Served]:
    served = spawn_stack(tmp_path / "stack", KEY)
    try:
        yield served
    finally:
        served.stop()


@pytest.fixture
def orthanc(stack: Served, tmp_path: Path) -> Iterator[Orthanc]:
    """Orthanc + DICOMweb with two DICOMweb servers: this service with the key as the Basic
    password, and the same with a wrong one."""
    binary = shutil.which("Orthanc") or "/usr/sbin/Orthanc"
    assert Path(binary).exists(), "Orthanc is not installed: run `make interop`"
    work = tmp_path / "orthanc"
    work.mkdir()
    port, password = free_port(), base64.b16encode(os.urandom(16)).decode()
    config = orthanc_config(work / "db", port, dicomweb_plugin(), password)
    config["DicomWeb"]["Servers"] = {
        SERVER: {"Url": stack.url + "/", "Username": "any", "Password": KEY},
        "wrong-key": {"Url": stack.url + "/", "Username": "any", "Password": "wrong"},
    }
    (work / "orthanc.json").write_text(json.dumps(config))
    log = work / "orthanc.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [binary, str(work / "orthanc.json")], stdout=out, stderr=subprocess.STDOUT
        )
    root, auth = f"http://127.0.0.1:{port}", ("bench", password)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                system = requests.get(root + "/system", auth=auth, timeout=2)
                if system.status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        plugin = requests.get(root + "/plugins/dicom-web", auth=auth, timeout=5).json()
        yield Orthanc(root, auth, system.json()["Version"], plugin.get("Version", "?"))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def find_instance(stack: Served, sop: str, timeout: float = 20.0) -> tuple[list, float]:
    """QIDO for the instance until it is found; returns the answer and how long it took."""
    started = time.monotonic()
    while True:
        r = requests.get(
            stack.url + "/instances", params={"SOPInstanceUID": sop}, auth=("any", KEY)
        )
        assert r.status_code == 200, r.text
        if r.json() or time.monotonic() - started > timeout:
            return r.json(), time.monotonic() - started
        time.sleep(0.1)


def test_orthanc_pushes_an_instance_over_basic(stack: Served, orthanc: Orthanc) -> None:
    ds = dataset(rows=16, columns=16, PatientName="Interop^Orthanc")
    uploaded = requests.post(orthanc.root + "/instances", data=to_bytes(ds), auth=orthanc.auth)
    assert uploaded.status_code == 200, uploaded.text
    orthanc_id = uploaded.json()["ID"]
    stored = requests.get(f"{orthanc.root}/instances/{orthanc_id}/file", auth=orthanc.auth)
    assert stored.status_code == 200

    # a wrong password: our 401 makes Orthanc's push fail, nothing is stored
    refused = requests.post(
        f"{orthanc.root}/dicom-web/servers/wrong-key/stow",
        json={"Resources": [orthanc_id], "Synchronous": True},
        auth=orthanc.auth,
    )
    assert refused.status_code >= 400, refused.text
    assert requests.get(stack.url + "/studies", auth=("any", KEY)).json() == []

    pushed = requests.post(
        f"{orthanc.root}/dicom-web/servers/{SERVER}/stow",
        json={"Resources": [orthanc_id], "Synchronous": True},
        auth=orthanc.auth,
    )
    assert pushed.status_code == 200, pushed.text

    # the bytes Orthanc sent, unchanged, retrievable at once (WADO reads S3)
    r = requests.get(
        f"{stack.url}/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
        f"/instances/{ds.SOPInstanceUID}",
        headers={"Accept": "application/dicom; transfer-syntax=*"},
        auth=("any", KEY),
    )
    assert r.status_code == 200 and r.content == stored.content
    found, waited = find_instance(stack, ds.SOPInstanceUID)
    assert [i["00080018"]["Value"] for i in found] == [[ds.SOPInstanceUID]]
    print(
        f"\nOrthanc {orthanc.version} (DICOMweb plugin {orthanc.plugin_version}) pushed "
        f"{len(stored.content)} bytes over Basic; QIDO found it after {waited * 1000:.0f} ms"
    )
