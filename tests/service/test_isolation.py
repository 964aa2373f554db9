"""Tenant isolation, proven on every route of the app's route table (routes added later are
covered automatically): tenant B, holding A's UIDs, gets 404 or an empty answer and never a
byte of A's data; a read-only key is refused (403) on every write route."""

from __future__ import annotations

import re

import pytest
import requests

from chalicelib.storage.tenants import ALL_SCOPES
from tests.conftest import OTHER_KEY, TENANT
from tests.factories import dataset, to_bytes

MARKER = "Isolated^Secret"  # A's patient name: must never appear in B's answers


@pytest.fixture
def tenant_a(stack):
    ds = dataset(rows=16, columns=16, frames=2, PatientName=MARKER, PatientID="ISO-A")
    data = to_bytes(ds)
    r = stack.post("/studies", data=data, headers={"Content-Type": "application/dicom"})
    assert r.status_code == 200
    upload = stack.post("/uploads", json={"files": [{"name": "a.dcm"}]}).json()["upload"]
    stack.drain()
    values = {
        "study": ds.StudyInstanceUID,
        "series": ds.SeriesInstanceUID,
        "instance": ds.SOPInstanceUID,
        "frames": "1",
        "tag": "7FE00010",
        "upload": upload,
        "index": "0",
    }
    return ds, data, values


def routes(app_module):
    """Every route that carries tenant data (the public API description carries none)."""
    from chalicelib.routes.table import PUBLIC_ROUTES, served

    for (method, path), entry in sorted(served(app_module.app).items(), key=lambda r: r[0][::-1]):
        if (method, path) not in PUBLIC_ROUTES:
            yield path, method, entry


def fill(path: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)


def test_the_matrix(stack, tenant_a, lambda_app):
    ds, data, values = tenant_a
    query = {
        "/wado": {
            "requestType": "WADO",
            "studyUID": values["study"],
            "seriesUID": values["series"],
            "objectUID": values["instance"],
        }
    }
    all_routes = list(routes(lambda_app))
    # every read first: B holds A's UIDs but gets 404 or an empty answer of its own
    checked = 0
    for path, method, _ in all_routes:
        if method != "GET":
            continue
        r = requests.get(
            stack.url + fill(path, values), params=query.get(path), headers={"apikey": OTHER_KEY}
        )
        assert r.status_code in (200, 404), (path, r.status_code, r.text[:200])
        if r.status_code == 200:  # a search or listing
            assert r.json() in ([], {"rejected": [], "next": None}), (path, r.text[:200])
        assert MARKER.encode() not in r.content and data not in r.content, path
        checked += 1
    # then every write: B's STOW of A's UIDs makes B's own copy; A's upload is not B's
    b_copy = dataset(
        study=ds.StudyInstanceUID,
        series=ds.SeriesInstanceUID,
        sop=ds.SOPInstanceUID,
        rows=16,
        columns=16,
        frames=2,
        PatientName="Tenant^B",
    )
    writes = [r for r in all_routes if r[1] != "GET"]
    writes.sort(key=lambda r: r[1] != "DELETE")  # deletes before B stores its own copy
    for path, method, _ in writes:
        url = stack.url + fill(path, values)
        if method == "DELETE":  # B cannot delete A's data: it does not exist for B
            r = requests.delete(url, headers={"apikey": OTHER_KEY})
            assert r.status_code == 404, (path, r.status_code)
        elif path.startswith("/studies"):
            r = requests.post(
                url,
                data=to_bytes(b_copy),
                headers={"apikey": OTHER_KEY, "Content-Type": "application/dicom"},
            )
            assert r.status_code == 200, (path, r.status_code)
        else:
            r = requests.post(
                url,
                json={"files": [{"name": "b.dcm"}], "parts": [{"partNumber": 1, "etag": "x"}]},
                headers={"apikey": OTHER_KEY},
            )
            assert r.status_code in (201, 404), (path, r.status_code)
        assert MARKER.encode() not in r.content, path
        checked += 1
    print(f"\nisolation: {checked} route x method pairs checked with tenant B's key")
    assert checked >= 25
    stack.drain()
    # A still sees exactly its own instance, and B sees only its copy
    (study,) = stack.get("/studies", params={"StudyInstanceUID": values["study"]}).json()
    assert study["00100010"]["Value"][0]["Alphabetic"] == MARKER
    assert study["00201208"]["Value"] == [1]
    r = requests.get(
        f"{stack.url}/studies/{values['study']}/series/{values['series']}/instances/{values['instance']}",
        headers={"apikey": OTHER_KEY, "Accept": "application/dicom"},
    )
    assert r.content == to_bytes(b_copy)


def test_read_only_key_is_refused_on_every_write_route(stack, tenant_a, lambda_app):
    _, _, values = tenant_a
    _, read_key = stack.deps.tenants.create_key(TENANT, frozenset({"read"}), name="viewer")
    refused = 0
    for path, method, entry in routes(lambda_app):
        scope = entry.view_function.dicomweb_scope
        r = requests.request(
            method, stack.url + fill(path, values), headers={"apikey": read_key}, data=b"{}"
        )
        if scope == "read":
            assert r.status_code != 403, (method, path)
        else:
            assert r.status_code == 403, (method, path, r.status_code)
            assert r.json()["error"]["code"] == "Forbidden"
            refused += 1
    print(f"\nread-only key refused on {refused} write routes")
    assert refused >= 4


def test_every_scope_is_known():
    assert {"read", "write", "delete"} == ALL_SCOPES
