"""The OHIF viewer next to the local stack, on its own origin (so CORS is exercised for real).

The published build of ``@ohif/app`` (npm; pinned below with the registry's sha512 integrity) is
a ready static site in its ``dist/``. ``npm install`` of the package would also pull its
unpublished workspace dependencies and fails, so the tarball is fetched with ``npm pack``,
checked against the pinned integrity and unpacked under ``build/ohif/<version>/``.

This server serves that folder with the single-page-app fallback (every unknown path is
``index.html``) and answers ``/app-config.js`` with a configuration whose DICOMweb data source
is the service. OHIF 3.x sends credentials only as an ``Authorization`` header, set by its
user-authentication service or by ``?token=<api key>`` on the viewer route (``/viewer``);
the service accepts ``Authorization: Bearer <api key>``.

Usage: ``python -m local.viewer --api URL [--port 3000]`` (``make viewer`` starts the stack
too); ``ensure_ohif()`` and ``serve_viewer()`` are used by the browser test.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import shutil
import subprocess
import tarfile
import tempfile
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from local.stack import ROOT, free_port

OHIF_PACKAGE = "@ohif/app"
OHIF_VERSION = "3.13.2"
#: ``npm view @ohif/app@3.13.2 dist.integrity``
OHIF_INTEGRITY = (
    "sha512-WZdxmpmG7rqFgW9ZJLcbgr3XCtLi1KDNPoMaeY5PPe6j4G4fjEjjkycZM6C6Zk2F87BKxFfpq"
    "+jd5xXZB9E8EA=="
)
OHIF_DIR = ROOT / "build" / "ohif" / OHIF_VERSION / "dist"
#: Headless Chromium on a machine with no network beyond loopback (as root: no sandbox); without
#: the background-networking flags it keeps trying to reach Google's hosts.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def ensure_ohif(dest: Path = OHIF_DIR) -> Path:
    """The OHIF ``dist/`` folder, fetched once from the npm registry and verified."""
    if (dest / "index.html").exists():
        return dest
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [
                "npm",
                "pack",
                f"{OHIF_PACKAGE}@{OHIF_VERSION}",
                "--pack-destination",
                tmp,
                "--silent",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        (tarball,) = Path(tmp).glob("*.tgz")
        digest = base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode()
        if f"sha512-{digest}" != OHIF_INTEGRITY:
            raise RuntimeError(f"{tarball.name}: integrity mismatch (got sha512-{digest})")
        unpacked = Path(tmp) / "unpacked"
        with tarfile.open(tarball) as tar:
            tar.extractall(unpacked, filter="data")
        if dest.exists():
            shutil.rmtree(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(unpacked / "package" / "dist"), dest)
    return dest


def app_config(api_url: str) -> str:
    """OHIF's ``window.config``: one DICOMweb data source, the service at ``api_url``."""
    source = {
        "namespace": "@ohif/extension-default.dataSourcesModule.dicomweb",
        "sourceName": "dicomweb",
        "configuration": {
            "friendlyName": "Serverless DICOMweb (local stack)",
            "name": "dicomweb",
            "qidoRoot": api_url,
            "wadoRoot": api_url,
            "wadoUriRoot": api_url + "/wado",
            "qidoSupportsIncludeField": True,
            "supportsReject": False,
            "imageRendering": "wadors",
            "thumbnailRendering": "wadors",
            "enableStudyLazyLoad": True,
            "supportsFuzzyMatching": True,
            "supportsWildcard": True,
            "staticWado": False,
            "singlepart": "bulkdata,video",
            "bulkDataURI": {"enabled": True},
            "omitQuotationForMultipartRequest": True,
        },
    }
    config = {
        "routerBasename": "/",
        "extensions": [],
        "modes": [],
        "customizationService": {},
        "showStudyList": True,
        "maxNumberOfWebWorkers": 2,
        "showWarningMessageForCrossOrigin": False,
        "showCPUFallbackMessage": False,
        "showLoadingIndicator": True,
        "strictZSpacingForVolumeViewport": True,
        "defaultDataSourceName": "dicomweb",
        "investigationalUseDialog": {"option": "never"},
        "dataSources": [source],
    }
    return f"window.config = {json.dumps(config, indent=2)};\n"


class _Handler(SimpleHTTPRequestHandler):
    config_js = b""

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/app-config.js":
            self.send_response(200)
            self.send_header("Content-Type", "application/javascript")
            self.send_header("Content-Length", str(len(self.config_js)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(self.config_js)
            return
        if path != "/" and not (Path(self.directory) / path.lstrip("/")).is_file():
            self.path = "/index.html"  # the single-page app routes every other path itself
        super().do_GET()


def serve_viewer(api_url: str, port: int = 0) -> tuple[ThreadingHTTPServer, str]:
    """Serve OHIF in a background thread; returns the server and its URL."""
    dist = ensure_ohif()
    handler = type("Handler", (_Handler,), {"config_js": app_config(api_url).encode()})
    server = ThreadingHTTPServer(
        ("127.0.0.1", port or free_port()), partial(handler, directory=str(dist))
    )
    threading.Thread(target=server.serve_forever, name="ohif", daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve OHIF pointed at the service")
    parser.add_argument("--api", help="a running DICOMweb root; default: start the local stack")
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--key", help="printed into the viewer link as ?token=")
    args = parser.parse_args()
    served = None
    api, key = args.api, args.key
    if not api:  # the local stack, as make serve runs it, with its persistent state
        import os

        from local.spawn import spawn_stack
        from local.stack import demo_key

        state = Path(os.environ.get("STATE_DIR", ROOT / ".state")).resolve()
        state.mkdir(parents=True, exist_ok=True)
        served = spawn_stack(state, demo_key(state))
        api, key = served.url, served.key
        print(f"DICOMweb root: {api}  API key: {key}", flush=True)
    server, url = serve_viewer(api, args.port)
    print(f"OHIF {OHIF_VERSION}: {url}/  (DICOMweb: {api})", flush=True)
    print(
        f"open a study: {url}/viewer?StudyInstanceUIDs=<uid>&token={key or '<api key>'}\n"
        "(OHIF sends the key only once the viewer route has seen ?token=; the study list "
        "opened from there keeps it for the session)",
        flush=True,
    )
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.shutdown()
        if served:
            served.stop()


if __name__ == "__main__":
    main()
