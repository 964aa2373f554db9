"""Large STOW: 413 over the payload limit, then presigned uploads (single PUT and S3
multipart), indexed by the S3-event path and reported like a STOW. The payload limit is lowered
to 1 MB so every large path runs with small files."""

from __future__ import annotations

import dataclasses
import datetime as dt
import xml.etree.ElementTree as ET
from urllib.parse import parse_qs, urlparse

import botocore.auth
import pytest
import requests

from local.harness import in_process_stack
from tests.conftest import KEY, OTHER_KEY
from tests.factories import dataset, to_bytes

MB = 1024 * 1024


@pytest.fixture
def limited(lambda_app):
    deps = lambda_app.deps
    original = deps.settings
    deps.settings = dataclasses.replace(
        original, payload_limit=1 * MB, multipart_threshold=2 * MB, upload_part_size=5 * MB
    )
    try:
        with in_process_stack(lambda_app, KEY) as stack:
            yield stack
    finally:
        deps.settings = original


def big_instance(rows: int):
    ds = dataset(rows=rows, columns=rows)
    return ds, to_bytes(ds)


def test_stow_over_the_limit_points_to_uploads(limited, lambda_app):
    _, data = big_instance(700)  # 980 kB: under 1 MB, over it once base64-encoded
    with in_process_stack(lambda_app, KEY, receiver=False) as api_only:
        r = api_only.post("/studies", data=data, headers={"Content-Type": "application/dicom"})
    assert r.status_code == 413
    assert "/uploads" in r.json()["error"]["message"]
    # through the receiver, the same request is stored
    r = limited.post("/studies", data=data, headers={"Content-Type": "application/dicom"})
    assert r.status_code == 200, r.text


def test_presigned_put_is_indexed_and_reported(limited):
    ds, data = big_instance(600)
    r = limited.post(
        "/uploads", json={"files": [{"name": "scanner 1/big one.dcm", "size": len(data)}]}
    )
    assert r.status_code == 201, r.text
    body = r.json()
    (spec,) = body["files"]
    url = urlparse(spec["url"])
    query = parse_qs(url.query)
    assert "/import/t1/uploads/" in url.path and url.path.endswith("big_one.dcm")
    assert int(query["X-Amz-Expires"][0]) <= 300
    assert "X-Amz-Signature" in query and "X-Amz-Credential" in query
    status = limited.get(body["status"].removeprefix(limited.url))
    assert status.status_code == 202 and status.json()["pending"] == 1
    put = requests.put(spec["url"], data=data, headers=spec["headers"])
    assert put.status_code == 200
    limited.drain()
    status = limited.get(body["status"].removeprefix(limited.url))
    assert status.status_code == 200
    report = status.json()
    assert (report["stored"], report["failed"], report["pending"]) == (1, 0, 0)
    item = report["response"]["00081199"]["Value"][0]
    assert item["00081155"]["Value"] == [ds.SOPInstanceUID]
    assert limited.get("/studies", params={"StudyInstanceUID": ds.StudyInstanceUID}).json()
    # the other tenant sees nothing of it
    other = requests.get(body["status"], headers={"apikey": OTHER_KEY})
    assert other.status_code == 404


def test_a_file_of_another_size_than_declared_is_refused_at_import(limited):
    """A presigned PUT cannot bind the size the upload declared, so the import checks it: a
    different file through the URL is rejected (0xC000, with the sizes), never indexed, and a
    PUT of the declared file through the same URL afterwards is (issue 23)."""
    _, declared = big_instance(64)
    other_ds, other = big_instance(80)
    r = limited.post("/uploads", json={"files": [{"name": "a.dcm", "size": len(declared)}]})
    body = r.json()
    (spec,) = body["files"]
    assert requests.put(spec["url"], data=other, headers=spec["headers"]).status_code == 200
    limited.drain()
    report = limited.get(body["status"].removeprefix(limited.url)).json()
    assert (report["stored"], report["failed"], report["pending"]) == (0, 1, 0)
    assert report["response"]["00081198"]["Value"][0]["00081197"]["Value"] == [0xC000]
    found = limited.get("/studies", params={"StudyInstanceUID": other_ds.StudyInstanceUID})
    assert found.json() == []
    assert requests.put(spec["url"], data=declared, headers=spec["headers"]).status_code == 200
    limited.drain()
    report = limited.get(body["status"].removeprefix(limited.url)).json()
    assert (report["stored"], report["failed"], report["pending"]) == (1, 0, 0)


def test_multipart_upload(limited):
    ds, data = big_instance(2600)  # 13.5 MB: 3 parts of 5 MB
    r = limited.post("/uploads", json={"files": [{"name": "huge.dcm", "size": len(data)}]})
    (spec,) = r.json()["files"]
    parts = spec["multipart"]["parts"]
    size = spec["multipart"]["partSize"]
    assert len(parts) == 3
    etags = []
    for p in parts:
        chunk = data[(p["partNumber"] - 1) * size : p["partNumber"] * size]
        put = requests.put(p["url"], data=chunk)
        assert put.status_code == 200
        etags.append({"partNumber": p["partNumber"], "etag": put.headers["ETag"]})
    done = limited.post(
        spec["multipart"]["complete"].removeprefix(limited.url), json={"parts": etags}
    )
    assert done.status_code == 200, done.text
    limited.drain()
    report = limited.get(f"/uploads/{r.json()['upload']}").json()
    assert report["stored"] == 1
    stored = limited.deps.store.get(
        f"dicom/t1/{ds.StudyInstanceUID}/{ds.SeriesInstanceUID}/{ds.SOPInstanceUID}.dcm"
    )
    assert stored == data


def test_bad_uploads(limited):
    r = limited.post("/uploads", json={"files": [{"name": "notes.txt"}]})
    spec = r.json()["files"][0]
    requests.put(spec["url"], data=b"not dicom", headers=spec["headers"])
    limited.drain()
    report = limited.get(f"/uploads/{r.json()['upload']}").json()
    assert report["failed"] == 1
    assert report["response"]["00081198"]["Value"][0]["00081197"]["Value"] == [0xC000]
    for body in (
        {},
        {"files": []},
        {"files": [{"name": 3}]},
        {"files": [{"name": "a", "size": -1}]},
    ):
        assert limited.post("/uploads", json=body).status_code == 400
    assert (
        limited.post(
            "/uploads", data=b"{not json", headers={"Content-Type": "application/json"}
        ).status_code
        == 400
    )
    assert limited.get("/uploads/" + "0" * 24).status_code == 404
    assert limited.get("/uploads/../../x").status_code in (400, 404)


def test_parts_s3_refuses_are_a_400_not_a_500(limited):
    """Found by the schemathesis run: S3's InvalidPart (an ETag or part number that is not the
    upload's) and an ETag that is not printable ASCII (S3's XML cannot carry it) were 500s."""
    r = limited.post("/uploads", json={"files": [{"name": "a.dcm", "size": 3 * MB}]})
    complete = r.json()["files"][0]["multipart"]["complete"].removeprefix(limited.url)
    for parts in (
        [{"partNumber": 1, "etag": '"0123456789abcdef"'}],
        [{"partNumber": 281, "etag": "x"}],
        [{"partNumber": 1, "etag": "\x15\u0095"}],
        [{"partNumber": 0, "etag": "x"}],
        [{"partNumber": 10_001, "etag": "x"}],
    ):
        got = limited.post(complete, json={"parts": parts})
        assert got.status_code == 400, (parts, got.text)
        assert got.json()["error"]["code"] == "InvalidUpload"


def test_a_boolean_size_is_refused(limited):
    """JSON's true is not a number of bytes (Python's bool is an int)."""
    r = limited.post("/uploads", json={"files": [{"name": "a.dcm", "size": True}]})
    assert r.status_code == 400
    r = limited.post("/uploads", json={"files": [{"name": "a", "size": None}]})
    assert r.status_code == 201  # null: the size is not known (one PUT)


# --- the presigned URLs themselves: the local S3 gate refuses what S3 refuses (issue 23) -----


def s3_refusal(r: requests.Response) -> tuple[int, str]:
    """S3's status and error code from its XML error body."""
    return r.status_code, ET.fromstring(r.content).findtext("Code") or ""


def written(stack) -> list[str]:
    """Every object version (and delete marker) under import/ and dicom/, of any tenant."""
    return [
        k for prefix in ("import/", "dicom/") for k, _ in stack.deps.store.list_versions(prefix)
    ]


def test_presigned_urls_name_the_s3_gate_and_sdk_calls_go_to_moto(limited):
    r = limited.post("/uploads", json={"files": [{"name": "a.dcm", "size": 10}]})
    url = urlparse(r.json()["files"][0]["url"])
    gate = urlparse(limited.deps.settings.s3_presign_endpoint)
    assert (url.scheme, url.netloc) == (gate.scheme, gate.netloc)
    assert url.netloc != urlparse(limited.url).netloc
    # API calls keep S3's endpoint (mock_aws): the gate would refuse them (presigned only)
    assert urlparse(limited.deps.clients.s3.meta.endpoint_url).netloc.endswith("amazonaws.com")
    limited.deps.store.put("import/t1/sdk.dcm", b"DICM", "application/dicom")
    assert limited.deps.store.get("import/t1/sdk.dcm") == b"DICM"


def test_a_presigned_put_names_only_its_key_its_method_and_its_signature(limited):
    """A URL whose key was changed (another file, another tenant's prefix), whose signature
    was changed, that was stripped of its signature, or used with another method, is refused
    with S3's status and code; nothing reaches the bucket, and the file stays pending. The
    URL as given then stores."""
    _, data = big_instance(64)
    r = limited.post("/uploads", json={"files": [{"name": "a.dcm", "size": len(data)}]})
    body = r.json()
    (spec,) = body["files"]
    url, headers = spec["url"], spec["headers"]
    path = urlparse(url).path
    assert "/import/t1/" in path
    flipped = url[:-1] + ("0" if url[-1] != "0" else "1")
    attempts = [
        ("PUT", url.replace("a.dcm", "b.dcm"), (403, "SignatureDoesNotMatch")),
        ("PUT", url.replace("/import/t1/", "/import/t2/"), (403, "SignatureDoesNotMatch")),
        ("PUT", url.replace("/import/t1/", "/dicom/t1/"), (403, "SignatureDoesNotMatch")),
        ("PUT", flipped, (403, "SignatureDoesNotMatch")),
        ("PUT", url.split("?", 1)[0], (403, "AccessDenied")),
        (
            "PUT",
            url.replace("X-Amz-Expires=300", "X-Amz-Expires=604800"),
            (403, "SignatureDoesNotMatch"),
        ),
        ("POST", url, (403, "SignatureDoesNotMatch")),
        ("DELETE", url, (403, "SignatureDoesNotMatch")),
        ("GET", url, (403, "SignatureDoesNotMatch")),
    ]
    for method, attempt, expected in attempts:
        got = requests.request(method, attempt, data=data, headers=headers)
        assert s3_refusal(got) == expected, (method, attempt)
    # headers the URL did not sign: another Content-Type, an x-amz- header
    other_type = {"Content-Type": "text/html"}
    assert s3_refusal(requests.put(url, data=data, headers=other_type)) == (
        403,
        "SignatureDoesNotMatch",
    )
    with_acl = {**headers, "x-amz-acl": "public-read"}
    assert s3_refusal(requests.put(url, data=data, headers=with_acl)) == (403, "AccessDenied")
    limited.drain()
    assert written(limited) == []
    report = limited.get(body["status"].removeprefix(limited.url)).json()
    assert (report["stored"], report["failed"], report["pending"]) == (0, 0, 1)
    assert requests.put(url, data=data, headers=headers).status_code == 200
    limited.drain()
    report = limited.get(body["status"].removeprefix(limited.url)).json()
    assert (report["stored"], report["failed"], report["pending"]) == (1, 0, 0)


def test_a_part_url_names_only_its_part_of_its_upload(limited):
    r = limited.post("/uploads", json={"files": [{"name": "big.dcm", "size": 3 * MB}]})
    (spec,) = r.json()["files"]
    (part,) = spec["multipart"]["parts"]
    url = part["url"]
    upload_id = parse_qs(urlparse(url).query)["uploadId"][0]
    other = limited.post("/uploads", json={"files": [{"name": "b.dcm", "size": 3 * MB}]})
    other_id = parse_qs(urlparse(other.json()["files"][0]["multipart"]["parts"][0]["url"]).query)
    for attempt in (
        url.replace("partNumber=1", "partNumber=2"),
        url.replace(upload_id, other_id["uploadId"][0]),
    ):
        assert s3_refusal(requests.put(attempt, data=b"x" * 1024)) == (403, "SignatureDoesNotMatch")
    assert requests.put(url, data=b"x" * 1024).status_code == 200


def test_an_expired_presigned_url_is_refused(limited, monkeypatch):
    """URLs signed ten minutes ago (botocore's clock, read as it signs) have expired: their
    5 minutes are over. Nothing is written."""
    then = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: then)
    _, data = big_instance(64)
    r = limited.post("/uploads", json={"files": [{"name": "a.dcm", "size": len(data)}]})
    monkeypatch.undo()
    (spec,) = r.json()["files"]
    got = requests.put(spec["url"], data=data, headers=spec["headers"])
    assert s3_refusal(got) == (403, "AccessDenied")
    assert ET.fromstring(got.content).findtext("Message") == "Request has expired"
    limited.drain()
    assert written(limited) == []
