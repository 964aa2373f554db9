from __future__ import annotations

import json

from chalicelib.dicomweb.dicomxml import to_xml
from chalicelib.dicomweb.metadata import absolute_uris, dumps, instance_metadata
from tests.factories import dataset


def test_bulk_data_becomes_root_relative_then_absolute_uris():
    ds = dataset()
    del ds.PixelData
    ds.add_new(0x00091010, "OB", b"\x00" * 2048)
    ds.add_new(0x00091011, "OB", b"\x00" * 16)
    doc = instance_metadata(ds, "1.2", "1.3", "1.4", "OW")
    assert (
        doc["00091010"]["BulkDataURI"] == "/studies/1.2/series/1.3/instances/1.4/bulkdata/00091010"
    )
    assert "InlineBinary" in doc["00091011"]
    assert doc["7FE00010"] == {
        "vr": "OW",
        "BulkDataURI": "/studies/1.2/series/1.3/instances/1.4/bulkdata/7FE00010",
    }
    served = json.loads(absolute_uris(dumps(doc), "https://h/stage"))
    assert served["7FE00010"]["BulkDataURI"].startswith("https://h/stage/studies/1.2/")


def test_xml_of_names_sequences_and_values():
    xml = to_xml(
        {
            "00100010": {"vr": "PN", "Value": [{"Alphabetic": "Doe^Jane"}]},
            "00081199": {"vr": "SQ", "Value": [{"00081150": {"vr": "UI", "Value": ["1.2"]}}]},
            "00200013": {"vr": "IS", "Value": [3]},
            "00080050": {"vr": "SH"},
        }
    ).decode()
    assert '<DicomAttribute tag="00100010" vr="PN" keyword="PatientName">' in xml
    assert "<FamilyName>Doe</FamilyName><GivenName>Jane</GivenName>" in xml
    assert '<Item number="1"><DicomAttribute tag="00081150"' in xml
    assert '<Value number="1">3</Value>' in xml
    assert (
        '<DicomAttribute tag="00080050" vr="SH" keyword="AccessionNumber"></DicomAttribute>' in xml
    )


def test_nested_binary_stays_inline_and_never_names_a_top_level_tag():
    """An Icon Image Sequence's Pixel Data must not get .../bulkdata/7FE00010, which is the
    image's own Pixel Data."""
    import base64

    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    ds = dataset()
    icon = Dataset()
    icon.Rows = icon.Columns = 64
    icon.BitsAllocated = 8
    icon.add_new(0x7FE00010, "OB", bytes(range(256)) * 16)  # 4 kB, over the threshold
    ds.IconImageSequence = Sequence([icon])
    ds.add_new(0x00091010, "OB", b"\x01" * 4096)  # a large top-level binary: a BulkDataURI
    header = Dataset(ds)
    del header.PixelData
    out = instance_metadata(header, "1.2", "3.4", "5.6", "OW")
    (item,) = out["00880200"]["Value"]
    assert base64.b64decode(item["7FE00010"]["InlineBinary"]) == bytes(range(256)) * 16
    assert "BulkDataURI" not in json.dumps(out["00880200"])
    assert out["00091010"]["BulkDataURI"].endswith("/bulkdata/00091010")
    assert out["7FE00010"]["BulkDataURI"].endswith("/bulkdata/7FE00010")
