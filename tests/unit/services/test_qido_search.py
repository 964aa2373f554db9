"""services/qido_search.py: what a search matches, returns and pages, on DICOM JSON built by
pydicom from real datasets."""

from __future__ import annotations

from typing import Any

from chalicelib.dicomweb.dicomjson import tag_hex
from chalicelib.dicomweb.query import Query, parse_query
from chalicelib.services.qido_search import MAX_CANDIDATES, Search
from tests.factories import dataset


def as_json(**keywords: Any) -> dict[str, Any]:
    ds = dataset(**keywords)
    del ds.PixelData
    found: dict[str, Any] = ds.to_json_dict()
    return found


def test_matching_uses_the_levels_keys_only() -> None:
    s = Search(parse_query({"PatientID": ["PID-1"], "Rows": ["16"]}, 10, 10), "studies")
    s.check()
    assert s.matches(as_json())  # Rows is not an attribute of the study level: ignored
    assert not s.matches(as_json(PatientID="other"))
    assert s.warnings == ["Rows is not supported for matching and was ignored"]


def test_shape_keeps_the_default_attributes_and_the_included() -> None:
    attrs = as_json(StudyDescription="brain")
    default = Search(Query(), "studies").shape(attrs)
    assert tag_hex("PatientID") in default and tag_hex("Rows") not in default
    assert tag_hex("SeriesInstanceUID") in default  # both UIDs always
    included = Search(Query(includefield=("StudyDescription",)), "studies").shape(attrs)
    assert included[tag_hex("StudyDescription")]["Value"] == ["brain"]


def test_page_applies_offset_and_limit() -> None:
    items = [as_json(PatientID=f"P{n}") for n in range(5)]
    s = Search(parse_query({"offset": ["1"], "limit": ["2"]}, 10, 10), "studies")
    page = s.page(iter(items), False)
    assert [m[tag_hex("PatientID")]["Value"][0] for m in page.matches] == ["P1", "P2"]
    assert page.warnings == []  # a limit the client asked for is not warned of


def test_a_bounded_walk_stops_and_says_so() -> None:
    s = Search(Query(), "studies")
    examined = list(s.bound(iter(range(MAX_CANDIDATES + 5)), True))
    assert len(examined) == MAX_CANDIDATES
    page = s.page(iter([]), True)
    assert page.warnings[0].startswith(f"The search stopped after examining {MAX_CANDIDATES}")
    unbounded = Search(Query(), "studies")
    assert len(list(unbounded.bound(iter(range(MAX_CANDIDATES + 5)), False))) == MAX_CANDIDATES + 5
