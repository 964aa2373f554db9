"""QIDO-RS query parameters (chalicelib.dicomweb.query)."""

from __future__ import annotations

import pytest

from chalicelib.dicomweb.errors import BadRequest
from chalicelib.dicomweb.query import (
    MAX_OFFSET,
    Query,
    attribute_keyword,
    parse_query,
    vr_of,
)

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


def parse(params: dict[str, list[str]] | None) -> Query:
    return parse_query(params, DEFAULT_LIMIT, MAX_LIMIT)


def bad(params: dict[str, list[str]]) -> BadRequest:
    with pytest.raises(BadRequest) as info:
        parse(params)
    assert info.value.status == 400
    assert info.value.code == "InvalidParameter"
    return info.value


# --- attribute_keyword / vr_of --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "keyword"),
    [
        ("PatientName", "PatientName"),
        ("StudyInstanceUID", "StudyInstanceUID"),
        ("00100010", "PatientName"),
        ("0020000D", "StudyInstanceUID"),
        ("0020000d", "StudyInstanceUID"),
        ("00080061", "ModalitiesInStudy"),
        ("patientname", None),  # keywords are case-sensitive
        ("NotAnAttribute", None),
        ("0010001", None),  # 7 digits
        ("001000100", None),  # 9 digits
        ("00100010\n", None),
        ("(0010,0010)", None),
        ("0010,0010", None),
        ("GGGGGGGG", None),
        ("00091001", None),  # private tag: no keyword
        ("FFFFFFFF", None),
    ],
)
def test_attribute_keyword(name, keyword):
    assert attribute_keyword(name) == keyword


def test_empty_name_is_not_an_attribute():
    assert attribute_keyword("") is None


def test_empty_parameter_name_is_unknown():
    q = parse({"": ["x"], "PatientID": ["a"]})
    assert q.filters == {"PatientID": ("a",)}
    assert q.unknown == ("",)


@pytest.mark.parametrize(
    ("keyword", "vr"),
    [
        ("PatientName", "PN"),
        ("StudyDate", "DA"),
        ("StudyTime", "TM"),
        ("AcquisitionDateTime", "DT"),
        ("StudyInstanceUID", "UI"),
        ("PatientID", "LO"),
        ("Modality", "CS"),
        ("NotAnAttribute", "UN"),
    ],
)
def test_vr_of(keyword, vr):
    assert vr_of(keyword) == vr


# --- defaults -------------------------------------------------------------------------------------


@pytest.mark.parametrize("params", [None, {}])
def test_defaults(params):
    q = parse(params)
    assert q == Query(
        filters={},
        includefield=(),
        include_all=False,
        limit=DEFAULT_LIMIT,
        offset=0,
        capped=True,
        fuzzy=False,
        unknown=(),
    )


# --- filters --------------------------------------------------------------------------------------


def test_filter_by_keyword_or_tag():
    q = parse({"PatientName": ["Smith*"], "00100020": ["PID-1"], "StudyDate": ["20250101-"]})
    assert q.filters == {
        "PatientName": ("Smith*",),
        "PatientID": ("PID-1",),
        "StudyDate": ("20250101-",),
    }
    assert q.value("PatientID") == "PID-1"
    assert q.value("AccessionNumber") is None
    assert q.unknown == ()


def test_repeated_filter_values_kept():
    q = parse({"PatientID": ["a", "b"]})
    assert q.filters == {"PatientID": ("a", "b")}
    assert q.value("PatientID") == "a"


def test_repeated_uid_parameter_is_one_list():
    q = parse({"StudyInstanceUID": ["1.2", "1.3\\1.4"]})
    assert q.filters == {"StudyInstanceUID": ("1.2\\1.3\\1.4",)}


def test_keyword_and_tag_of_one_attribute_merge():
    q = parse({"StudyInstanceUID": ["1.2"], "0020000D": ["1.3"]})
    assert q.filters == {"StudyInstanceUID": ("1.2\\1.3",)}
    q = parse({"PatientID": ["a"], "00100020": ["b"]})
    assert q.filters == {"PatientID": ("a", "b")}


def test_unknown_attributes_collected():
    q = parse({"NotAnAttribute": ["x"], "PatientID": ["a"], "00091001": ["y"], "Limit": ["5"]})
    assert q.filters == {"PatientID": ("a",)}
    assert q.unknown == ("NotAnAttribute", "00091001", "Limit")


def test_reserved_parameters_are_not_filters():
    q = parse({"limit": ["5"], "offset": ["1"], "fuzzymatching": ["true"], "apikey": ["k"]})
    assert q.filters == {}
    assert q.unknown == ()


@pytest.mark.parametrize(
    "params",
    [
        {"StudyDate": ["2025"]},
        {"StudyDate": ["20250101", "2025-01-01"]},
        {"StudyDate": ["-"]},
        {"00080020": ["abc"]},
        {"StudyTime": ["1"]},
    ],
)
def test_malformed_date_filter_is_a_bad_request(params):
    err = bad(params)
    assert next(iter(params)) in err.message


def test_empty_and_universal_filters_accepted():
    q = parse({"StudyDate": ["", "*"], "PatientName": [""]})
    assert q.filters == {"StudyDate": ("", "*"), "PatientName": ("",)}


# --- includefield ---------------------------------------------------------------------------------


def test_includefield_comma_joined_and_repeated():
    q = parse({"includefield": ["PatientAge,00081030", " StudyDescription , ,", "PatientWeight"]})
    assert q.includefield == ("PatientAge", "StudyDescription", "PatientWeight")
    assert q.include_all is False
    assert q.unknown == ()


def test_includefield_all():
    for value in ("all", "ALL", "PatientAge,all"):
        q = parse({"includefield": [value]})
        assert q.include_all is True
    assert parse({"includefield": ["PatientAge,all"]}).includefield == ("PatientAge",)


def test_includefield_unknown_attributes_collected():
    q = parse({"includefield": ["Bogus,PatientAge"], "Nope": ["x"]})
    assert q.includefield == ("PatientAge",)
    assert set(q.unknown) == {"Bogus", "Nope"}


# --- limit / offset -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "limit", "capped"),
    [
        (None, DEFAULT_LIMIT, True),
        (["50"], 50, False),
        ([" 7 "], 7, False),
        (["1"], 1, False),
        (["0"], DEFAULT_LIMIT, True),  # no limit asked
        ([str(MAX_LIMIT)], MAX_LIMIT, False),
        ([str(MAX_LIMIT + 1)], MAX_LIMIT, True),
        (["999999999"], MAX_LIMIT, True),
        (["5", "20"], 20, False),  # the last one wins
    ],
)
def test_limit(values, limit, capped):
    q = parse({"limit": values} if values is not None else {})
    assert (q.limit, q.capped) == (limit, capped)


def test_default_limit_above_max_is_clamped():
    q = parse_query({}, 500, 200)
    assert (q.limit, q.capped) == (200, True)


@pytest.mark.parametrize("name", ["limit", "offset"])
@pytest.mark.parametrize("value", ["-1", "abc", "1.5", "", "1e3", "0x10", "1000000000", "+5"])
def test_invalid_limit_or_offset_names_the_parameter(name, value):
    err = bad({name: [value]})
    assert err.message.startswith(name)


def test_invalid_value_anywhere_in_a_repeat_counts_only_if_last():
    assert parse({"limit": ["abc", "10"]}).limit == 10
    bad({"limit": ["10", "abc"]})


@pytest.mark.parametrize(("value", "offset"), [("0", 0), ("25", 25), (str(MAX_OFFSET), MAX_OFFSET)])
def test_offset(value, offset):
    assert parse({"offset": [value]}).offset == offset


def test_offset_above_max_is_a_bad_request():
    err = bad({"offset": [str(MAX_OFFSET + 1)]})
    assert "offset" in err.message


# --- fuzzymatching --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "fuzzy"),
    [(None, False), (["true"], True), (["TRUE"], True), ([" True "], True), (["false"], False)],
)
def test_fuzzymatching(values, fuzzy):
    params = {"fuzzymatching": values} if values is not None else {}
    assert parse(params).fuzzy is fuzzy


@pytest.mark.parametrize("value", ["yes", "1", "", "on"])
def test_invalid_fuzzymatching_is_a_bad_request(value):
    err = bad({"fuzzymatching": [value]})
    assert "fuzzymatching" in err.message


# --- cursor: where the previous page ended (issue 24) -----------------------------------------


def test_a_cursor_is_kept_as_given_and_is_no_filter() -> None:
    q = parse({"cursor": ["abc_-1"], "PatientID": ["P1"]})
    assert q.cursor == "abc_-1" and dict(q.filters) == {"PatientID": ("P1",)}
    assert q.unknown == ()  # not reported as an unknown attribute
    assert parse({}).cursor == ""


def test_an_offset_past_the_bound_needs_a_cursor() -> None:
    assert "narrow" in str(bad({"offset": [str(MAX_OFFSET + 1)]}))
    deep = parse({"offset": [str(MAX_OFFSET + 1)], "cursor": ["x"]})
    assert deep.offset == MAX_OFFSET + 1  # the cursor says where; nothing is read past


def test_a_cursor_longer_than_any_given_is_refused() -> None:
    assert "cursor" in str(bad({"cursor": ["x" * 5000]}))
