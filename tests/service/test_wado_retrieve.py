"""WADO-RS for viewers: negotiation and transcoding, metadata, frames and bulk data."""

from __future__ import annotations

import gzip
import io
import json
import threading

import numpy as np
import pydicom
import pytest
from pydicom.encaps import encapsulate, encapsulate_extended, get_frame
from pydicom.uid import JPEG2000Lossless, RLELossless

from chalicelib.dicomweb.multipart import read_multipart
from chalicelib.storage import keys
from tests.factories import PYDICOM_TEST_FILES, dataset, to_bytes, uid
from tests.service.helpers import deliver, s3_record

DICOM = 'multipart/related; type="application/dicom"'
ELE = "1.2.840.10008.1.2.1"


def store(stack, ds_or_bytes) -> str:
    data = ds_or_bytes if isinstance(ds_or_bytes, bytes) else to_bytes(ds_or_bytes)
    r = stack.post("/studies", data=data, headers={"Content-Type": "application/dicom"})
    assert r.status_code == 200, r.text
    return "/" + r.json()["00081199"]["Value"][0]["00081190"]["Value"][0].split("/", 3)[3]


def parts(r):
    assert r.status_code == 200, r.text
    return read_multipart(r.content, r.headers["Content-Type"].split("boundary=")[1])


def loaded(data: bytes):
    return pydicom.dcmread(io.BytesIO(data))


# --- retrieve -----------------------------------------------------------------------------


def test_study_series_instance_retrieve(stack):
    study, series = uid(), uid()
    a = dataset(study=study, series=series)
    b = dataset(study=study, series=series)
    c = dataset(study=study)
    for ds in (a, b, c):
        store(stack, ds)
    got = parts(stack.get(f"/studies/{study}", headers={"Accept": f"{DICOM}; transfer-syntax=*"}))
    assert sorted(p.content for p in got) == sorted(to_bytes(x) for x in (a, b, c))
    got = parts(stack.get(f"/studies/{study}/series/{series}"))
    assert len(got) == 2 and all(p.headers["content-type"].endswith(ELE) for p in got)
    assert stack.get(f"/studies/{uid()}").status_code == 404
    assert stack.get(f"/studies/{study}/series/{uid()}").status_code == 404
    # single part only for an instance
    assert (
        stack.get(f"/studies/{study}", headers={"Accept": "application/dicom"}).status_code == 406
    )


@pytest.mark.parametrize("target", [str(RLELossless), str(JPEG2000Lossless), "1.2.840.10008.1.2"])
def test_conversion_to_other_syntaxes(stack, target):
    ds = dataset(rows=32, columns=32)
    path = store(stack, ds)
    (part,) = parts(stack.get(path, headers={"Accept": f"{DICOM}; transfer-syntax={target}"}))
    assert part.headers["content-type"] == f"application/dicom; transfer-syntax={target}"
    out = loaded(part.content)
    assert out.file_meta.TransferSyntaxUID == target
    assert np.array_equal(out.pixel_array, ds.pixel_array)


def test_impossible_conversion_is_406(stack):
    path = store(stack, dataset())
    r = stack.get(path, headers={"Accept": f"{DICOM}; transfer-syntax=1.2.840.10008.1.2.4.50"})
    assert r.status_code == 406
    assert r.json()["error"]["code"] == "NotAcceptable"


@pytest.mark.parametrize(
    "accept",
    [
        "multipart/related; type=application/dicom; transfer-syntax=*",
        'text/html, multipart/related; type="application/dicom"; transfer-syntax="*"',
        'application/dicom;q=0.2, multipart/related;type="application/dicom";'
        "transfer-syntax=*;q=0.9",
        "*/*",
        "image/png;q=1, */*;q=0.1",
    ],
)
def test_accept_header_forms(stack, accept):
    ds = dataset()
    path = store(stack, ds)
    (part,) = parts(stack.get(path, headers={"Accept": accept}))
    assert part.content == to_bytes(ds)


# --- metadata -----------------------------------------------------------------------------


def test_metadata_levels_bulkdata_and_xml(stack):
    study, series = uid(), uid()
    dss = [dataset(study=study, series=series, InstanceNumber=n) for n in (2, 1)]
    dss[0].add_new(0x00091010, "OB", b"\x01" * 4000)  # bulk: over the 1 KiB threshold
    for ds in dss:
        store(stack, ds)
    stack.drain()
    r = stack.get(f"/studies/{study}/series/{series}/metadata")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/dicom+json")
    docs = r.json()
    assert [d["00200013"]["Value"][0] for d in docs] == [1, 2]
    assert docs[0]["00100010"]["Value"][0]["Alphabetic"] == "Test^Patient"
    pixel_uri = docs[0]["7FE00010"]["BulkDataURI"]
    assert pixel_uri.startswith(stack.url + "/studies/")
    private = docs[1]["00091010"]["BulkDataURI"]
    got = parts(stack.get(private.removeprefix(stack.url)))
    assert got[0].content == b"\x01" * 4000
    pixels = parts(stack.get(pixel_uri.removeprefix(stack.url)))[0].content
    assert pixels == dss[1].PixelData
    assert len(stack.get(f"/studies/{study}/metadata").json()) == 2
    sop = dss[0].SOPInstanceUID
    (one,) = stack.get(f"/studies/{study}/series/{series}/instances/{sop}/metadata").json()
    assert one["00080018"]["Value"] == [sop]
    r = stack.get(
        f"/studies/{study}/series/{series}/metadata",
        headers={"Accept": 'multipart/related; type="application/dicom+xml"'},
    )
    xml = parts(r)
    assert len(xml) == 2 and b"NativeDicomModel" in xml[0].content
    assert stack.get(f"/studies/{study}/series/{uid()}/metadata").status_code == 404


def test_metadata_gzip_etag_and_one_read(stack):
    study, series = uid(), uid()
    for _ in range(5):
        store(stack, dataset(study=study, series=series))
    stack.drain()
    path = f"/studies/{study}/series/{series}/metadata"
    stack.get(path)  # builds the document once
    stack.counter.reset()
    r = stack.http.get(stack.url + path, headers={"Accept-Encoding": "gzip"}, stream=True)
    raw = r.raw.read()
    assert r.headers["Content-Encoding"] == "gzip"
    assert len(json.loads(gzip.decompress(raw))) == 5
    assert stack.counter.calls("s3.GetObject") == 1  # one S3 read for the whole series
    etag = r.headers["ETag"]
    stack.counter.reset()
    r = stack.get(path, headers={"If-None-Match": etag})
    assert r.status_code == 304
    assert stack.counter.calls("s3.GetObject") == 0
    store(stack, dataset(study=study, series=series))  # the series changes: a new document
    stack.drain()
    r = stack.get(path, headers={"If-None-Match": etag})
    assert r.status_code == 200 and len(r.json()) == 6 and r.headers["ETag"] != etag


def test_metadata_lists_every_instance_indexed_in_parallel(stack, lambda_app):
    study, series = uid(), uid()
    bucket = stack.deps.settings.bucket
    keys = []
    for _ in range(30):
        ds = dataset(study=study, series=series)
        keys.append(f"dicom/t1/{study}/{series}/{ds.SOPInstanceUID}.dcm")
        stack.deps.store.put(keys[-1], to_bytes(ds), "application/dicom")
    path = f"/studies/{study}/series/{series}/metadata"
    results: list[int] = []

    def index(chunk):
        deliver(lambda_app, [s3_record(bucket, k) for k in chunk])
        results.append(len(stack.get(path).json()))  # readers rebuild while writers index

    threads = [threading.Thread(target=index, args=(keys[i::6],)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    qido = stack.get(f"/studies/{study}/series/{series}/instances").json()
    assert len(qido) == 30
    listed = {d["00080018"]["Value"][0] for d in stack.get(path).json()}
    assert listed == {d["00080018"]["Value"][0] for d in qido}


# --- frames -------------------------------------------------------------------------------


def multiframe(frames=5, rows=16, columns=16):
    return dataset(rows=rows, columns=columns, frames=frames)


def frame_parts(stack, path, numbers, accept=None):
    headers = {"Accept": accept} if accept else {}
    return parts(stack.get(f"{path}/frames/{numbers}", headers=headers))


def test_native_frames_by_byte_range(stack):
    ds = multiframe(frames=100, rows=64, columns=64)
    path = store(stack, ds)
    stack.drain()
    size = 64 * 64 * 2
    stack.counter.reset()
    (part,) = frame_parts(stack, path, "50")
    assert part.content == ds.PixelData[49 * size : 50 * size]
    assert part.headers["content-type"] == f"application/octet-stream; transfer-syntax={ELE}"
    s3 = stack.counter.snapshot()["s3.GetObject"]
    assert s3["calls"] == 1 and s3["bytes_received"] <= 1.1 * size
    got = frame_parts(stack, path, "1,3,5")
    assert [p.content for p in got] == [ds.PixelData[i * size : (i + 1) * size] for i in (0, 2, 4)]
    assert stack.get(f"{path}/frames/101").status_code == 404
    for bad in ("0", "a", "1,,2", "-1"):
        assert stack.get(f"{path}/frames/{bad}").status_code == 400


@pytest.mark.parametrize("table", ["bot", "none", "eot"])
def test_encapsulated_frames(stack, table):
    ds = multiframe(frames=4)
    native = ds.pixel_array.copy()
    ds.compress(RLELossless)
    fragments = [get_frame(ds.PixelData, i, number_of_frames=4) for i in range(4)]
    if table == "none":
        ds.PixelData = encapsulate(fragments, has_bot=False)
    elif table == "eot":
        ds.PixelData, ds.ExtendedOffsetTable, ds.ExtendedOffsetTableLengths = encapsulate_extended(
            fragments
        )
    path = store(stack, ds)
    stack.drain()
    star = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'
    got = frame_parts(stack, path, "2,4", star)
    assert [p.content for p in got] == [fragments[1], fragments[3]]
    assert got[0].headers["content-type"].endswith(f"transfer-syntax={RLELossless}")
    (decoded,) = frame_parts(stack, path, "3")  # the default: uncompressed
    assert decoded.headers["content-type"].endswith(f"transfer-syntax={ELE}")
    assert decoded.content == native[2].astype("<u2").tobytes()
    (rle,) = frame_parts(stack, path, "1", 'multipart/related; type="image/dicom-rle"')
    assert rle.content == fragments[0]


def test_jpeg2000_frames_as_image_jp2(stack):
    data = (PYDICOM_TEST_FILES / "JPEG2000.dcm").read_bytes()
    path = store(stack, data)
    stack.drain()
    original = loaded(data)
    (jp2,) = frame_parts(stack, path, "1", 'multipart/related; type="image/jp2"')
    assert jp2.headers["content-type"].startswith("image/jp2")
    assert jp2.content == get_frame(original.PixelData, 0, number_of_frames=1)
    (raw,) = frame_parts(stack, path, "1")
    assert (
        raw.content
        == original.pixel_array.astype(original.pixel_array.dtype.newbyteorder("<")).tobytes()
    )
    r = stack.get(f"{path}/frames/1", headers={"Accept": 'multipart/related; type="image/jls"'})
    assert r.status_code == 406


def test_frames_before_indexing(stack):
    ds = multiframe(frames=3)
    path = store(stack, ds)  # not drained: the catalog does not know it yet
    (part,) = frame_parts(stack, path, "2")
    assert part.content == ds.PixelData[16 * 16 * 2 : 2 * 16 * 16 * 2]


def test_metadata_follows_removals(stack):
    study, series = uid(), uid()
    dss = [dataset(study=study, series=series) for _ in range(3)]
    for ds in dss:
        store(stack, ds)
    stack.drain()
    path = f"/studies/{study}/series/{series}/metadata"
    assert len(stack.get(path).json()) == 3
    s3 = stack.deps.clients.s3
    bucket = stack.deps.settings.bucket
    key = f"dicom/t1/{study}/{series}/{dss[0].SOPInstanceUID}.dcm"
    for v in s3.list_object_versions(Bucket=bucket, Prefix=key)["Versions"]:
        s3.delete_object(Bucket=bucket, Key=key, VersionId=v["VersionId"])
    stack.drain()
    listed = {d["00080018"]["Value"][0] for d in stack.get(path).json()}
    assert listed == {ds.SOPInstanceUID for ds in dss[1:]}
    qido = stack.get(f"/studies/{study}/series/{series}/instances").json()
    assert {d["00080018"]["Value"][0] for d in qido} == listed
    # only the current version is kept: its document and its manifest of fragment ETags
    docs = s3.list_objects_v2(Bucket=bucket, Prefix=f"derived/t1/{study}/{series}/metadata/")
    names = sorted(o["Key"].rsplit("/", 1)[-1] for o in docs["Contents"])
    assert len(names) == 2 and names[0].endswith(".etags.json.gz")
    assert len({keys.series_metadata_version(name) for name in names}) == 1
