"""UID validation and references (chalicelib.dicomweb.resources)."""

from __future__ import annotations

import pytest

from chalicelib.dicomweb.errors import BadRequest
from chalicelib.dicomweb.resources import (
    MAX_UID_LENGTH,
    InstanceRef,
    SeriesRef,
    StudyRef,
    is_valid_uid,
    path_uid,
)

UID_64 = "1." + "2" * 62
UID_65 = "1." + "2" * 63


def test_length_fixtures():
    assert MAX_UID_LENGTH == 64
    assert (len(UID_64), len(UID_65)) == (64, 65)


@pytest.mark.parametrize(
    "value",
    [
        "1",
        "1.2",
        "1.2.840.10008.1.2.1",
        "1.2.826.0.1.3680043.10.543.123456789",
        "1.2.3.0",
        "01.002.0003",  # leading zeros tolerated
        UID_64,
        "1" * 64,
    ],
)
def test_valid_uids(value):
    assert is_valid_uid(value)


@pytest.mark.parametrize(
    "value",
    [
        "",
        UID_65,
        "1" * 65,
        "../",
        "..",
        "1.2/../3",
        "1.2/3",
        "%2F",
        "1.2%2F3",
        "1.2.a",
        "abc",
        "1.2.3e5",
        ".1.2",
        "1.2.",
        "1..2",
        ".",
        " 1.2",
        "1.2 ",
        "1.2\x00",
        "-1.2",
        "1,2",
        "1.2*",
        "1.2\\1.3",
        "\u0661.\u0662",  # Arabic-Indic digits are not [0-9]
    ],
)
def test_invalid_uids(value):
    assert not is_valid_uid(value)


@pytest.mark.parametrize("value", ["1.2\n", UID_64[:-1] + "\n"])
def test_trailing_newline_is_not_a_uid(value):
    assert not is_valid_uid(value)


@pytest.mark.parametrize(
    ("raw", "uid"),
    [
        ("1.2.3", "1.2.3"),
        ("1%2E2%2E3", "1.2.3"),
        ("%31.2", "1.2"),
        (UID_64, UID_64),
    ],
)
def test_path_uid_decodes(raw, uid):
    assert path_uid(raw, "StudyInstanceUID") == uid


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "..%2F..%2Fetc",
        "1.2%2F3",
        "1.2%2f3",
        "%2E%2E",
        "1.2%20",
        "1.2%00",
        "%",
        "1.2%ZZ",
        "1.2%252F",  # decoded once only: '1.2%2F' is not a UID
        UID_65,
        "1.2.abc",
    ],
)
def test_path_uid_refuses(raw):
    with pytest.raises(BadRequest) as info:
        path_uid(raw, "SeriesInstanceUID")
    assert info.value.status == 400
    assert info.value.code == "InvalidUID"
    assert "SeriesInstanceUID" in info.value.message


def test_path_uid_refuses_encoded_newline():
    with pytest.raises(BadRequest):
        path_uid("1.2%0A", "StudyInstanceUID")


def test_refs():
    ref = InstanceRef("t1", "1.2", "1.3", "1.4")
    assert ref.series_ref == SeriesRef("t1", "1.2", "1.3")
    assert ref.study_ref == StudyRef("t1", "1.2")
    assert ref.series_ref.study_ref == StudyRef("t1", "1.2")
    assert {ref, InstanceRef("t1", "1.2", "1.3", "1.4")} == {ref}  # frozen, hashable
    with pytest.raises(AttributeError):
        ref.sop = "1.5"  # type: ignore[misc]


def test_a_frame_list_is_bounded_and_lists_each_frame_once() -> None:
    """2,500 x frame 1 once composed a 10.5 MB answer from a 4 KB frame (issue 23)."""
    from chalicelib.dicomweb.errors import BadRequest
    from chalicelib.dicomweb.resources import MAX_FRAMES, parse_frame_list

    assert parse_frame_list(",".join(str(n) for n in range(1, MAX_FRAMES + 1)))[-1] == MAX_FRAMES
    for text in (",".join(["1"] * 2500), ",".join(str(n) for n in range(1, MAX_FRAMES + 2))):
        with pytest.raises(BadRequest) as raised:
            parse_frame_list(text)
        assert raised.value.code == "InvalidFrameList"
    with pytest.raises(BadRequest, match="once"):
        parse_frame_list("3,1,3")
    with pytest.raises(BadRequest):
        parse_frame_list("\u0661")  # an Arabic-Indic digit one: ASCII digits only
