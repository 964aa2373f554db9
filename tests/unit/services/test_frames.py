"""services/frames.py: frames and bulk data as one Body; native pixel bytes are left unread
(``ObjectSlice``) and Pixel Data over the payload limit is answered like any large answer
(303), no longer 413 (S3 and DynamoDB on moto, real datasets)."""

from __future__ import annotations

from collections.abc import Iterator

import pydicom
import pytest
from pydicom.encaps import get_frame
from pydicom.uid import RLELossless

from chalicelib.dicomweb.errors import BadRequest, NotAcceptable, NotFound
from chalicelib.dicomweb.media import parse_accept
from chalicelib.dicomweb.resources import InstanceRef
from chalicelib.services.answers import ObjectSlice
from chalicelib.services.frames import Frames
from chalicelib.storage.keys import bundles_prefix, instance_key
from tests.factories import dataset
from tests.unit.services.retrieval import Storage, parts_of, sent_parts, storage

ELE = "1.2.840.10008.1.2.1"
DEFAULT = parse_accept(None)
AS_STORED = parse_accept('multipart/related; type="application/octet-stream"; transfer-syntax=*')
SIZE = 8 * 8 * 2  # one 8x8 frame of 16-bit pixels


@pytest.fixture
def s3() -> Iterator[Storage]:
    yield from storage()


@pytest.fixture
def native(s3: Storage) -> tuple[pydicom.Dataset, InstanceRef]:
    ds = dataset(frames=5, rows=8, columns=8)
    return ds, s3.put(ds)


def test_native_frames_are_slices_of_the_stored_object(
    s3: Storage, native: tuple[pydicom.Dataset, InstanceRef]
) -> None:
    ds, ref = native
    body = Frames(s3.store, s3.reads).retrieve_instance_frames(ref, [4, 2], DEFAULT)
    assert s3.calls() == {"GetItem": 1}  # nothing read yet
    assert all(isinstance(p.content, ObjectSlice) for p in body.parts)
    assert [p.content.length for p in body.parts] == [SIZE, SIZE]  # type: ignore[union-attr]
    assert body.media_type == "application/octet-stream"
    assert body.spill_to == bundles_prefix(ref.tenant, ref.study, ref.series)
    sent = s3.send(body)
    assert s3.calls() == {"GetItem": 1, "GetObject": 2}  # one ranged GET per frame
    got = sent_parts(sent)
    assert [p.content for p in got] == [
        ds.PixelData[3 * SIZE : 4 * SIZE],
        ds.PixelData[SIZE : 2 * SIZE],
    ]
    assert got[0].content_type == f"application/octet-stream; transfer-syntax={ELE}"


def test_frames_over_the_limit_are_spilled(
    s3: Storage, native: tuple[pydicom.Dataset, InstanceRef]
) -> None:
    ds, ref = native
    body = Frames(s3.store, s3.reads).retrieve_instance_frames(ref, [1, 2, 3], DEFAULT)
    _, content_type, data = s3.followed(s3.send(body, limit=2 * SIZE))
    assert [p.content for p in parts_of(content_type, data)] == [
        ds.PixelData[i * SIZE : (i + 1) * SIZE] for i in range(3)
    ]


def test_frames_of_an_instance_not_indexed_are_cut_from_one_read(s3: Storage) -> None:
    ds = dataset(frames=3, rows=8, columns=8)
    ref = s3.put(ds, index=False)
    body = Frames(s3.store, s3.reads).retrieve_instance_frames(ref, [3], DEFAULT)
    assert s3.calls() == {"GetItem": 1, "GetObject": 1}
    assert body.parts[0].content == ds.PixelData[2 * SIZE :]


def test_encapsulated_frames_as_stored_and_decoded(s3: Storage) -> None:
    ds = dataset(frames=3, rows=8, columns=8)
    pixels = ds.pixel_array.copy()
    ds.compress(RLELossless, generate_instance_uid=False)
    ref = s3.put(ds)
    frames = Frames(s3.store, s3.reads)
    body = frames.retrieve_instance_frames(ref, [2], AS_STORED)
    assert body.parts[0].content == get_frame(ds.PixelData, 1, number_of_frames=3)
    assert body.parts[0].content_type.endswith(f"transfer-syntax={RLELossless}")
    (decoded,) = frames.retrieve_instance_frames(ref, [3], DEFAULT).parts
    assert decoded.content == pixels[2].astype("<u2").tobytes()
    assert decoded.content_type.endswith(f"transfer-syntax={ELE}")


def test_missing_frames_instances_and_unacceptable_types(
    s3: Storage, native: tuple[pydicom.Dataset, InstanceRef]
) -> None:
    _, ref = native
    frames = Frames(s3.store, s3.reads)
    with pytest.raises(NotFound):
        frames.retrieve_instance_frames(ref, [6], DEFAULT)
    with pytest.raises(NotFound):
        frames.retrieve_instance_frames(InstanceRef(ref.tenant, "1", "2", "3"), [1], DEFAULT)
    with pytest.raises(NotAcceptable):
        frames.retrieve_instance_frames(
            ref, [1], parse_accept('multipart/related; type="image/jp2"')
        )


def test_pixel_data_bulkdata_is_left_unread_and_redirected_over_the_limit(
    s3: Storage, native: tuple[pydicom.Dataset, InstanceRef]
) -> None:
    ds, ref = native
    body = Frames(s3.store, s3.reads).retrieve_bulkdata(ref, "7fe00010")
    (part,) = body.parts
    assert isinstance(part.content, ObjectSlice) and part.content.length == len(ds.PixelData)
    assert part.content_type == "application/octet-stream" and body.multipart
    sent = s3.send(body)
    assert sent_parts(sent)[0].content == ds.PixelData
    _, content_type, data = s3.followed(s3.send(body, limit=SIZE))  # was 413 "use frames"
    assert parts_of(content_type, data)[0].content == ds.PixelData


def test_encapsulated_pixel_data_bulkdata_is_stripped_of_item_headers(s3: Storage) -> None:
    ds = dataset(frames=2, rows=8, columns=8)
    ds.compress(RLELossless, generate_instance_uid=False)
    ref = s3.put(ds)
    (part,) = Frames(s3.store, s3.reads).retrieve_bulkdata(ref, "7FE00010").parts
    assert part.content == b"".join(get_frame(ds.PixelData, i, number_of_frames=2) for i in (0, 1))


def test_header_bulkdata_and_bad_tags(s3: Storage) -> None:
    ds = dataset()
    ds.add_new(0x00091010, "OB", b"\x01\x02\x03\x04")
    ds.add_new(0x00090010, "LO", "ACME")
    ref = s3.put(ds)
    frames = Frames(s3.store, s3.reads)
    (part,) = frames.retrieve_bulkdata(ref, "00091010").parts
    assert part.content == b"\x01\x02\x03\x04"
    assert s3.calls() == {"GetItem": 1, "GetObject": 1}  # the header only
    with pytest.raises(NotFound):
        frames.retrieve_bulkdata(ref, "00091001")
    with pytest.raises(BadRequest):
        frames.retrieve_bulkdata(ref, "7FE0001")
    s3.store.delete(instance_key(ref))
    with pytest.raises(NotFound):
        frames.retrieve_bulkdata(ref, "00091010")
