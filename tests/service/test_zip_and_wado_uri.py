"""application/zip retrieval (Sup 211) and WADO-URI (PS3.18 9)."""

from __future__ import annotations

import dataclasses
import io
import zipfile

import numpy as np
import pydicom
import pytest
from PIL import Image

from local.harness import in_process_stack
from tests.conftest import KEY
from tests.factories import dataset, to_bytes, uid


def store_all(stack, dss):
    for ds in dss:
        r = stack.post("/studies", data=to_bytes(ds), headers={"Content-Type": "application/dicom"})
        assert r.status_code == 200


def names(ds) -> str:
    return f"{ds.StudyInstanceUID}/{ds.SeriesInstanceUID}/{ds.SOPInstanceUID}.dcm"


def test_zip_of_a_study_and_a_series(stack):
    study, series = uid(), uid()
    dss = [
        dataset(study=study, series=series),
        dataset(study=study, series=series),
        dataset(study=study),
    ]
    store_all(stack, dss)
    r = stack.get(f"/studies/{study}", headers={"Accept": "application/zip"})
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(r.content))
    assert sorted(archive.namelist()) == sorted(names(d) for d in dss)
    assert "DICOMDIR" not in archive.namelist()
    for ds in dss:
        assert archive.read(names(ds)) == to_bytes(ds)
    r = stack.get(f"/studies/{study}/series/{series}", headers={"Accept": "application/zip"})
    assert len(zipfile.ZipFile(io.BytesIO(r.content)).namelist()) == 2
    assert stack.get(f"/studies/{uid()}", headers={"Accept": "application/zip"}).status_code == 404


def test_zip_over_the_limit_goes_through_the_large_object_path(lambda_app):
    deps = lambda_app.deps
    original = deps.settings
    deps.settings = dataclasses.replace(original, payload_limit=1024 * 1024)
    try:
        with in_process_stack(lambda_app, KEY) as stack:
            study = uid()
            dss = [dataset(study=study, rows=500, columns=500) for _ in range(3)]
            store_all(stack, dss)
            r = stack.get(
                f"/studies/{study}", headers={"Accept": "application/zip"}, allow_redirects=False
            )
            assert r.status_code == 303
            r = stack.get(f"/studies/{study}", headers={"Accept": "application/zip"})
            archive = zipfile.ZipFile(io.BytesIO(r.content))
            assert sorted(archive.namelist()) == sorted(names(d) for d in dss)
            assert archive.read(names(dss[0])) == to_bytes(dss[0])
    finally:
        deps.settings = original


@pytest.fixture
def stored(stack):
    ds = dataset(rows=40, columns=30, frames=2, WindowCenter=1000, WindowWidth=2000)
    store_all(stack, [ds])
    query = {
        "requestType": "WADO",
        "studyUID": ds.StudyInstanceUID,
        "seriesUID": ds.SeriesInstanceUID,
        "objectUID": ds.SOPInstanceUID,
    }
    return ds, query


def test_wado_uri_content_types(stack, stored):
    ds, query = stored
    r = stack.get("/wado", params=query)
    assert r.headers["Content-Type"] == "image/jpeg"
    assert Image.open(io.BytesIO(r.content)).size == (30, 40)
    r = stack.get("/wado", params={**query, "contentType": "image/png", "frameNumber": "2"})
    assert Image.open(io.BytesIO(r.content)).format == "PNG"
    r = stack.get("/wado", params={**query, "contentType": "image/gif"})
    assert Image.open(io.BytesIO(r.content)).format == "GIF"
    r = stack.get("/wado", params={**query, "contentType": "application/dicom"})
    assert r.content == to_bytes(ds)
    r = stack.get(
        "/wado",
        params={
            **query,
            "contentType": "application/dicom",
            "transferSyntax": "1.2.840.10008.1.2.5",
        },
    )
    assert (
        pydicom.dcmread(io.BytesIO(r.content)).file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.5"
    )


def test_wado_uri_window_size_and_errors(stack, stored):
    _, query = stored
    wide = np.asarray(
        Image.open(
            io.BytesIO(stack.get("/wado", params={**query, "contentType": "image/png"}).content)
        )
    )
    narrow = np.asarray(
        Image.open(
            io.BytesIO(
                stack.get(
                    "/wado",
                    params={
                        **query,
                        "contentType": "image/png",
                        "windowCenter": "10",
                        "windowWidth": "20",
                    },
                ).content
            )
        )
    )
    assert not np.array_equal(wide, narrow)
    small = Image.open(
        io.BytesIO(stack.get("/wado", params={**query, "rows": "20", "columns": "15"}).content)
    )
    assert small.size == (15, 20)
    for rows, columns in (("0", "15"), ("20", "0"), ("8193", ""), ("-1", "5"), ("2.5", "")):
        r = stack.get("/wado", params={**query, "rows": rows, "columns": columns})
        assert r.status_code == 400 and "from 1 to 8192" in r.text, (rows, columns)
    assert stack.get("/wado", params={**query, "requestType": "WADO2"}).status_code == 400
    assert stack.get("/wado", params={**query, "objectUID": "x/y"}).status_code == 400
    assert stack.get("/wado", params={**query, "frameNumber": "3"}).status_code == 404
    assert stack.get("/wado", params={**query, "contentType": "text/html"}).status_code == 406
    missing = dict(query)
    del missing["seriesUID"]
    assert stack.get("/wado", params=missing).status_code == 400
    assert stack.get("/wado", params={**query, "objectUID": uid()}).status_code == 404
