"""DICOM JSON helpers (chalicelib.dicomweb.dicomjson)."""

from __future__ import annotations

import json

import pydicom
import pytest
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset

from chalicelib.dicomweb.dicomjson import element, first_value, select, tag_hex
from tests.factories import dataset

# --- tag_hex --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("keyword", "tag"),
    [
        ("PatientName", "00100010"),
        ("StudyInstanceUID", "0020000D"),
        ("PixelData", "7FE00010"),
        ("SOPInstanceUID", "00080018"),
        ("ModalitiesInStudy", "00080061"),
    ],
)
def test_tag_hex(keyword, tag):
    assert tag_hex(keyword) == tag


@pytest.mark.parametrize("keyword", ["NotAKeyword", "patientname", "00100010"])
def test_tag_hex_unknown_keyword(keyword):
    with pytest.raises(KeyError):
        tag_hex(keyword)


# --- element / first_value ------------------------------------------------------------------------


def test_element():
    assert element("PN") == {"vr": "PN"}
    assert element("IS", 3) == {"vr": "IS", "Value": [3]}
    assert element("CS", "CT", "MR") == {"vr": "CS", "Value": ["CT", "MR"]}
    assert element("LO", None) == {"vr": "LO", "Value": [None]}


@pytest.mark.parametrize(
    ("attrs", "expected"),
    [
        ({"00100020": {"vr": "LO", "Value": ["PID-1", "PID-2"]}}, "PID-1"),
        ({"00100020": {"vr": "LO", "Value": [0]}}, 0),
        ({"00100020": {"vr": "LO"}}, None),
        ({"00100020": {"vr": "LO", "Value": []}}, None),
        ({"00100010": {"vr": "PN", "Value": [{"Alphabetic": "A^B"}]}}, None),
        ({}, None),
    ],
)
def test_first_value(attrs, expected):
    assert first_value(attrs, "PatientID") == expected


def test_first_value_of_person_name_and_element_round_trip():
    attrs = {tag_hex("PatientName"): element("PN", {"Alphabetic": "A^B"})}
    assert first_value(attrs, "PatientName") == {"Alphabetic": "A^B"}
    attrs = {tag_hex("NumberOfFrames"): element("IS", 12)}
    assert first_value(attrs, "NumberOfFrames") == 12


def test_first_value_unknown_keyword():
    with pytest.raises(KeyError):
        first_value({}, "NotAKeyword")


# --- select ---------------------------------------------------------------------------------------


def test_select_given_attributes_in_dicom_json():
    ds = dataset(ImageType=["ORIGINAL", "PRIMARY"], StudyDescription="Head")
    out = select(
        ds,
        ["PatientName", "PatientID", "ImageType", "Rows", "StudyDescription", "SeriesNumber"],
        1000,
    )
    assert out == {
        "00100010": {"vr": "PN", "Value": [{"Alphabetic": "Test^Patient"}]},
        "00100020": {"vr": "LO", "Value": ["PID-1"]},
        "00080008": {"vr": "CS", "Value": ["ORIGINAL", "PRIMARY"]},
        "00280010": {"vr": "US", "Value": [16]},
        "00081030": {"vr": "LO", "Value": ["Head"]},
        "00200011": {"vr": "IS", "Value": [1]},
    }


def test_select_skips_absent_and_unknown_attributes():
    ds = dataset()
    out = select(ds, ["NotAKeyword", "PatientAge", "PatientID"], 1000)
    assert out == {"00100020": {"vr": "LO", "Value": ["PID-1"]}}
    assert select(ds, [], 1000) == {}


def test_select_present_but_empty_attribute_has_no_value():
    ds = dataset(ReferringPhysicianName="", AccessionNumber="")
    out = select(ds, ["ReferringPhysicianName", "AccessionNumber"], 1000)
    assert out == {"00080090": {"vr": "PN"}, "00080050": {"vr": "SH"}}


def test_select_sequence():
    ds = dataset()
    item = Dataset()
    item.ReferencedSOPInstanceUID = "1.2.3"
    ds.ReferencedImageSequence = [item]
    out = select(ds, ["ReferencedImageSequence"], 1000)
    assert out == {
        "00081140": {"vr": "SQ", "Value": [{"00081155": {"vr": "UI", "Value": ["1.2.3"]}}]}
    }


def test_select_leaves_out_values_over_max_value_bytes():
    ds = dataset(ImageComments="x" * 500, PatientID="short")
    out = select(ds, ["ImageComments", "PatientID"], 100)
    assert out == {"00100020": {"vr": "LO", "Value": ["short"]}}
    assert "00204000" in select(ds, ["ImageComments"], 1000)


def test_select_max_value_bytes_is_inclusive():
    ds = dataset(ImageComments="x" * 50)
    size = len(json.dumps({"vr": "LT", "Value": ["x" * 50]}))
    assert select(ds, ["ImageComments"], size) == {"00204000": {"vr": "LT", "Value": ["x" * 50]}}
    assert select(ds, ["ImageComments"], size - 1) == {}


def test_select_binary_values_inline_or_left_out():
    ds = dataset()  # 16 x 16 x 2 bytes of pixel data
    assert select(ds, ["PixelData"], 100) == {}
    out = select(ds, ["PixelData"], 10_000)
    assert set(out["7FE00010"]) == {"vr", "InlineBinary"}


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_select_skips_values_pydicom_cannot_convert():
    ds = dataset()
    tag = pydicom.tag.Tag(0x00200013)  # InstanceNumber, IS
    ds[tag] = RawDataElement(tag, "IS", 2, b"1A", 0, True, True)
    out = select(ds, ["InstanceNumber", "PatientID"], 1000)
    assert out == {"00100020": {"vr": "LO", "Value": ["PID-1"]}}


def test_select_does_not_modify_the_dataset():
    ds = dataset()
    before = ds.to_json_dict()
    select(ds, ["PatientName", "PixelData", "Rows"], 10)
    assert ds.to_json_dict() == before
