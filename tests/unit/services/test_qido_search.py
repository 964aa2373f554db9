"""services/qido_search.py: what a search matches, returns and pages, on DICOM JSON built by
pydicom from real datasets."""

from __future__ import annotations

from typing import Any

from chalicelib.dicomweb.dicomjson import tag_hex
from chalicelib.dicomweb.query import Query, parse_query
from chalicelib.services.qido_search import MAX_CANDIDATES, MAX_EXAMINED, Search
from chalicelib.services.qido_streams import Candidate
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


def candidates(items: list[Any]) -> list[Candidate]:
    return [Candidate((f"{n:03d}",), item) for n, item in enumerate(items)]


def test_page_applies_offset_and_limit_and_ends_after_its_last_match() -> None:
    items = [as_json(PatientID=f"P{n}") for n in range(5)]
    s = Search(parse_query({"offset": ["1"], "limit": ["2"]}, 10, 10), "studies")
    page = s.page(candidates(items), skip=1)
    assert [m[tag_hex("PatientID")]["Value"][0] for m in page.matches] == ["P1", "P2"]
    assert page.resume == ("002",) and not page.cut  # the next page starts after P2
    assert s.warnings == []  # a limit the client asked for is not warned of
    last = s.page(candidates(items)[3:], skip=0)
    assert len(last.matches) == 2 and last.resume is None  # nothing after: no next page


def test_rejections_are_bounded_per_request_and_the_page_says_where_it_stopped() -> None:
    """A filter no key answers: after MAX_EXAMINED items rejected the search stops, with the
    position of the last one examined; keys rejected on their value count apart."""
    s = Search(parse_query({"PatientID": ["P7"]}, 10, 10), "studies")
    others = [Candidate((f"{n:05d}",), as_json(PatientID="x")) for n in range(MAX_EXAMINED + 5)]
    page = s.page([Candidate(("a",), as_json(PatientID="P7")), *others])
    assert len(page.matches) == 1 and page.cut
    assert page.resume == (f"{MAX_EXAMINED - 1:05d}",) and s.examined == MAX_EXAMINED
    keys = [Candidate((f"{n:05d}",), None, read=False) for n in range(MAX_CANDIDATES + 1)]
    walked = Search(Query(), "studies").page(keys)
    assert walked.cut and walked.resume == (f"{MAX_CANDIDATES - 1:05d}",)
    few = Search(Query(), "studies").page(keys[: MAX_EXAMINED + 1])
    assert not few.cut and few.resume is None  # 1,001 keys are far under their bound


def test_the_filters_that_select() -> None:
    """Universal matching selects nothing; a key of another level is ignored."""
    params = {"PatientID": ["*"], "Modality": [""], "Rows": ["512"], "SeriesNumber": ["3"]}
    s = Search(parse_query(params, 10, 10), "series")
    assert s.filters() == {"SeriesNumber": ("3",)}
