"""dicomweb/pixel_stream.py: the length rules of read_instance, applied to bytes streaming
past, agree with read_instance on whole files, cut files and encapsulated ones, whatever the
chunking."""

from __future__ import annotations

import pytest
from pydicom.encaps import encapsulate
from pydicom.uid import ImplicitVRLittleEndian, JPEGBaseline8Bit

from chalicelib.dicomweb.errors import InstanceRejected
from chalicelib.dicomweb.instance import read_header, read_instance
from chalicelib.dicomweb.pixel_stream import PixelDataCheck
from tests.factories import dataset, to_bytes


def streamed_verdict(data: bytes, chunk: int, head: bytes | None = None) -> str | None:
    """None when the streaming check accepts ``data``, else its message. The header is read
    from the first bytes of ``head`` (the file before it was cut), as the receiver does."""
    head = head or data
    check = PixelDataCheck(read_header(head, len(head) + 1))  # more follows
    try:
        for i in range(0, len(data), chunk):
            check.feed(data[i : i + chunk])
        check.finish()
    except InstanceRejected as exc:
        return exc.message
    return None


def whole_verdict(data: bytes) -> str | None:
    try:
        read_instance(data)
    except InstanceRejected as exc:
        return exc.message
    return None


def native(**kw: object) -> bytes:
    return to_bytes(dataset(rows=64, columns=64, **kw))


def implicit() -> bytes:
    ds = dataset(rows=64, columns=64)
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    return to_bytes(ds)


def encapsulated(frames: int = 3) -> bytes:
    ds = dataset(rows=8, columns=8, bits=8)
    ds.PixelData = encapsulate([bytes([i]) * 101 for i in range(frames)])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    if frames > 1:
        ds.NumberOfFrames = frames
    return to_bytes(ds)


@pytest.mark.parametrize("chunk", [1, 7, 4096, 10**7])
@pytest.mark.parametrize("make", [native, implicit, encapsulated])
def test_whole_files_pass(make, chunk: int) -> None:
    data = make()
    assert whole_verdict(data) is None
    assert streamed_verdict(data, chunk) is None


@pytest.mark.parametrize("make", [native, implicit, encapsulated])
def test_every_cut_inside_pixel_data_is_refused_as_read_instance_refuses_it(make) -> None:
    data = make()
    start = read_header(data, len(data)).pixel_data_offset
    assert start is not None
    for end in range(start + 1, len(data), max(1, (len(data) - start) // 40)):
        cut = data[:end]
        assert whole_verdict(cut) is not None, end
        assert streamed_verdict(cut, 997, head=data) is not None, end


def test_pixel_data_shorter_than_the_image_needs_is_named() -> None:
    ds = dataset(rows=64, columns=64)
    ds.PixelData = ds.PixelData[:100]
    data = to_bytes(ds)
    assert streamed_verdict(data, 512) == whole_verdict(data)
    assert "the image needs 8192" in (streamed_verdict(data, 512) or "")


def test_a_malformed_encapsulated_item_is_refused() -> None:
    data = bytearray(encapsulated())
    start = read_header(bytes(data), len(data)).pixel_data_offset
    assert start is not None
    item = start + 12  # the Basic Offset Table item's tag follows the element's header
    data[item : item + 4] = b"\x00\x00\x00\x00"
    assert streamed_verdict(bytes(data), 64) == "encapsulated Pixel Data has a malformed item"
