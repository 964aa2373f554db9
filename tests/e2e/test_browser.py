"""A real browser follows a large answer's redirect: headless Chromium, on a page of another
origin, fetches a series over the (lowered) payload limit with an Authorization header and
receives it whole. Skipped where Chromium is not installed (``apt-get install chromium``)."""

from __future__ import annotations

import functools
import http.server
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
import requests

from local.spawn import spawn_stack
from local.viewer import CHROMIUM_ARGS
from tests.factories import dataset, to_bytes, uid

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

PAGE = """<!doctype html><html><head><title>pending</title></head><body><script>
fetch("{url}", {{headers: {{"Authorization": "Bearer {key}",
  "Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'}}}})
  .then(r => r.arrayBuffer().then(b => {{
     document.title = "done " + r.status + " " + b.byteLength + " " + r.redirected; }}))
  .catch(e => {{ document.title = "error " + e; }});
</script></body></html>"""


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed")
def test_browser_follows_the_redirect(tmp_path: Path):
    served = spawn_stack(tmp_path / "state", "browser-key", {"PAYLOAD_LIMIT_BYTES": str(1 << 20)})
    try:
        study, series = uid(), uid()
        size = 0
        for _ in range(3):  # 3 x 720 kB: each STOW fits, the series does not
            data = to_bytes(dataset(study=study, series=series, rows=600, columns=600))
            size += len(data)
            r = requests.post(
                served.url + "/studies",
                data=data,
                headers={"apikey": served.key, "Content-Type": "application/dicom"},
            )
            assert r.status_code == 200
        url = f"{served.url}/studies/{study}/series/{series}"
        site = tmp_path / "site"
        site.mkdir()
        (site / "index.html").write_text(PAGE.format(url=url, key=served.key))
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
        page_server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=page_server.serve_forever, daemon=True).start()
        page = f"http://127.0.0.1:{page_server.server_address[1]}/index.html"
        done = subprocess.run(
            [
                CHROMIUM,
                "--headless",
                *CHROMIUM_ARGS,
                f"--user-data-dir={tmp_path / 'profile'}",
                "--virtual-time-budget=20000",
                "--dump-dom",
                page,
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        page_server.shutdown()
        title = done.stdout.split("<title>")[1].split("</title>")[0]
        status, length, redirected = title.split()[1:4]
        assert title.startswith("done"), title
        assert (status, redirected) == ("200", "true")
        assert int(length) > size
    finally:
        served.stop()
