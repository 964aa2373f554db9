"""services/wado_uri.py: WADO-URI answers through WADO-RS's instance retrieval or the render
service (S3 and DynamoDB on moto, real datasets)."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pydicom
import pytest

from chalicelib.dicomweb.rendering import RenderOptions
from chalicelib.dicomweb.wado_uri import WadoUriRequest
from chalicelib.services.answers import ObjectSlice
from chalicelib.services.render import Render
from chalicelib.services.wado import Wado
from chalicelib.services.wado_uri import WadoUri
from tests.factories import dataset, to_bytes
from tests.unit.services.retrieval import TENANT, Storage, storage

IMPLICIT = "1.2.840.10008.1.2"


@pytest.fixture
def s3() -> Iterator[Storage]:
    yield from storage()


def service(s3: Storage, max_inline: int = 1 << 20) -> WadoUri:
    return WadoUri(Wado(s3.store, s3.reads, max_inline), Render(s3.store, s3.reads))


def test_dicom_as_stored_converted_or_left_unread(s3: Storage) -> None:
    ds = dataset()
    ref = s3.put(ds)
    uids = (ref.study, ref.series, ref.sop)
    body = service(s3).retrieve(TENANT, WadoUriRequest(uids, "application/dicom"))
    assert not body.multipart and body.parts[0].content == to_bytes(ds)
    big = service(s3, 100).retrieve(TENANT, WadoUriRequest(uids, "application/dicom"))
    assert isinstance(big.parts[0].content, ObjectSlice) and big.parts[0].content.whole
    request = WadoUriRequest(uids, "application/dicom", transfer_syntax=IMPLICIT)
    converted = service(s3).retrieve(TENANT, request).parts[0].content
    assert isinstance(converted, bytes)
    assert pydicom.dcmread(io.BytesIO(converted)).file_meta.TransferSyntaxUID == IMPLICIT


def test_an_image_is_the_rendered_frame(s3: Storage) -> None:
    ref = s3.put(dataset())
    request = WadoUriRequest((ref.study, ref.series, ref.sop), "image/jpeg", render=RenderOptions())
    body = service(s3).retrieve(TENANT, request)
    assert body.media_type == "image/jpeg" and body.parts[0].content[:2] == b"\xff\xd8"  # type: ignore[index]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("frameNumber", "\u0661"),
        ("frameNumber", "1" * 10),
        ("rows", "\uff16\uff14"),
        ("columns", "\u0666\u0664"),
        ("imageQuality", "\u0669\u0660"),
    ],
)
def test_wado_uri_numbers_are_ascii_digits(name: str, value: str) -> None:
    from chalicelib.dicomweb.errors import BadRequest
    from chalicelib.dicomweb.wado_uri import parse_wado_uri

    params = {
        "requestType": "WADO",
        "studyUID": "1.2",
        "seriesUID": "1.2.3",
        "objectUID": "1.2.3.4",
        "contentType": "image/jpeg",
        name: value,
    }
    with pytest.raises(BadRequest) as raised:
        parse_wado_uri(params)
    assert raised.value.code == "InvalidParameter"
    params[name] = "64" if name in ("rows", "columns") else "1"
    assert parse_wado_uri(params).frame == 1
