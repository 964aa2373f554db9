"""The servers ``make bench`` compares, each on a free loopback port with its own storage:
this service's local stack (``python -m local.stack``, on moto) and Orthanc with its DICOMweb
plugin (Debian's ``orthanc`` and ``orthanc-dicomweb`` packages), from a generated configuration
with HTTP basic auth, so both servers check a credential header on every request."""

from __future__ import annotations

import base64
import json
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

from bench.samples import Server
from local.spawn import spawn_stack
from local.stack import free_port

ORTHANC_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")


@contextmanager
def local_stack() -> Iterator[Server]:
    """This service on moto, with an API key in the ``apikey`` header."""
    state = Path(tempfile.mkdtemp(prefix="bench-stack-"))
    served = spawn_stack(state / "state", "bench-key-" + secrets.token_hex(16))
    try:
        yield Server("ours", served.url, {"apikey": served.key})
    finally:
        served.stop()
        shutil.rmtree(state, ignore_errors=True)


def dicomweb_plugin() -> Path:
    """The DICOMweb plugin's shared library, as the Debian package installed it."""
    try:
        listed = subprocess.run(
            ["dpkg", "-L", "orthanc-dicomweb"], capture_output=True, text=True, check=True
        ).stdout.split()
        found = [Path(p) for p in listed if p.endswith("/libOrthancDicomWeb.so")]
        if found:
            return found[0]
    except (OSError, subprocess.CalledProcessError):
        pass
    return ORTHANC_PLUGIN


def orthanc_config(storage: Path, http_port: int, plugin: Path, password: str) -> dict[str, Any]:
    """Orthanc's configuration: loopback only, basic auth, no DICOM (C-STORE) listener, the
    DICOMweb plugin at /dicom-web/, HTTP compression off. Everything else is Orthanc's default
    (SQLite index, files on disk, metadata mode "Full").

    Compression is off because Orthanc's default gzips every answer to a client that sends
    ``Accept-Encoding: gzip`` (requests, browsers), pixel data included: a 0.5 MB instance took
    70 ms instead of 6 ms on loopback. Off is Orthanc's faster setting here."""
    return {
        "Name": "bench",
        "StorageDirectory": str(storage),
        "IndexDirectory": str(storage),
        "HttpPort": http_port,
        "DicomServerEnabled": False,
        "DicomPort": free_port(),
        "RemoteAccessAllowed": False,
        "HttpCompressionEnabled": False,
        "AuthenticationEnabled": True,
        "RegisteredUsers": {"bench": password},
        "Plugins": [str(plugin)],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
    }


@contextmanager
def orthanc(
    dicomweb_servers: dict[str, Any] | None = None,
    extra_config: dict[str, Any] | None = None,
    log: Path | None = None,
) -> Iterator[tuple[Server, dict[str, Any]]]:
    """Orthanc + DICOMweb on a free loopback port; yields the server and its versions.
    ``dicomweb_servers``: Orthanc's ``DicomWeb.Servers`` (the peers it can push to).
    ``extra_config``: more top-level options (``HttpTimeout``, ``MaximumStorageSize``...), set
    over the generated ones; a ``DicomWeb`` entry is merged into the plugin's section.
    ``log``: where Orthanc's output goes (kept after it stops); by default a file in its
    temporary directory, removed with it."""
    binary = shutil.which("Orthanc") or "/usr/sbin/Orthanc"
    work = Path(tempfile.mkdtemp(prefix="bench-orthanc-"))
    port, password = free_port(), secrets.token_hex(16)
    config = work / "orthanc.json"
    settings = orthanc_config(work / "db", port, dicomweb_plugin(), password)
    if dicomweb_servers:
        settings["DicomWeb"]["Servers"] = dicomweb_servers
    for name, value in (extra_config or {}).items():
        if name == "DicomWeb":
            settings["DicomWeb"].update(value)
        else:
            settings[name] = value
    config.write_text(json.dumps(settings))
    token = base64.b64encode(f"bench:{password}".encode()).decode()
    headers = {"Authorization": f"Basic {token}"}
    root = f"http://127.0.0.1:{port}"
    log = log or work / "orthanc.log"
    with log.open("w") as out:
        proc = subprocess.Popen([binary, str(config)], stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                system = requests.get(root + "/system", headers=headers, timeout=2)
                if system.status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("Orthanc did not start:\n" + log.read_text())
            time.sleep(0.2)
        plugin = requests.get(root + "/plugins/dicom-web", headers=headers, timeout=5).json()
        about = {"version": system.json()["Version"], "dicomweb_plugin": plugin.get("Version")}
        yield Server("Orthanc", root + "/dicom-web", headers), about
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(work, ignore_errors=True)
