"""WADO-RS first cut: an instance as stored, multipart or single part."""

from __future__ import annotations

from chalicelib.dicomweb.multipart import read_multipart
from tests.conftest import OTHER_KEY
from tests.factories import PYDICOM_TEST_FILES, dataset, to_bytes


def url_of(ds) -> str:
    return (
        f"/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
        f"/instances/{ds.SOPInstanceUID}"
    )


def parts(r):
    content_type = r.headers["Content-Type"]
    assert content_type.startswith("multipart/related")
    assert 'type="application/dicom"' in content_type
    return read_multipart(r.content, content_type.split("boundary=")[1])


def test_transfer_syntax_star_returns_stored_bytes(stack):
    ds = dataset()
    data = to_bytes(ds)
    stack.post("/studies", data=data, headers={"Content-Type": "application/dicom"})
    r = stack.get(
        url_of(ds),
        headers={"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'},
    )
    assert r.status_code == 200
    (part,) = parts(r)
    assert part.content == data
    assert part.headers["content-type"] == (
        "application/dicom; transfer-syntax=1.2.840.10008.1.2.1"
    )


def test_default_syntax_for_explicit_little_endian_is_unchanged(stack):
    ds = dataset()
    data = to_bytes(ds)
    stack.post("/studies", data=data, headers={"Content-Type": "application/dicom"})
    for accept in (None, 'multipart/related; type="application/dicom"', "*/*"):
        r = stack.get(url_of(ds), headers={"Accept": accept} if accept else {})
        assert r.status_code == 200, accept
        (part,) = parts(r)
        assert part.content == data
    r = stack.get(url_of(ds), headers={"Accept": "application/dicom"})
    assert r.headers["Content-Type"].startswith("application/dicom")
    assert r.content == data


def test_compressed_instance_is_decompressed_by_default_and_kept_with_star(stack):
    import io

    import numpy as np
    import pydicom

    data = (PYDICOM_TEST_FILES / "JPEG2000.dcm").read_bytes()
    r = stack.post("/studies", data=data, headers={"Content-Type": "application/dicom"})
    url = r.json()["00081199"]["Value"][0]["00081190"]["Value"][0]
    path = "/" + url.split("/", 3)[3]
    r = stack.get(path, headers={"Accept": 'multipart/related; type="application/dicom"'})
    assert r.status_code == 200
    (part,) = parts(r)
    assert part.headers["content-type"].endswith("transfer-syntax=1.2.840.10008.1.2.1")
    converted = pydicom.dcmread(io.BytesIO(part.content))
    original = pydicom.dcmread(io.BytesIO(data))
    assert converted.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
    assert np.array_equal(converted.pixel_array, original.pixel_array)
    r = stack.get(
        path, headers={"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'}
    )
    assert r.status_code == 200
    assert parts(r)[0].content == data


def test_unknown_instance_is_404_and_other_tenant_too(stack):
    ds = dataset()
    assert stack.get(url_of(ds)).status_code == 404
    stack.post("/studies", data=to_bytes(ds), headers={"Content-Type": "application/dicom"})
    r = stack.http.get(stack.url + url_of(ds), headers={"apikey": OTHER_KEY})
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "NotFound"
