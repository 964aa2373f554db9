"""The data dictionary without pydicom (chalicelib.dicomweb.dictionary) answers as pydicom's
``datadict`` does, for every public element, every repeating group and private tags; the
generated data is what ``dictionary_build`` writes from the installed pydicom; and importing the
service's modules for QIDO and WADO does not import pydicom."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydicom import datadict

from chalicelib.dicomweb import dictionary, dictionary_build

ROOT = Path(__file__).resolve().parents[3]


def test_the_committed_data_is_what_the_installed_pydicom_gives() -> None:
    assert dictionary_build.TARGET.read_text() == dictionary_build.render(), (
        "pydicom's dictionary changed: python -m chalicelib.dicomweb.dictionary_build"
    )


def test_every_public_element_as_pydicom() -> None:
    for tag in datadict.DicomDictionary:
        assert dictionary.keyword_for_tag(tag) == datadict.keyword_for_tag(tag), hex(tag)
        assert dictionary.dictionary_vr(tag) == datadict.dictionary_VR(tag), hex(tag)
    for keyword in datadict.keyword_dict:
        assert dictionary.tag_for_keyword(keyword) == datadict.tag_for_keyword(keyword), keyword


def repeater_tags(mask: str) -> list[int]:
    """Tags of a repeating group's mask, its ``x`` nibbles filled with 0, 2, 0xE and 0xF."""
    return [int(mask.replace("x", nibble), 16) for nibble in "02EF"]


def test_repeating_groups_and_unknown_tags_as_pydicom() -> None:
    tags = [t for mask in datadict.RepeatersDictionary for t in repeater_tags(mask)]
    tags += [0x60021234, 0x00091010, 0x60010010, 0x00990000, 0x7FE10010, 0xFFFFFFFF, 0]
    for tag in tags:
        assert dictionary.keyword_for_tag(tag) == datadict.keyword_for_tag(tag), hex(tag)
        try:
            expected = datadict.dictionary_VR(tag)
        except KeyError:
            with pytest.raises(KeyError):
                dictionary.dictionary_vr(tag)
        else:
            assert dictionary.dictionary_vr(tag) == expected, hex(tag)
    assert dictionary.keyword_for_tag(0x60020010) == "OverlayRows"  # not vacuous
    assert dictionary.keyword_for_tag(0x60010010) == ""  # a private tag in an odd group


@pytest.mark.parametrize("keyword", ["NotAKeyword", "patientname", "OverlayRows"])
def test_keywords_outside_the_dictionary_as_pydicom(keyword: str) -> None:
    assert dictionary.tag_for_keyword(keyword) == datadict.tag_for_keyword(keyword)


def test_the_api_search_and_retrieve_import_no_pydicom() -> None:
    """The API function's modules and those a QIDO, metadata, WADO or frame request runs,
    imported in a fresh interpreter, leave pydicom out (245 M instructions of a cold start), and
    boto3 (73 M); the indexer's import it."""
    code = (
        "import sys, app\n"
        "import chalicelib.services.qido, chalicelib.services.metadata\n"
        "import chalicelib.services.wado, chalicelib.services.frames\n"
        "print('pydicom' in sys.modules, 'boto3' in sys.modules)\n"
        "import chalicelib.services.indexer\n"
        "print('pydicom' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["False", "False", "True"]
