"""Reading and validating Part 10 instances (chalicelib.dicomweb.instance).

Real files come from pydicom's own test data folder (no downloads); small ones are built with
``tests.factories``.
"""

from __future__ import annotations

import struct

import pydicom
import pytest
from pydicom.encaps import encapsulate
from pydicom.uid import JPEG2000Lossless

from chalicelib.dicomweb.errors import FailureReason, InstanceRejected
from chalicelib.dicomweb.instance import (
    InstanceHeader,
    NeedMoreBytes,
    expected_native_pixel_bytes,
    read_header,
    read_instance,
)
from tests.factories import PYDICOM_TEST_FILES, dataset, instance_bytes, to_bytes

# pydicom warns about the damaged files these tests feed it
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

ELE = "1.2.840.10008.1.2.1"
PIXEL_TAG_LE = b"\xe0\x7f\x10\x00"
PIXEL_TAG_BE = b"\x7f\xe0\x00\x10"


def real(name: str) -> bytes:
    return (PYDICOM_TEST_FILES / name).read_bytes()


def rejected(data: bytes) -> InstanceRejected:
    with pytest.raises(InstanceRejected) as info:
        read_instance(data)
    assert info.value.reason == FailureReason.CANNOT_UNDERSTAND
    return info.value


def header_rejected(buf: bytes, total: int) -> InstanceRejected:
    with pytest.raises(InstanceRejected) as info:
        read_header(buf, total)
    assert info.value.reason == FailureReason.CANNOT_UNDERSTAND
    return info.value


def pixel_offset(data: bytes) -> int:
    offset = read_header(data, len(data)).pixel_data_offset
    assert offset is not None
    return offset


def encapsulated_bytes(fragments: list[bytes]) -> bytes:
    ds = dataset(bits=8)
    ds.PixelData = encapsulate(fragments)
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    ds.file_meta.TransferSyntaxUID = JPEG2000Lossless
    return to_bytes(ds)


# --- valid files ----------------------------------------------------------------------------------


def test_valid_factory_instance():
    ds = dataset()
    header = read_instance(to_bytes(ds))
    assert isinstance(header, InstanceHeader)
    assert (header.study, header.series, header.sop, header.sop_class) == (
        ds.StudyInstanceUID,
        ds.SeriesInstanceUID,
        ds.SOPInstanceUID,
        ds.SOPClassUID,
    )
    assert header.transfer_syntax == ELE
    assert header.pixel_data_offset is None
    assert header.dataset.PixelData == ds.PixelData
    assert header.dataset.PatientName == "Test^Patient"


@pytest.mark.parametrize(
    "name",
    [
        "CT_small.dcm",
        "MR_small.dcm",
        "MR_small_implicit.dcm",
        "MR_small_bigendian.dcm",
        "MR_small_padded.dcm",
        "SC_rgb_small_odd.dcm",  # 27 bytes of pixels, padded to 28
        "SC_ybr_full_422_uncompressed.dcm",
        "rtdose.dcm",  # multi-frame, 32 bits
        "rtplan.dcm",  # no pixel data at all
        "JPEG2000.dcm",
        "MR_small_RLE.dcm",
        "SC_rgb_jpeg_dcmtk.dcm",
        "SC_rgb_rle_2frame.dcm",
    ],
)
def test_valid_real_files(name):
    data = real(name)
    header = read_instance(data)
    ds = pydicom.dcmread(PYDICOM_TEST_FILES / name)
    assert header.study == ds.StudyInstanceUID
    assert header.series == ds.SeriesInstanceUID
    assert header.sop == ds.SOPInstanceUID
    assert header.sop_class == ds.SOPClassUID
    assert header.transfer_syntax == ds.file_meta.TransferSyntaxUID
    assert header.pixel_data_offset is None


def test_valid_multi_frame_instance():
    ds = dataset(frames=5)
    header = read_instance(to_bytes(ds))
    assert int(header.dataset.NumberOfFrames) == 5
    assert len(header.dataset.PixelData) == 5 * 16 * 16 * 2


def test_trailing_nul_padding_of_a_uid_is_stripped():
    ds = dataset(sop="1.2.3\x00")
    assert read_instance(to_bytes(ds)).sop == "1.2.3"


@pytest.mark.parametrize("name", [None, "CT_small.dcm", "JPEG2000.dcm", "MR_small_implicit.dcm"])
def test_trailing_pad_byte_after_pixel_data_accepted(name):
    data = instance_bytes() if name is None else real(name)
    expected = read_instance(data)
    header = read_instance(data + b"\x00")
    assert (header.study, header.series, header.sop) == (
        expected.study,
        expected.series,
        expected.sop,
    )


def test_pixel_data_longer_than_needed_accepted():
    ds = dataset()
    ds.PixelData = ds.PixelData + b"\x00" * 64
    read_instance(to_bytes(ds))


def test_valid_encapsulated_instance():
    header = read_instance(encapsulated_bytes([b"\x01" * 100, b"\x02" * 30]))
    assert header.transfer_syntax == JPEG2000Lossless


# --- truncated files ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small.dcm", "liver_1frame.dcm"])
def test_native_file_cut_3000_bytes_short_rejected(name):
    data = real(name)
    err = rejected(data[:-3000])
    assert "truncated" in err.message


@pytest.mark.parametrize("cut", [1, 2, 100, 3000])
def test_multi_frame_file_cut_short_rejected(cut):
    data = instance_bytes(frames=8)  # 4096 bytes of pixel data
    rejected(data[:-cut])


@pytest.mark.parametrize("name", ["MR_truncated.dcm", "rtplan_truncated.dcm"])
def test_pydicoms_truncated_files_rejected(name):
    err = rejected(real(name))
    assert "truncated" in err.message


def test_file_cut_inside_header_values_rejected():
    data = instance_bytes()
    for marker in (b"Test^Patient", b"20250102", b"PID-1", b"ACC-1"):
        cut = data.index(marker, 132) + 3
        err = rejected(data[:cut])
        assert "truncated" in err.message


@pytest.mark.parametrize("cut", [150, 200, 300, 500, 1000, 1500, 2000, 6000])
def test_real_file_cut_inside_header_rejected(cut):
    rejected(real("CT_small.dcm")[:cut])


@pytest.mark.parametrize("cut", [8, 10, 100, 250, 1000])
@pytest.mark.parametrize(
    "name",
    [
        "JPEG2000.dcm",
        "MR_small_RLE.dcm",
        "MR_small_jp2klossless.dcm",
        "SC_rgb_jpeg_dcmtk.dcm",
        "SC_rgb_rle_2frame.dcm",
    ],
)
def test_encapsulated_file_cut_short_rejected(name, cut):
    data = real(name)
    assert pydicom.uid.UID(
        pydicom.dcmread(PYDICOM_TEST_FILES / name).file_meta["TransferSyntaxUID"].value
    ).is_encapsulated
    rejected(data[:-cut])


@pytest.mark.parametrize("cut", [1, 2, 3, 4])
def test_encapsulated_file_missing_its_last_bytes_rejected(cut):
    rejected(real("JPEG2000.dcm")[:-cut])


@pytest.mark.parametrize("extra", [0, 4])
@pytest.mark.parametrize("name", [None, "CT_small.dcm", "JPEG2000.dcm"])
def test_file_cut_at_the_pixel_data_element_rejected(name, extra):
    data = instance_bytes() if name is None else real(name)
    rejected(data[: pixel_offset(data) + extra])


@pytest.mark.parametrize("extra", [4, 6, 7])
def test_file_cut_inside_an_element_header_rejected(extra):
    data = instance_bytes()
    rows = data.index(b"\x28\x00\x10\x00US")  # (0028,0010) Rows, explicit VR little endian
    rejected(data[: rows + extra])


def test_real_file_cut_at_an_element_boundary_rejected():
    rejected(real("CT_small.dcm")[:3000])


@pytest.mark.parametrize("name", [None, "CT_small.dcm"])
def test_file_cut_inside_pixel_data_length_rejected(name):
    data = instance_bytes() if name is None else real(name)
    rejected(data[: pixel_offset(data) + 10])


# --- pixel data shorter than the image needs ------------------------------------------------------


def test_native_pixel_data_shorter_than_dimensions_rejected():
    ds = dataset()
    ds.PixelData = ds.PixelData[:100]
    err = rejected(to_bytes(ds))
    assert err.message == "Pixel Data holds 100 bytes, the image needs 512"


def test_multi_frame_pixel_data_missing_a_frame_rejected():
    ds = dataset(frames=4, bits=8)
    ds.PixelData = ds.PixelData[: 3 * 16 * 16]
    err = rejected(to_bytes(ds))
    assert "needs 1024" in err.message


def test_empty_pixel_data_rejected():
    ds = dataset()
    ds.PixelData = b""
    rejected(to_bytes(ds))


def test_ybr_full_422_pixel_data_size():
    ds = dataset(
        bits=8, SamplesPerPixel=3, PhotometricInterpretation="YBR_FULL_422", PlanarConfiguration=0
    )
    ds.PixelData = bytes(16 * 16 * 2)  # 4:2:2: two bytes a pixel
    read_instance(to_bytes(ds))
    ds.PixelData = bytes(16 * 16 * 2 - 2)
    rejected(to_bytes(ds))


# --- encapsulated items ---------------------------------------------------------------------------


def test_encapsulated_item_running_past_the_value_rejected():
    data = bytearray(encapsulated_bytes([b"\x01" * 100]))
    item = data.index(struct.pack("<HHL", 0xFFFE, 0xE000, 100))
    data[item + 4 : item + 8] = struct.pack("<L", 200)
    err = rejected(bytes(data))
    assert "truncated" in err.message


def test_encapsulated_malformed_item_rejected():
    data = bytearray(encapsulated_bytes([b"\x01" * 100]))
    item = data.index(struct.pack("<HHL", 0xFFFE, 0xE000, 100))
    data[item : item + 4] = struct.pack("<HH", 0x1234, 0x5678)
    err = rejected(bytes(data))
    assert "malformed item" in err.message


# --- missing or invalid attributes ----------------------------------------------------------------


@pytest.mark.parametrize(
    "keyword", ["SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID", "SOPClassUID"]
)
def test_missing_uid_rejected(keyword):
    ds = dataset()
    delattr(ds, keyword)
    err = rejected(to_bytes(ds))
    assert err.message == f"{keyword} is missing"


def test_empty_sop_instance_uid_rejected():
    ds = dataset()
    ds.SOPInstanceUID = ""
    assert rejected(to_bytes(ds)).message == "SOPInstanceUID is missing"


@pytest.mark.parametrize("value", ["1.2.abc", "1..2", "1." + "2" * 70, "../1.2"])
def test_invalid_uid_rejected(value):
    ds = dataset()
    ds.StudyInstanceUID = value
    assert rejected(to_bytes(ds)).message == "StudyInstanceUID is not a valid UID"


def test_missing_transfer_syntax_rejected():
    err = rejected(real("meta_missing_tsyntax.dcm"))
    assert "TransferSyntaxUID" in err.message


# --- not DICOM ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello",
        b"not dicom at all " * 100,
        b"\x00" * 132,
        b"\x00" * 128 + b"DICX" + b"\x00" * 200,
        b"%PDF-1.7\n" + b"\x00" * 1000,
    ],
)
def test_not_dicom_rejected(data):
    err = rejected(data)
    assert "not a DICOM Part 10 file" in err.message


def test_no_preamble_rejected():
    data = instance_bytes()
    assert data[128:132] == b"DICM"
    rejected(data[128:])
    rejected(data[132:])


@pytest.mark.parametrize("name", ["no_meta.dcm", "ExplVR_LitEndNoMeta.dcm", "rtstruct.dcm"])
def test_files_without_preamble_and_meta_rejected(name):
    rejected(real(name))


# --- read_header ----------------------------------------------------------------------------------


def test_read_header_on_the_first_64k_of_a_larger_file():
    data = real("examples_overlay.dcm")
    assert len(data) > 65536
    header = read_header(data[:65536], len(data))
    full = read_instance(data)
    assert (header.study, header.series, header.sop, header.sop_class) == (
        full.study,
        full.series,
        full.sop,
        full.sop_class,
    )
    assert header.transfer_syntax == ELE
    offset = header.pixel_data_offset
    assert offset is not None
    assert data[offset : offset + 4] == PIXEL_TAG_LE
    assert "PixelData" not in header.dataset
    assert 0x60003000 in header.dataset  # Overlay Data, before Pixel Data, is read


@pytest.mark.parametrize(
    ("name", "tag"),
    [
        ("CT_small.dcm", PIXEL_TAG_LE),
        ("MR_small_implicit.dcm", PIXEL_TAG_LE),
        ("ExplVR_BigEnd.dcm", PIXEL_TAG_BE),
        ("JPEG2000.dcm", PIXEL_TAG_LE),
        ("rtdose.dcm", PIXEL_TAG_LE),
    ],
)
def test_read_header_of_a_whole_file_finds_the_pixel_data(name, tag):
    data = real(name)
    header = read_header(data, len(data))
    assert data[header.pixel_data_offset : header.pixel_data_offset + 4] == tag
    assert header.sop == pydicom.dcmread(PYDICOM_TEST_FILES / name).SOPInstanceUID


def test_read_header_of_a_factory_file():
    ds = dataset(frames=3)
    data = to_bytes(ds)
    header = read_header(data, len(data))
    assert header.sop == ds.SOPInstanceUID
    assert len(data) - header.pixel_data_offset == 12 + 3 * 16 * 16 * 2


def test_read_header_needs_only_the_pixel_data_element_header():
    data = real("CT_small.dcm")
    offset = pixel_offset(data)
    header = read_header(data[: offset + 12], len(data))
    assert header.pixel_data_offset == offset
    for n in (offset + 11, offset + 4, offset, offset - 1):
        with pytest.raises(NeedMoreBytes):
            read_header(data[:n], len(data))


@pytest.mark.parametrize("n", [0, 10, 128, 131, 132, 200, 1000, 4096, 8000])
def test_read_header_on_too_few_bytes_needs_more(n):
    data = real("examples_overlay.dcm")  # header of 31288 bytes
    with pytest.raises(NeedMoreBytes):
        read_header(data[:n], len(data))


def test_read_header_of_a_long_factory_header_needs_more():
    data = instance_bytes(ImageComments="x" * 9000)
    assert pixel_offset(data) > 9000
    with pytest.raises(NeedMoreBytes):
        read_header(data[:4096], len(data))
    assert read_header(data[:65536], len(data)).pixel_data_offset == pixel_offset(data)


def test_read_header_every_prefix_either_needs_more_or_agrees():
    data = real("MR_small.dcm")
    offset = pixel_offset(data)
    for n in range(0, len(data), 37):
        if n < offset + 12:
            with pytest.raises(NeedMoreBytes):
                read_header(data[:n], len(data))
        else:
            assert read_header(data[:n], len(data)).pixel_data_offset == offset


def test_read_header_without_pixel_data():
    data = real("rtplan.dcm")
    assert read_header(data, len(data)).pixel_data_offset is None
    with pytest.raises(NeedMoreBytes):
        read_header(data[:-1], len(data))


def test_read_header_rejects_what_is_not_dicom():
    header_rejected(b"not dicom " * 100, 1000)
    header_rejected(b"not dicom " * 100, 100_000)  # past the preamble: more bytes will not help
    data = instance_bytes()
    header_rejected(data[128:], len(data) - 128)


def test_read_header_of_a_short_non_dicom_prefix_needs_more():
    with pytest.raises(NeedMoreBytes):
        read_header(b"not dicom", 100_000)


def test_read_header_rejects_missing_uids():
    ds = dataset()
    del ds.SOPInstanceUID
    data = to_bytes(ds)
    assert "SOPInstanceUID" in header_rejected(data, len(data)).message
    offset = data.rindex(PIXEL_TAG_LE)
    assert "SOPInstanceUID" in header_rejected(data[: offset + 12], len(data)).message


# --- expected_native_pixel_bytes ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, 16 * 16 * 2),
        ({"bits": 8}, 16 * 16),
        ({"rows": 3, "columns": 5, "bits": 8}, 15),
        ({"frames": 4}, 4 * 16 * 16 * 2),
        ({"frames": 3, "bits": 8, "rows": 2, "columns": 2}, 12),
        ({"SamplesPerPixel": 3, "PhotometricInterpretation": "RGB", "bits": 8}, 16 * 16 * 3),
        (
            {"SamplesPerPixel": 3, "PhotometricInterpretation": "YBR_FULL_422", "bits": 8},
            16 * 16 * 3 * 2 // 3,
        ),
        (
            {
                "SamplesPerPixel": 3,
                "PhotometricInterpretation": "YBR_FULL_422",
                "bits": 8,
                "frames": 2,
            },
            2 * 16 * 16 * 2,
        ),
        ({"NumberOfFrames": 0}, 16 * 16 * 2),
    ],
)
def test_expected_native_pixel_bytes(kwargs, expected):
    assert expected_native_pixel_bytes(dataset(**kwargs)) == expected


def test_expected_native_pixel_bytes_rounds_bits_up():
    ds = dataset(rows=3, columns=3, bits=8)
    ds.BitsAllocated = 1
    assert expected_native_pixel_bytes(ds) == 2  # 9 bits


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("SC_ybr_full_422_uncompressed.dcm", 100 * 100 * 3 * 2 // 3),
        ("rtdose.dcm", 10 * 10 * 4 * 15),
        ("CT_small.dcm", 128 * 128 * 2),
        ("SC_rgb_small_odd.dcm", 3 * 3 * 3),
    ],
)
def test_expected_native_pixel_bytes_of_real_files(name, expected):
    ds = pydicom.dcmread(PYDICOM_TEST_FILES / name)
    assert expected_native_pixel_bytes(ds) == expected
    assert len(ds.PixelData) >= expected


@pytest.mark.parametrize("missing", ["Rows", "Columns", "BitsAllocated"])
def test_expected_native_pixel_bytes_unknown_without_dimensions(missing):
    ds = dataset()
    delattr(ds, missing)
    assert expected_native_pixel_bytes(ds) is None


def test_expected_native_pixel_bytes_defaults_samples_and_frames():
    ds = dataset()
    del ds.SamplesPerPixel
    assert expected_native_pixel_bytes(ds) == 512
