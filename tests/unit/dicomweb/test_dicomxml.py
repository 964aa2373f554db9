"""DICOM JSON -> PS3.19 XML (chalicelib.dicomweb.dicomxml): characters XML 1.0 cannot carry."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from chalicelib.dicomweb.dicomxml import to_xml
from tests.factories import dataset

NS = {"d": "http://dicom.nema.org/PS3.19/models/NativeDICOM"}


def test_control_characters_become_replacement_characters_and_the_xml_parses():
    ds = dataset()
    ds.PatientName = "Doe\x01^Jane\x0b"
    ds.StudyDescription = "tab\there\x00\x1f<&>\ud800\ufffe"
    root = ET.fromstring(to_xml(ds.to_json_dict()))
    family = root.find(".//d:DicomAttribute[@tag='00100010']//d:FamilyName", NS)
    given = root.find(".//d:DicomAttribute[@tag='00100010']//d:GivenName", NS)
    assert family is not None and family.text == "Doe\ufffd"
    assert given is not None and given.text == "Jane\ufffd"
    value = root.find(".//d:DicomAttribute[@tag='00081030']/d:Value", NS)
    assert value is not None and value.text == "tab\there\ufffd\ufffd<&>\ufffd\ufffd"


def test_carriage_return_and_attribute_values_survive_a_parse():
    xml = to_xml(
        {
            "00081030": {"vr": "LO", "Value": ["a\rb\nc"]},
            "7FE00010": {"vr": "OB", "BulkDataURI": "/x?a=1&b=\x02\"'"},
        }
    )
    root = ET.fromstring(xml)
    value = root.find(".//d:DicomAttribute[@tag='00081030']/d:Value", NS)
    assert value is not None and value.text == "a\rb\nc"
    bulk = root.find(".//d:BulkData", NS)
    assert bulk is not None and bulk.get("uri") == "/x?a=1&b=\ufffd\"'"
