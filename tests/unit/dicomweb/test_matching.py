"""Attribute matching (chalicelib.dicomweb.matching, PS3.4 C.2.2.2)."""

from __future__ import annotations

import random
import re
import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

import pytest

from chalicelib.dicomweb.errors import BadRequest
from chalicelib.dicomweb.matching import (
    split_uid_list,
    validate_value,
    value_matches,
    wildcard_match,
)


def matches(vr: str, query: str, *candidates: str, fuzzy: bool = False) -> bool:
    return value_matches(vr, query, list(candidates), fuzzy, "Attr")


# --- universal ------------------------------------------------------------------------------------


@pytest.mark.parametrize("query", ["", "*"])
@pytest.mark.parametrize("vr", ["LO", "PN", "UI", "DA", "TM", "DT", "CS"])
def test_universal_matching(vr, query):
    assert matches(vr, query, "anything")
    assert matches(vr, query)  # even with no value at all
    assert matches(vr, query, "x", fuzzy=True)


# --- single value ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "candidates", "expected"),
    [
        ("ABC", ["ABC"], True),
        ("ABC", ["abc"], False),  # case-sensitive outside PN
        ("ABC", ["ABCD"], False),
        ("ABC", ["AB"], False),
        ("ABC", ["X", "ABC"], True),  # any of the element's values
        ("ABC", [], False),
        ("A.C", ["ABC"], False),  # '.' is not special
        ("A+", ["AA"], False),
    ],
)
def test_single_value_matching(query, candidates, expected):
    assert matches("LO", query, *candidates) is expected


# --- wildcards ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "candidate", "expected"),
    [
        ("AB*", "ABCD", True),
        ("AB*", "AB", True),
        ("AB*", "XABCD", False),
        ("*CD", "ABCD", True),
        ("*BC*", "ABCD", True),
        ("A*D", "ABCD", True),
        ("A*D", "ABCDE", False),
        ("A?C", "ABC", True),
        ("A?C", "AC", False),
        ("A?C", "ABBC", False),
        ("A?C", "ABC\n", False),  # the whole value: no match before a trailing newline
        ("*", "\n", True),
        ("??", "AB", True),
        ("??", "ABC", False),
        ("A*", "A\nB", True),  # '*' spans any character
        # nothing but '*' and '?' is special
        ("A[B]*", "A[B]C", True),
        ("A[B]*", "ABC", False),
        ("[AB]?", "A1", False),
        ("A.*", "ABC", False),
        ("A.*", "A.C", True),
        ("(A|B)*", "A", False),
        ("a*", "ABC", False),  # wildcards stay case-sensitive outside PN
    ],
)
def test_wildcard_matching(query, candidate, expected):
    assert matches("LO", query, candidate) is expected


def test_wildcard_matches_any_value():
    assert matches("CS", "M*", "CT", "MR")
    assert not matches("CS", "X*", "CT", "MR")


# --- UID lists ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "candidate", "expected"),
    [
        ("1.2.3", "1.2.3", True),
        ("1.2.3", "1.2.3.4", False),
        ("1.2.3\\1.2.4", "1.2.4", True),
        ("1.2.3,1.2.4", "1.2.3", True),
        ("1.2.3, 1.2.4", "1.2.4", True),
        ("1.2.3\\1.2.4,1.2.5", "1.2.5", True),
        ("1.2.3\\1.2.4", "1.2.5", False),
        ("1.2.*", "1.2.3", False),  # no wildcards in UI matching
        ("1.2.?", "1.2.3", False),
    ],
)
def test_uid_list_matching(query, candidate, expected):
    assert matches("UI", query, candidate) is expected


def test_split_uid_list():
    assert split_uid_list(["1.2\\1.3", "1.4,1.5", " 1.6 ", "", "1.7 , ,\\1.8"]) == [
        "1.2",
        "1.3",
        "1.4",
        "1.5",
        "1.6",
        "1.7",
        "1.8",
    ]
    assert split_uid_list([]) == []
    assert split_uid_list(("1.2",)) == ["1.2"]
    assert split_uid_list(iter(["1.2,1.3"])) == ["1.2", "1.3"]


# --- dates ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "candidate", "expected"),
    [
        ("20250115", "20250115", True),
        ("20250115", "20250116", False),
        ("20250101-", "20250101", True),
        ("20250101-", "20991231", True),
        ("20250101-", "20241231", False),
        ("-20250131", "20250131", True),
        ("-20250131", "19000101", True),
        ("-20250131", "20250201", False),
        ("20250101-20250131", "20250101", True),
        ("20250101-20250131", "20250115", True),
        ("20250101-20250131", "20250131", True),
        ("20250101-20250131", "20241231", False),
        ("20250101-20250131", "20250201", False),
        ("20250131-20250101", "20250115", False),  # an inverted range matches nothing
    ],
)
def test_date_matching(query, candidate, expected):
    assert matches("DA", query, candidate) is expected


def test_date_range_matches_any_value():
    assert matches("DA", "20250101-20250131", "20200101", "20250110")
    assert not matches("DA", "20250101-20250131", "20200101", "20260110")
    assert not matches("DA", "20250101-")


@pytest.mark.parametrize(
    "query",
    [
        "2025",
        "2025011",
        "202501011",
        "2025-01-01",
        "2025/01/01",
        "abcdefgh",
        "20250101-2025",
        "2025-20250131",
        "20250101-20250131-",
        "20250101--20250131",
        "20250101*",  # no wildcards in dates
        "20250101\n",
        "20250101-20250131\n",
    ],
)
def test_malformed_date_is_a_bad_request(query):
    with pytest.raises(BadRequest) as info:
        matches("DA", query, "20250101")
    assert info.value.status == 400
    assert info.value.code == "InvalidParameter"
    assert "Attr" in info.value.message
    with pytest.raises(BadRequest):
        validate_value("DA", query, "Attr")


# --- times and datetimes --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "candidate", "expected"),
    [
        ("101010", "101010", True),
        ("1010", "101010", True),  # a less precise query matches the more precise value
        ("1010", "101110", False),
        ("10", "105959.123456", True),
        ("1000-1200", "1000", True),
        ("1000-1200", "1130", True),
        ("1000-1200", "115959.999", True),
        ("1000-1200", "1200", True),
        ("1000-1200", "120059", True),  # the upper bound covers its whole minute
        ("1000-1200", "1201", False),
        ("1000-1200", "0959", False),
        ("1000-", "2359", True),
        ("1000-", "0900", False),
        ("-1000", "0000", True),
        ("-1000", "1001", False),
        ("10:00-12:00", "11:30:00", True),  # colons (ACR-NEMA style) are ignored
        ("10:00-12:00", "12:30:00", False),
        ("10:10:10", "101010", True),
        ("101010.5", "101010.5", True),
    ],
)
def test_time_matching(query, candidate, expected):
    assert matches("TM", query, candidate) is expected


@pytest.mark.parametrize(
    "query", ["1", "abc", "100", "10101", "101010.", "10-abc", "1000-1200x", "1010\n"]
)
def test_malformed_time_is_a_bad_request(query):
    with pytest.raises(BadRequest):
        matches("TM", query, "101010")
    with pytest.raises(BadRequest):
        validate_value("TM", query, "Attr")


@pytest.mark.parametrize(
    ("query", "candidate", "expected"),
    [
        ("20250101-", "20250101120000", True),
        ("20250101-20250102", "20250102235959", True),
        ("20250101-20250102", "20250103000000", False),
        ("2025010112-2025010113", "20250101123000", True),
        ("20250101120000", "20250101120000.5", True),
    ],
)
def test_datetime_matching(query, candidate, expected):
    assert matches("DT", query, candidate) is expected


@pytest.mark.parametrize("query", ["202", "2025-01-01T10", "20250101-x"])
def test_malformed_datetime_is_a_bad_request(query):
    with pytest.raises(BadRequest):
        matches("DT", query, "20250101")


# --- validate_value -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("vr", "query"),
    [
        ("DA", ""),
        ("DA", "*"),
        ("DA", "20250101"),
        ("DA", "20250101-"),
        ("DA", "-20250101"),
        ("TM", "10:00-12:00"),
        ("DT", "20250101120000.123+0100"),
        ("LO", "2025-anything*"),
        ("PN", "-"),
    ],
)
def test_validate_value_accepts(vr, query):
    validate_value(vr, query, "Attr")


@pytest.mark.parametrize("vr", ["DA", "TM", "DT"])
def test_validate_value_refuses_empty_range(vr):
    with pytest.raises(BadRequest) as info:
        validate_value(vr, "-", "Attr")
    assert "empty range" in info.value.message


# --- person names ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "candidate", "expected"),
    [
        ("Smith^John", "Smith^John", True),
        ("smith^john", "SMITH^JOHN", True),
        ("SMITH^JOHN", "Smith^John", True),
        ("Smith^John^^", "Smith^John", True),  # trailing empty components ignored
        ("Smith^John", "Smith^John^^^", True),
        ("Smith", "Smith^John", False),  # not fuzzy: the whole name
        ("Smith^Jon", "Smith^John", False),
        ("smi*", "Smith^John", True),
        ("*JOHN", "Smith^John", True),
        ("*^jo*", "Smith^John", True),
        ("Sm?th*", "SMYTH^JOHN", True),
        ("Sm?th", "Smith^John", False),
        ("jo*", "Smith^John", False),  # a wildcard anchors at the start
    ],
)
def test_person_name_matching(query, candidate, expected):
    assert matches("PN", query, candidate) is expected


@pytest.mark.parametrize(
    ("query", "candidate", "expected"),
    [
        ("smi", "Smith^John", True),
        ("jo", "Smith^John", True),
        ("JOHN", "Smith^John", True),
        ("xyz", "Smith^John", False),
        ("mith", "Smith^John", False),  # word prefixes, not substrings
        ("smi jo", "Smith^John", True),  # every query word must prefix some name word
        ("smi^jo", "Smith^John", True),
        ("smi xyz", "Smith^John", False),
        ("smith", "Smith^John^^Dr", True),
        ("yam", "Yamada^Tarou=YAMADA^TAROU", True),
        ("smi", "Jones^Ann", False),
    ],
)
def test_fuzzy_person_name_matching(query, candidate, expected):
    assert matches("PN", query, candidate, fuzzy=True) is expected


def test_fuzzy_matching_uses_wildcards_when_the_query_has_them():
    assert matches("PN", "smi*", "Smith^John", fuzzy=True)
    assert not matches("PN", "jo*", "Smith^John", fuzzy=True)
    assert matches("PN", "*jo*", "Smith^John", fuzzy=True)


def test_fuzzy_matching_is_for_person_names_only():
    assert not matches("LO", "smi", "Smith", fuzzy=True)
    assert matches("LO", "Smith", "Smith", fuzzy=True)


def test_person_name_matches_any_value():
    assert matches("PN", "jones", "Smith^John", "Jones", fuzzy=True)
    assert matches("PN", "JONES", "Smith^John", "Jones")
    assert not matches("PN", "Doe", "Smith^John", "Jones")


# --- wildcard matching is linear, not backtracking (issue 23) --------------------------------


def _regex_wildcard(pattern: str, value: str) -> bool:
    """The former regular-expression translation: the reference semantics."""
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.match(f"^{body}\\Z", value, re.DOTALL) is not None


def test_wildcard_match_agrees_with_the_regular_expression():
    rng = random.Random(23)
    for _ in range(5000):
        pattern = "".join(rng.choice("ab*?.\\\n") for _ in range(rng.randint(0, 8)))
        value = "".join(rng.choice("ab.\\\n") for _ in range(rng.randint(0, 10)))
        assert wildcard_match(pattern, value) == _regex_wildcard(pattern, value), (pattern, value)


def matcher_steps(call: Callable[[], object]) -> list[int]:
    """The lines ``wildcard_match`` runs in each of its calls during ``call()``: its steps,
    counted by the interpreter (no clock: the count is the same on any machine)."""
    code = wildcard_match.__code__
    per_call: list[int] = []

    def trace(frame: FrameType, event: str, arg: object) -> Any:
        if frame.f_code is not code:
            return None
        per_call.append(0)

        def lines(frame: FrameType, event: str, arg: object) -> Any:
            if event == "line":
                per_call[-1] += 1
            return lines

        return lines

    sys.settrace(trace)
    try:
        call()
    finally:
        sys.settrace(None)
    return per_call


#: Lines one step of the matcher's loop runs at most (the loop test, a branch, its body).
LINES_PER_STEP = 6


@pytest.mark.parametrize(
    ("pattern", "value"),
    [
        ("*A" * 5_000, "A" * 63 + "B"),  # 10,000 characters against 64
        ("*A" * 4_999 + "*B", "A" * 64),
        ("*A" * 31 + "*B", "A" * 10_000),  # 64 characters against 10,000
        ("*?" * 32, "x" * 10_000),
        ("*?" * 31 + "*~", "x" * 10_000),
        ("?*" * 32, "x" * 10_000),
        ("*" * 63 + "~", "x" * 10_000),
        ("*?*?*?*?*?*?*~", "an ordinary study description of 45 characters"[:45]),
    ],
)
def test_the_matchers_steps_are_bounded_by_pattern_times_value(pattern, value):
    """Issue 23: a backtracking regex took 1.9 s on six ``A*`` against 64 ``A``, each more
    x8-10. The glob's steps stay within a constant times len(pattern) x len(value)."""
    (steps,) = matcher_steps(lambda: wildcard_match(pattern, value))
    assert steps <= LINES_PER_STEP * (len(pattern) + 1) * (len(value) + 1), steps


@pytest.mark.parametrize(
    ("pattern", "value"),
    [
        ("*A*A*A*A*A*B", "A" * 64),
        ("*A*A*A*A*A*A*B", "A" * 64),
        ("*A" * 31 + "*B", "A" * 1024),
        ("*?*?*?*?*?*?*~", "an ordinary study description of 45 characters"[:45]),
        ("?*" * 32, "x" * 1024),
    ],
)
def test_a_query_value_matches_in_bounded_steps(pattern, value):
    """Through the QIDO matcher, for a LO and a PN attribute (a PN value is matched whole,
    upper-cased): one matcher call for the one value, within the bound."""
    for vr in ("LO", "PN"):
        calls = matcher_steps(lambda vr=vr: value_matches(vr, pattern, [value], False, "X"))
        assert len(calls) == 1, (vr, len(calls))
        bound = LINES_PER_STEP * (len(pattern) + 1) * (len(value) + 1)
        assert max(calls) <= bound, (vr, max(calls))


def test_more_than_64_wildcards_is_a_bad_request():
    validate_value("LO", "*?" * 32, "StudyDescription")  # 64: the bound itself is fine
    with pytest.raises(BadRequest, match="more than 64 wildcards"):
        validate_value("LO", "*?" * 32 + "*", "StudyDescription")
    with pytest.raises(BadRequest, match="more than 64 wildcards"):
        value_matches("PN", "?" * 65, ["X" * 65], False, "PatientName")
