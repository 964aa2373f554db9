"""bench/large_stow.py: the lazily generated chunked body is a valid multipart/related body of
valid CT instances, and it is never joined."""

from __future__ import annotations

import io

import pydicom

from bench.large_stow import (
    BOUNDARY,
    MB,
    Counted,
    CtSeries,
    multipart_chunks,
    pixel_element,
    rates,
)
from chalicelib.dicomweb.multipart import read_multipart


def test_the_chunked_body_parses_back_into_the_instances() -> None:
    source = CtSeries(6, series=2, side=16)
    chunks = list(multipart_chunks(source.instances(), BOUNDARY))
    assert len(chunks) == 6 * 4 + 1  # delimiter, header, pixels, CRLF per part; the close
    parts = read_multipart(b"".join(chunks), BOUNDARY)
    assert [p.content_type for p in parts] == ["application/dicom"] * 6
    for i, part in enumerate(parts):
        ds = pydicom.dcmread(io.BytesIO(part.content))
        assert ds.SOPInstanceUID == source.sop(i)
        assert ds.StudyInstanceUID == source.study
        assert ds.SeriesInstanceUID == source.series[i // 3]
        assert ds.InstanceNumber == i + 1
        assert ds.pixel_array.shape == (16, 16)
        assert ds.pixel_array.max() < 4096


def test_pixels_are_shared_per_series_not_copied() -> None:
    source = CtSeries(4, series=2, side=16)
    assert source.instance(0)[1] is source.instance(1)[1]
    assert source.instance(1)[1] is not source.instance(2)[1]


def test_pixel_element_framing() -> None:
    element = pixel_element(b"\x01\x02\x03\x04")
    assert element[:12] == b"\xe0\x7f\x10\x00OW\x00\x00\x04\x00\x00\x00"
    assert element[12:] == b"\x01\x02\x03\x04"


def test_counted_marks_each_step_and_rates() -> None:
    body = Counted(iter([b"x" * 10] * 10), step=25)
    assert b"".join(body) == b"x" * 100
    assert body.sent == 100
    assert [sent for _, sent in body.marks] == [0, 30, 60, 90]  # a remainder under step/2: no
    body = Counted(iter([b"x" * 10] * 10), step=40)
    assert sum(map(len, body)) == 100
    assert [sent for _, sent in body.marks] == [0, 40, 80, 100]
    assert rates([(0.0, 0), (1.0, 2 * MB), (3.0, 4 * MB)]) == [2.0, 1.0]
