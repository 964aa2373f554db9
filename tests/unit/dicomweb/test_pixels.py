"""Frame byte ranges from the stored bytes alone (no numpy decode)."""

from __future__ import annotations

import io

import pydicom
import pytest
from pydicom.encaps import encapsulate, encapsulate_extended, get_frame
from pydicom.uid import RLELossless

from chalicelib.dicomweb.instance import read_header
from chalicelib.dicomweb.pixels import FrameTable, frame_size, frame_table, strip_items
from tests.factories import PYDICOM_TEST_FILES, dataset, to_bytes


def table_of(data: bytes, reads: list | None = None) -> FrameTable | None:
    header = read_header(data, len(data))

    def read(offset: int, length: int) -> bytes:
        if reads is not None:
            reads.append((offset, length))
        return data[offset : offset + length]

    return frame_table(
        header.dataset, header.transfer_syntax, header.pixel_data_offset, len(data), read
    )


def test_native_frames_by_arithmetic():
    ds = dataset(rows=8, columns=8, frames=3)
    data = to_bytes(ds)
    table = table_of(data)
    assert table is not None and not table.encapsulated and table.walk_reads == 0
    assert [data[o : o + n] for o, n in table.ranges] == [
        ds.PixelData[i * 128 : (i + 1) * 128] for i in range(3)
    ]


def test_implicit_vr_little_endian():
    path = PYDICOM_TEST_FILES / "MR_small_implicit.dcm"
    data = path.read_bytes()
    table = table_of(data)
    ds = pydicom.dcmread(path)
    assert table is not None
    offset, length = table.ranges[0]
    assert data[offset : offset + length] == ds.PixelData


@pytest.mark.parametrize("kind", ["bot", "none", "eot"])
def test_encapsulated_tables(kind):
    ds = dataset(rows=8, columns=8, frames=4)
    ds.compress(RLELossless)
    fragments = [get_frame(ds.PixelData, i, number_of_frames=4) for i in range(4)]
    if kind == "none":
        ds.PixelData = encapsulate(fragments, has_bot=False)
    elif kind == "eot":
        ds.PixelData, ds.ExtendedOffsetTable, ds.ExtendedOffsetTableLengths = encapsulate_extended(
            fragments
        )
    data = to_bytes(ds)
    reads: list = []
    table = table_of(data, reads)
    assert table is not None and table.encapsulated
    assert [strip_items(data[o : o + n]) for o, n in table.ranges] == fragments
    # the walk reads every item header, and one more to see the sequence end
    assert table.walk_reads == (5 if kind == "none" else 0)


def test_single_frame_without_offset_table():
    data = (PYDICOM_TEST_FILES / "JPEG2000.dcm").read_bytes()
    table = table_of(data)
    original = pydicom.dcmread(io.BytesIO(data))
    (only,) = table.ranges
    assert strip_items(data[only[0] : only[0] + only[1]]) == get_frame(
        original.PixelData, 0, number_of_frames=1
    )


def test_pack_round_trip_and_sizes():
    table = FrameTable(((10, 20), (30, 40)), True)
    assert FrameTable.unpack(table.pack(), True) == table
    assert frame_size(dataset(rows=4, columns=5, bits=16)) == 40
    ybr = dataset(
        rows=4, columns=4, bits=8, PhotometricInterpretation="YBR_FULL_422", SamplesPerPixel=3
    )
    assert frame_size(ybr) == 32


def test_bit_packed_frames_are_not_located():
    ds = dataset(rows=8, columns=8, bits=8)
    ds.BitsAllocated = 1
    header = read_header(to_bytes(ds), len(to_bytes(ds)))
    assert frame_size(header.dataset) is None
