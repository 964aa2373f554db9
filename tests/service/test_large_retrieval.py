"""Retrievals over the payload limit (lowered to 1 MB): 303 to a presigned S3 URL that curl -L,
requests and dicomweb-client follow, receiving the whole answer with no parameter of ours."""

from __future__ import annotations

import dataclasses
import io
import time
from urllib.parse import parse_qs, urlparse

import pydicom
import pytest
import requests
from dicomweb_client.api import DICOMwebClient

from chalicelib.dicomweb.multipart import read_multipart
from local.harness import in_process_stack
from tests.conftest import KEY
from tests.factories import dataset, to_bytes, uid

MB = 1024 * 1024
ANY = 'multipart/related; type="application/dicom"; transfer-syntax=*'


@pytest.fixture
def limited(lambda_app):
    deps = lambda_app.deps
    original = deps.settings
    deps.settings = dataclasses.replace(original, payload_limit=1 * MB)
    try:
        with in_process_stack(lambda_app, KEY) as stack:
            yield stack
    finally:
        deps.settings = original


@pytest.fixture
def big_series(limited):
    """A series over the limit: one 11.5 MB instance (copied server-side) and two small ones."""
    study, series = uid(), uid()
    made = [dataset(study=study, series=series, rows=2400, columns=2400, InstanceNumber=1)]
    made += [
        dataset(study=study, series=series, rows=64, columns=64, InstanceNumber=n) for n in (2, 3)
    ]
    s3 = limited.deps.clients.s3
    for ds in made:  # stored through S3 (the STOW itself would be over the limit)
        s3.put_object(
            Bucket=limited.deps.settings.bucket,
            Key=f"dicom/t1/{study}/{series}/{ds.SOPInstanceUID}.dcm",
            Body=to_bytes(ds),
        )
    limited.drain()
    return study, series, made


def check_signed(location: str, base: str) -> None:
    """The redirect stays on the API's host (CloudFront's download path), names one object
    of the caller's tenant, and expires within 5 minutes."""
    assert location.startswith(base + "/_downloads/derived/t1/") or location.startswith(
        base + "/_downloads/dicom/t1/"
    )
    query = parse_qs(urlparse(location).query)
    assert 0 < int(query["Expires"][0]) - time.time() <= 300
    assert query["Signature"] and query["Key-Pair-Id"]


def recorder(session: requests.Session) -> list[requests.PreparedRequest]:
    """A small local checker: every request a client sends, to verify the one after the
    redirect (the right Host, no stale Authorization, no API key needed)."""
    seen: list[requests.PreparedRequest] = []
    session.hooks["response"].append(lambda r, *a, **k: seen.append(r.request))
    return seen


def test_series_redirects_and_arrives_whole(limited, big_series):
    study, series, made = big_series
    path = f"/studies/{study}/series/{series}"
    r = limited.get(path, headers={"Accept": ANY}, allow_redirects=False)
    assert r.status_code == 303
    check_signed(r.headers["Location"], limited.url)
    session = requests.Session()
    seen = recorder(session)
    r = session.get(limited.url + path, headers={"Accept": ANY, "Authorization": f"Bearer {KEY}"})
    assert r.status_code == 200
    parts = read_multipart(r.content, r.headers["Content-Type"].split("boundary=")[1])
    assert sorted(p.content for p in parts) == sorted(to_bytes(d) for d in made)
    after = seen[-1]
    assert "/_downloads/" in after.url
    assert after.headers.get("Host") in (None, urlparse(after.url).netloc)
    # a repeated request reuses the composed body
    assert limited.get(path, headers={"Accept": ANY}, allow_redirects=False).headers["Location"]


def test_instance_single_part_redirects_to_the_object(limited, big_series):
    study, series, made = big_series
    path = f"/studies/{study}/series/{series}/instances/{made[0].SOPInstanceUID}"
    r = limited.get(path, headers={"Accept": "application/dicom"})
    assert r.status_code == 200 and r.content == to_bytes(made[0])
    r = limited.get(path, headers={"Accept": ANY})
    parts = read_multipart(r.content, r.headers["Content-Type"].split("boundary=")[1])
    assert parts[0].content == to_bytes(made[0])


def test_wado_uri_dicom_over_the_limit_redirects(limited, big_series):
    """WADO-URI's application/dicom over the payload limit: a 303 (never Lambda's 502), both
    for the stored object and for a converted one; a small instance still comes inline."""
    study, series, made = big_series
    params = {
        "requestType": "WADO",
        "studyUID": study,
        "seriesUID": series,
        "objectUID": made[0].SOPInstanceUID,
        "contentType": "application/dicom",
    }
    r = limited.get("/wado", params=params, allow_redirects=False)
    assert r.status_code == 303
    check_signed(r.headers["Location"], limited.url)
    assert limited.get("/wado", params=params).content == to_bytes(made[0])
    implicit = {**params, "transferSyntax": "1.2.840.10008.1.2"}
    r = limited.get("/wado", params=implicit, allow_redirects=False)
    assert r.status_code == 303
    got = pydicom.dcmread(io.BytesIO(limited.get("/wado", params=implicit).content))
    assert got.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2"
    assert got.SOPInstanceUID == made[0].SOPInstanceUID
    assert got.PixelData == made[0].PixelData
    small = {**params, "objectUID": made[1].SOPInstanceUID}
    r = limited.get("/wado", params=small, allow_redirects=False)
    assert r.status_code == 200 and r.content == to_bytes(made[1])


def test_large_frame_and_metadata(limited, big_series):
    study, series, made = big_series
    path = f"/studies/{study}/series/{series}/instances/{made[0].SOPInstanceUID}/frames/1"
    r = limited.get(path, allow_redirects=False)
    assert r.status_code == 303
    r = limited.get(path)
    (part,) = read_multipart(r.content, r.headers["Content-Type"].split("boundary=")[1])
    assert part.content == made[0].PixelData
    assert part.headers["content-type"].endswith("transfer-syntax=1.2.840.10008.1.2.1")


def test_dicomweb_client_methods_follow_the_redirect(limited, big_series):
    study, series, made = big_series
    session = requests.Session()
    seen = recorder(session)
    client = DICOMwebClient(limited.url, headers={"apikey": KEY}, session=session)
    streamed = list(client.iter_series(study, series))
    assert len(streamed) == 3
    got = client.retrieve_series(study, series)
    assert sorted(d.SOPInstanceUID for d in got) == sorted(d.SOPInstanceUID for d in made)
    one = client.retrieve_instance(study, series, made[0].SOPInstanceUID)
    assert one.SOPInstanceUID == made[0].SOPInstanceUID
    (frame,) = client.retrieve_instance_frames(study, series, made[0].SOPInstanceUID, [1])
    assert frame == made[0].PixelData
    # the non-streaming calls re-send Host with the API's host name: harmless, because the
    # download path is on that very host (a SigV4 S3 URL would refuse it)
    downloads = [r for r in seen if "/_downloads/" in r.url]
    assert len(downloads) == 4
    assert all(urlparse(r.url).hostname == "127.0.0.1" for r in downloads)


def test_tampered_or_foreign_download_urls_are_refused(limited, big_series):
    study, series, _ = big_series
    r = limited.get(
        f"/studies/{study}/series/{series}", headers={"Accept": ANY}, allow_redirects=False
    )
    location = r.headers["Location"]
    assert requests.get(location).status_code == 200  # no API key needed: the URL is signed
    other_tenant = location.replace("/derived/t1/", "/derived/t2/")
    assert requests.get(other_tenant).status_code == 403
    stripped = location.split("&Expires=")[0]
    assert requests.get(stripped).status_code == 403
    # a malformed expiry is refused, not a 500; only GET and HEAD are served (issue 23)
    for bad in ("abc", "١٢٣", "9" * 40):
        expiry = location.split("&Expires=")[1].split("&")[0]
        assert (
            requests.get(location.replace(f"Expires={expiry}", f"Expires={bad}")).status_code == 403
        )
    assert requests.head(location).status_code == 200
    for method in ("PUT", "POST", "DELETE"):
        assert requests.request(method, location).status_code == 405


def test_read_after_write_of_a_large_stored_instance(limited):
    ds = dataset(rows=1000, columns=1000)
    data = to_bytes(ds)
    limited.deps.clients.s3.put_object(
        Bucket=limited.deps.settings.bucket,
        Key=f"dicom/t1/{ds.StudyInstanceUID}/{ds.SeriesInstanceUID}/{ds.SOPInstanceUID}.dcm",
        Body=data,
    )
    r = limited.get(
        f"/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}",
        headers={"Accept": "application/dicom"},
    )
    assert pydicom.dcmread(io.BytesIO(r.content)).SOPInstanceUID == ds.SOPInstanceUID


def test_study_metadata_over_the_limit(lambda_app):
    import secrets

    deps = lambda_app.deps
    original = deps.settings
    deps.settings = dataclasses.replace(original, payload_limit=100 * 1024)  # ~27 kB of binary
    try:
        with in_process_stack(lambda_app, KEY) as stack:
            study = uid()
            for _ in range(40):  # incompressible descriptions: over the limit even gzipped
                ds = dataset(study=study, rows=8, columns=8, ImageComments=secrets.token_hex(600))
                stack.post(
                    "/studies", data=to_bytes(ds), headers={"Content-Type": "application/dicom"}
                )
            stack.drain()
            path = f"/studies/{study}/metadata"
            r = stack.get(path, headers={"Accept-Encoding": "identity"}, allow_redirects=False)
            assert r.status_code == 303
            check_signed(r.headers["Location"], stack.url)
            r = stack.get(path, headers={"Accept-Encoding": "identity"})
            assert r.headers["Content-Type"] == "application/dicom+json"
            docs = r.json()
            assert len(docs) == 40
            assert docs[0]["7FE00010"]["BulkDataURI"].startswith(stack.url + "/studies/")
            client = DICOMwebClient(stack.url, headers={"apikey": KEY})
            assert len(client.retrieve_study_metadata(study)) == 40
    finally:
        deps.settings = original
