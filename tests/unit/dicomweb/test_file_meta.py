"""The transfer syntax read from the File Meta Information without pydicom
(chalicelib.dicomweb.file_meta) is pydicom's (``instance.read_header``) on every file pydicom
ships that it reads, on ours in each writable syntax, and on any cut of them; on bytes it does
not find well formed it answers None (the caller asks pydicom), never a wrong UID."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    RLELossless,
)

from chalicelib.dicomweb.errors import DicomWebError
from chalicelib.dicomweb.file_meta import transfer_syntax
from chalicelib.dicomweb.instance import read_header
from tests.factories import PYDICOM_TEST_FILES, instance_bytes


def pydicoms(data: bytes) -> str | None:
    try:
        return read_header(data, len(data)).transfer_syntax
    except (DicomWebError, Exception):  # what read_header refuses has no syntax to compare
        return None


def corpus() -> list[bytes]:
    files = [p.read_bytes() for p in sorted(PYDICOM_TEST_FILES.rglob("*.dcm"))]
    return files + [
        instance_bytes(transfer_syntax=str(ts))
        for ts in (
            ExplicitVRLittleEndian,
            ImplicitVRLittleEndian,
            DeflatedExplicitVRLittleEndian,
            RLELossless,
        )
    ]


CORPUS = corpus()


def test_every_readable_file_gets_pydicoms_syntax() -> None:
    read, agreed = 0, 0
    for data in CORPUS:
        expected = pydicoms(data)
        if expected is None:
            continue
        read += 1
        got = transfer_syntax(data)
        assert got in (None, expected)
        agreed += got == expected
    # not vacuous: nearly every file pydicom reads is read here too, without it
    assert read > 50 and agreed >= read * 0.9, (read, agreed)


@pytest.mark.parametrize("index", range(0, 40, 7))
def test_a_cut_is_the_whole_files_syntax_or_none(index: int) -> None:
    data = CORPUS[index]
    expected = pydicoms(data)
    for n in range(0, min(len(data), 600), 3):
        assert transfer_syntax(data[:n]) in (None, expected)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.integers(0, 120))
def test_any_bytes_after_the_prefix_never_raise(tail: bytes, cut: int) -> None:
    data = CORPUS[-1][: 132 + cut] + tail
    got = transfer_syntax(data)
    assert got is None or (got and set(got) <= set("0123456789."))


def test_what_is_not_part_10_is_left_to_pydicom() -> None:
    data = instance_bytes()
    assert transfer_syntax(data) == str(ExplicitVRLittleEndian)
    assert transfer_syntax(data[128:]) is None  # no preamble
    assert transfer_syntax(b"\0" * 128 + b"DICX" + data[132:]) is None
