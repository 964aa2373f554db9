"""OHIF, unmodified, against the local stack in headless Chromium (``make e2e``; not in
``make test``: it needs Debian's chromium and OHIF's 50 MB build, and takes about a minute).

The stack runs as ``make serve`` runs it (its own processes, moto as a server); OHIF's published
build is served from another origin, so every DICOMweb request is a real cross-origin request
with an ``Authorization`` header. The test stores a CT series whose pixels draw a bright disc on
a dark background, opens the viewer on it (``?token=`` carries the API key), checks the disc on
a screenshot of the viewport, goes back to the study list inside the app and finds the study
there, and fails if any DICOMweb request failed. Screenshots land in ``artifacts/``.
"""

from __future__ import annotations

import io
import shutil
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pydicom
import pytest
import requests

from bench.datasets import Generator, part10
from local.spawn import Served, spawn_stack
from local.stack import ROOT
from local.viewer import CHROMIUM_ARGS

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = ROOT / "artifacts"
INSTANCES = 5
SIZE = 256

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed")


def disc_ct(gen: Generator, study: str, series: str, number: int) -> bytes:
    """A 256x256 CT slice: air (-1000 HU) with a bone-bright disc (+1000 HU) in the middle."""
    ds = pydicom.dcmread(io.BytesIO(gen.ct(study, series, number, size=SIZE)))
    yy, xx = np.mgrid[:SIZE, :SIZE]
    inside = (yy - SIZE / 2) ** 2 + (xx - SIZE / 2) ** 2 < (SIZE / 4) ** 2
    stored = np.where(inside, 1000 + 1024, -1000 + 1024).astype(np.uint16)  # HU - intercept
    ds.PixelData = stored.tobytes()
    ds.ImagePositionPatient = [0, 0, float(number)]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing = [1, 1]
    ds.SliceThickness = 1
    return part10(ds)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    served = spawn_stack(tmp_path_factory.mktemp("ohif") / "state", "ohif-key-" + "o" * 32)
    try:
        yield served
    finally:
        served.stop()


@pytest.fixture(scope="module")
def study(stack: Served) -> str:
    gen = Generator(seed=5)
    study, series = gen.uid(), gen.uid()
    headers = {"apikey": stack.key, "Content-Type": "application/dicom"}
    for n in range(1, INSTANCES + 1):
        r = requests.post(
            stack.url + "/studies", data=disc_ct(gen, study, series, n), headers=headers
        )
        assert r.status_code == 200, r.text
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # indexing is asynchronous (S3 -> SQS -> indexer)
        r = requests.get(
            stack.url + "/studies",
            params={"StudyInstanceUID": study},
            headers={"apikey": stack.key},
        )
        found = r.json() if r.status_code == 200 else []
        if found and found[0]["00201208"]["Value"] == [INSTANCES]:
            return study
        time.sleep(0.2)
    raise AssertionError("the series was not indexed in 60 s")


def test_cors_is_what_a_browser_viewer_needs(stack: Served) -> None:
    """The preflight carries no key; Authorization is allowed; what OHIF reads is exposed."""
    r = requests.options(
        stack.url + "/studies",
        headers={
            "Origin": "http://viewer.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization,accept",
        },
    )
    assert r.status_code == 200
    allowed = {h.strip().lower() for h in r.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "accept"} <= allowed
    assert r.headers["Access-Control-Allow-Origin"] in ("*", "http://viewer.example")
    got = requests.get(
        stack.url + "/studies",
        headers={"Authorization": f"Bearer {stack.key}", "Origin": "http://viewer.example"},
    )
    assert got.status_code in (200, 204)
    exposed = {h.strip().lower() for h in got.headers["Access-Control-Expose-Headers"].split(",")}
    assert {"content-type", "warning", "location"} <= exposed


def test_ohif_lists_and_displays_the_study(stack: Served, study: str) -> None:
    from playwright.sync_api import sync_playwright

    from local.viewer import serve_viewer

    server, viewer = serve_viewer(stack.url)
    dicomweb: list[tuple[int, str]] = []
    failed: list[str] = []
    aborted: list[str] = []
    console_errors: list[str] = []

    def on_response(response: Any) -> None:
        if response.url.startswith(stack.url):
            dicomweb.append((response.status, response.url))
            if response.status >= 400:
                failed.append(f"{response.status} {response.request.method} {response.url}")

    def on_failed(request: Any) -> None:
        if not request.url.startswith(stack.url):
            return
        # net::ERR_ABORTED is the page cancelling its own request (OHIF aborts the frames in
        # flight when it leaves a view; with Cache-Control: no-store none is served from the
        # browser's cache, so some are in flight). A failure the server causes is another
        # error (ERR_CONNECTION_RESET, ERR_EMPTY_RESPONSE, ...) or a status >= 400 above.
        if request.failure == "net::ERR_ABORTED":
            aborted.append(f"{request.method} {request.url}")
        else:
            failed.append(f"{request.failure} {request.method} {request.url}")

    ARTIFACTS.mkdir(exist_ok=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.on("response", on_response)
            page.on("requestfailed", on_failed)
            page.on("console", lambda m: m.type == "error" and console_errors.append(m.text))

            # 1. The viewer route, with the key as OHIF's ?token= (sent as Authorization).
            page.goto(f"{viewer}/viewer?StudyInstanceUIDs={study}&token={stack.key}")
            canvas = page.locator(".cornerstone-viewport-element canvas").first
            canvas.wait_for(state="visible", timeout=60_000)
            pixels = _wait_for_disc(page, canvas)
            page.screenshot(path=str(ARTIFACTS / "ohif-viewer.png"))

            # 2. Back to the study list inside the app (the header's return button): the token
            #    stays with the session's authentication service.
            skip = page.get_by_text("Skip all")  # OHIF's first-visit tour covers the header
            if skip.count():
                skip.first.click()
            page.locator('[data-cy="return-to-work-list"]').first.click()
            page.wait_for_url(lambda url: "/viewer" not in url, timeout=30_000)
            row = page.get_by_text(
                "Bench, Patient", exact=False
            ).first  # OHIF shows "Family, Given"
            try:
                row.wait_for(state="visible", timeout=60_000)
            finally:
                page.screenshot(path=str(ARTIFACTS / "ohif-study-list.png"))
            browser.close()
    finally:
        server.shutdown()

    assert not failed, failed
    print(f"requests the viewer cancelled itself: {len(aborted)}")
    kinds = {_kind(url) for status, url in dicomweb if status < 400}
    assert {"qido-studies", "qido-series", "metadata", "frames"} <= kinds, kinds
    centre, corner = pixels
    assert centre > 200 and corner < 40, pixels  # the disc is bright, the air dark (W400/L40)


def _wait_for_disc(page: Any, canvas: Any, timeout: float = 60.0) -> tuple[float, float]:
    """Mean brightness of the viewport's centre and of a corner of the image, once drawn."""
    from PIL import Image

    deadline = time.monotonic() + timeout
    last = (0.0, 0.0)
    while time.monotonic() < deadline:
        shot = Image.open(io.BytesIO(canvas.screenshot())).convert("L")
        a = np.asarray(shot, dtype=float)
        h, w = a.shape
        side = min(h, w)  # the square image is fitted to the viewport's shorter side
        top, left = (h - side) // 2, (w - side) // 2
        centre = a[h // 2 - 10 : h // 2 + 10, w // 2 - 10 : w // 2 + 10].mean()
        corner = a[top + side // 16 : top + side // 8, left + side // 16 : left + side // 8].mean()
        last = (round(centre, 1), round(corner, 1))
        if centre > 200 and corner < 40:
            return last
        time.sleep(0.5)
    return last


def _kind(url: str) -> str:
    path = url.split("?", 1)[0]
    if path.endswith("/metadata"):
        return "metadata"
    if "/frames/" in path:
        return "frames"
    if path.endswith("/series"):
        return "qido-series"
    if path.endswith("/studies"):
        return "qido-studies"
    return "other"
