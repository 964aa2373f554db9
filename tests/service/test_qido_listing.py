"""QIDO at the cost of its page (issue 24), through HTTP into the app on moto: a tenant's series
and instances newest first, by Modality, SOPClassUID and SeriesDate, on designed keys; the
items read by a page do not grow with the archive; every answer that may have more carries a
next link whose cursor reads on from where the page ended; an offset without it is read past
on index keys alone where the key answers the query; a filter no key answers stops after a
bounded examination with a Warning and a link to continue; what a STOW stored is found by the
new keys at once, with the emulated index lag on."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from chalicelib.services import qido_search
from chalicelib.storage import catalog_resume, keys
from local.moto_patches import index_lag
from tests.factories import SECONDARY_CAPTURE, dataset, multipart_body, to_bytes, uid
from tests.service.helpers import MULTIPART

UIDS = {"study": "0020000D", "series": "0020000E", "sop": "00080018"}


def store_study(stack: Any, day: int, *, sc: bool = False) -> list[Any]:
    """A study of day ``day`` (2024-01-01 + day): a CT and an MR series of three instances, the
    series dated the study's day; with ``sc`` one of the CT instances is a Secondary Capture."""
    study = uid()
    date = f"2024{1 + day // 28:02d}{1 + day % 28:02d}"
    made = []
    for modality in ("CT", "MR"):
        series = uid()
        for n in range(3):
            ds = dataset(
                study=study,
                series=series,
                modality=modality,
                StudyDate=date,
                SeriesDate=date,
                SeriesTime=f"10{n:02d}00",
                InstanceNumber=n + 1,
                PatientID=f"P{day}",
            )
            if sc and modality == "CT" and n == 0:
                ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = SECONDARY_CAPTURE
            made.append(ds)
    r = stack.post(
        "/studies",
        data=multipart_body([to_bytes(d) for d in made]),
        headers={"Content-Type": MULTIPART},
    )
    assert r.status_code == 200, r.text
    return made


def archive(stack: Any, days: range) -> list[Any]:
    made = [ds for day in days for ds in store_study(stack, day, sc=day % 2 == 0)]
    stack.drain()
    return made


def get(stack: Any, path: str, params: dict[str, str] | None = None) -> tuple[Any, int, int]:
    """The answer, and the DynamoDB items it read: index entries and items."""
    stack.counter.reset()
    r = stack.get(path, params=params or {})
    assert r.status_code == 200, r.text
    snap = stack.counter.snapshot()
    assert "dynamodb.Scan" not in snap
    queried = int(snap.get("dynamodb.Query", {}).get("items_read", 0))
    batched = int(snap.get("dynamodb.BatchGetItem", {}).get("items_read", 0))
    return r, queried, batched


def uids(r: Any, level: str) -> list[str]:
    return [m[UIDS[level]]["Value"][0] for m in r.json()]


def follow(stack: Any, path: str, params: dict[str, str], level: str) -> tuple[list[str], int]:
    """Every page, by the next links; the results and how many pages."""
    found, pages = [], 0
    r = stack.get(path, params=params)
    while True:
        assert r.status_code == 200, r.text
        found += uids(r, level)
        pages += 1
        link = r.headers.get("Link")
        if not link:
            return found, pages
        url = re.fullmatch(r"<(.+)>; rel=\"next\"", link).group(1)
        split = urlsplit(url)
        r = stack.get(
            split.path,
            params={k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()},
        )


@pytest.fixture
def small_shards(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each shard reads its share of a page and one more, so a few studies exceed a page."""
    monkeypatch.setattr(catalog_resume, "SHARD_SLACK", 1)


def test_series_and_instances_newest_first(stack: Any) -> None:
    made = archive(stack, range(6))
    r, _, _ = get(stack, "/series")
    studies = [m[UIDS["study"]]["Value"][0] for m in r.json()]
    by_day = list(dict.fromkeys(ds.StudyInstanceUID for ds in reversed(made)))
    assert list(dict.fromkeys(studies)) == by_day and len(studies) == 12
    r, _, _ = get(stack, "/instances")
    assert len(r.json()) == 36
    first = r.json()[0]
    assert first["00100020"]["Value"] == ["P5"]  # with its study's attributes
    assert first["00080060"]["Value"][0] in ("CT", "MR")  # and its series'


CASES = [
    ("/series", {}, "series"),
    ("/instances", {}, "sop"),
    ("/series", {"Modality": "MR"}, "series"),
    ("/instances", {"Modality": "CT"}, "sop"),
    ("/instances", {"SOPClassUID": SECONDARY_CAPTURE}, "sop"),
    ("/series", {"SeriesDate": "20240102-20240130"}, "series"),
    ("/instances", {"SeriesDate": "-20240128"}, "sop"),
]


@pytest.mark.parametrize(("path", "params", "level"), CASES)
def test_a_page_reads_the_same_whatever_the_archive(
    stack, small_shards, path, params, level
) -> None:
    """Items read: equal at 8 and 24 studies. Index entries: within what one page of each
    shard, and one more page of each, reads (each shard its share of the page and one more),
    whatever the archive."""
    per_shard = -(-3 // keys.LIST_SHARDS) + 1  # the page, one more, over the shards, + slack
    bound = 2 * keys.LIST_SHARDS * per_shard + 12  # + an expansion's partition of 6
    archive(stack, range(8))
    page = {**params, "limit": "2"}
    r, small_keys, small_items = get(stack, path, page)
    assert len(r.json()) == 2 and r.headers["Link"]
    archive(stack, range(8, 24))
    r, big_keys, items = get(stack, path, page)
    assert len(r.json()) == 2
    assert items == small_items, (path, params)
    assert small_keys <= bound and big_keys <= bound, (small_keys, big_keys)
    assert items <= 3 * 3  # the page (and one more), with its series and studies


@pytest.mark.parametrize(("path", "params", "level"), CASES)
def test_next_links_page_through_everything_once(stack, small_shards, path, params, level) -> None:
    archive(stack, range(10))
    whole = uids(stack.get(path, params={**params, "limit": "1000"}), level)
    paged, pages = follow(stack, path, {**params, "limit": "3"}, level)
    assert paged == whole and len(set(paged)) == len(paged)
    assert pages == -(-len(whole) // 3)  # no empty last page: a link only when more follow


def test_an_offset_is_read_past_on_index_keys_alone(stack: Any) -> None:
    archive(stack, range(10))
    whole = uids(stack.get("/instances", params={"limit": "1000"}), "sop")
    r, keys, items = get(stack, "/instances", {"offset": "40", "limit": "5"})
    assert uids(r, "sop") == whole[40:45]
    assert keys >= 46  # the offset's entries, keys only
    assert items <= 6 + 3 + 3  # the page's 5 instances and one more, their series and studies
    link = r.headers["Link"]
    assert "offset=45" in link and "cursor=" in link and "limit=5" in link


def test_a_filter_no_key_answers_stops_with_a_warning_and_a_link(stack, monkeypatch) -> None:
    monkeypatch.setattr(qido_search, "MAX_EXAMINED", 7)
    archive(stack, range(6))
    r, _, _ = get(stack, "/instances", {"InstanceNumber": "3"})
    assert "The search stopped after examining 7 candidates" in r.headers["Warning"]
    assert "offset=" in r.headers["Link"]
    found, pages = follow(stack, "/instances", {"InstanceNumber": "3"}, "sop")
    assert len(found) == 12 and pages > 1  # every match, page after page


def test_a_cursor_is_for_its_own_search_and_offset(stack: Any) -> None:
    archive(stack, range(3))
    r = stack.get("/series", params={"limit": "2"})
    cursor = parse_qs(urlsplit(r.headers["Link"][1:-13]).query)["cursor"][0]
    ok = stack.get("/series", params={"limit": "2", "offset": "2", "cursor": cursor})
    assert ok.status_code == 200 and len(ok.json()) == 2
    for params in (
        {"offset": "4", "cursor": cursor},  # another offset
        {"offset": "2", "cursor": cursor, "Modality": "CT"},  # another search
        {"offset": "2", "cursor": "not-a-cursor"},
    ):
        bad = stack.get("/series", params=params)
        assert bad.status_code == 400, params
        assert bad.json()["error"]["code"] == "InvalidParameter"
    deep = stack.get("/series", params={"offset": "20000", "cursor": cursor})
    assert deep.status_code == 400  # the offset beyond 10,000 is allowed with a cursor, if its own


def test_what_a_stow_stored_is_found_by_the_new_keys_at_once(stack: Any) -> None:
    with index_lag(reads=3):
        made = store_study(stack, 27, sc=True)
        sops = {ds.SOPInstanceUID for ds in made}
        series = {ds.SeriesInstanceUID for ds in made}
        assert set(uids(stack.get("/instances"), "sop")) == sops
        assert set(uids(stack.get("/series"), "series")) == series
        ct = stack.get("/series", params={"Modality": "CT"})
        assert uids(ct, "series") == [made[0].SeriesInstanceUID]
        sc = stack.get("/instances", params={"SOPClassUID": SECONDARY_CAPTURE})
        assert uids(sc, "sop") == [made[0].SOPInstanceUID]
