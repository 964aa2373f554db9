"""Caching and sniffing headers over HTTP: every answer with patient data, every error and
every 303 (its Location is a signed URL) is ``Cache-Control: no-store``, all with ``nosniff``;
only the public routes' answers may be cached, briefly (routes/respond.py, http.py)."""

from __future__ import annotations

import dataclasses

import pytest
import requests

from local.harness import in_process_stack
from tests.conftest import KEY
from tests.factories import dataset, to_bytes


def no_store(r: requests.Response) -> bool:
    """Kept from every cache, the browser's own included."""
    return (
        r.headers.get("Cache-Control") == "no-store"
        and r.headers.get("X-Content-Type-Options") == "nosniff"
    )


@pytest.fixture
def stored(stack):
    ds = dataset(rows=16, columns=16)
    r = stack.post("/studies", data=to_bytes(ds), headers={"Content-Type": "application/dicom"})
    assert r.status_code == 200, r.text
    stack.drain()
    return ds


def test_qido_and_wado_answers_are_not_stored(stack, stored):
    r = stack.get("/studies", params={"StudyInstanceUID": stored.StudyInstanceUID})
    assert r.status_code == 200 and r.json()
    assert no_store(r)
    path = (
        f"/studies/{stored.StudyInstanceUID}/series/{stored.SeriesInstanceUID}"
        f"/instances/{stored.SOPInstanceUID}"
    )
    r = stack.get(path, headers={"Accept": "application/dicom"})
    assert r.status_code == 200 and r.content
    assert no_store(r)
    r = stack.get(path + "/metadata")
    assert r.status_code == 200 and no_store(r)


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("/studies", {"limit": "abc"}, 400),  # an error that echoes input
        ("/studies/1.2.3/series/4.5.6/instances/7.8.9/metadata", {}, 404),
    ],
)
def test_client_errors_are_nosniff_and_not_stored(stack, path, params, status):
    r = stack.get(path, params=params)
    assert r.status_code == status
    assert r.headers["Content-Type"].startswith("application/json")
    assert no_store(r)


def test_a_401_is_nosniff_and_not_stored(stack):
    r = requests.get(stack.url + "/studies", headers={"apikey": "<script>"})
    assert r.status_code == 401
    assert no_store(r)


@pytest.mark.parametrize("path", ["/openapi.json", "/health"])
def test_public_routes_may_be_cached_briefly(stack, path):
    r = requests.get(stack.url + path)
    assert r.status_code == 200
    assert r.headers["Cache-Control"] == "public, max-age=300"
    assert r.headers["X-Content-Type-Options"] == "nosniff"


def test_a_303_to_a_signed_url_is_not_stored(lambda_app, stack, stored):
    deps = lambda_app.deps
    original = deps.settings
    # a response limit of about 1 KB: the 16 x 16 instance goes by 303
    deps.settings = dataclasses.replace(original, payload_limit=64 * 1024 + 1400)
    try:
        with in_process_stack(lambda_app, KEY) as small:
            path = (
                f"/studies/{stored.StudyInstanceUID}/series/{stored.SeriesInstanceUID}"
                f"/instances/{stored.SOPInstanceUID}"
            )
            r = small.get(path, headers={"Accept": "application/dicom"}, allow_redirects=False)
    finally:
        deps.settings = original
    assert r.status_code == 303 and r.headers["Location"]
    assert no_store(r)
