"""Searchable on 200: what a STOW lists as stored is found at once by every read.

The emulator's GSI lag is on (``local.moto_patches.index_lag``: an entry written is missing from
the next index reads, as DynamoDB's eventually consistent indexes may leave it), the indexer's
queue is never drained, and nothing sleeps or retries: each read runs once, right after the
answer. One test turns the service's wait off and shows a read missing the instance, so these
tests cannot pass without it."""

from __future__ import annotations

import random
from typing import Any

import pytest
import requests

from local.moto_patches import index_lag
from tests.factories import dataset, multipart_body, to_bytes, uid
from tests.service.helpers import MULTIPART

REFERENCED, FAILED = "00081199", "00081198"
SOP_UID, FAILURE_REASON = "00081155", "00081197"
LAG = 3  # index reads an entry stays invisible after it is written


def sops(answer: dict[str, Any], sequence: str = REFERENCED) -> list[str]:
    return [i[SOP_UID]["Value"][0] for i in answer.get(sequence, {}).get("Value", [])]


def values(found: list[dict[str, Any]], tag: str) -> list[Any]:
    return [m[tag]["Value"][0] for m in found]


def instances(n: int, study: str, series: str, patient: str) -> list[Any]:
    """``n`` instances of one series, with a patient and a study date of their own."""
    day = random.Random(study).randrange(20_000)
    date = f"{1900 + day // 365:04d}{day % 12 + 1:02d}{day % 28 + 1:02d}"
    return [
        dataset(
            study=study, series=series, PatientID=patient, AccessionNumber=patient, StudyDate=date
        )
        for _ in range(n)
    ]


def store(stack: Any, form: str, items: list[Any]) -> requests.Response:
    if form == "single":
        (ds,) = items
        return stack.post(
            "/studies", data=to_bytes(ds), headers={"Content-Type": "application/dicom"}
        )
    path = f"/studies/{items[0].StudyInstanceUID}" if form == "in-study" else "/studies"
    body = multipart_body([to_bytes(ds) for ds in items])
    return stack.post(path, data=body, headers={"Content-Type": MULTIPART})


def assert_found_everywhere(stack: Any, items: list[Any]) -> None:
    """Every read, once each, finds every instance (QIDO at each level and through each index,
    metadata at each level, WADO)."""
    study, series = items[0].StudyInstanceUID, items[0].SeriesInstanceUID
    patient, wanted = items[0].PatientID, {ds.SOPInstanceUID for ds in items}
    for ds in items:  # by SOP Instance UID: the by_uid index
        found = stack.get("/instances", params={"SOPInstanceUID": ds.SOPInstanceUID}).json()
        assert values(found, "00080018") == [ds.SOPInstanceUID]
    found = stack.get("/series", params={"SeriesInstanceUID": series}).json()  # by_uid
    assert values(found, "0020000E") == [series]
    assert values(found, "00201209") == [len(items)]
    found = stack.get("/studies", params={"PatientID": patient}).json()  # by_value
    assert values(found, "0020000D") == [study]
    assert values(found, "00201208") == [len(items)]
    found = stack.get("/studies", params={"StudyDate": items[0].StudyDate}).json()  # by_date
    assert study in values(found, "0020000D")
    found = stack.get("/instances", params={"SeriesInstanceUID": series}).json()
    assert set(values(found, "00080018")) == wanted
    found = stack.get(f"/studies/{study}/series").json()
    assert values(found, "0020000E") == [series]
    found = stack.get(f"/studies/{study}/series/{series}/instances").json()
    assert set(values(found, "00080018")) == wanted
    for path in (f"/studies/{study}/metadata", f"/studies/{study}/series/{series}/metadata"):
        r = stack.get(path)
        assert r.status_code == 200, (path, r.text)
        assert set(values(r.json(), "00080018")) == wanted
    for ds in items:
        path = f"/studies/{study}/series/{series}/instances/{ds.SOPInstanceUID}"
        assert stack.get(path + "/metadata").status_code == 200
        assert stack.get(path, headers={"Accept": "application/dicom"}).status_code == 200


@pytest.mark.parametrize(("form", "count"), [("multipart", 4), ("in-study", 3), ("single", 1)])
def test_every_stow_form_is_searchable_when_it_answers(stack, form, count):
    items = instances(count, uid(), uid(), f"P-{uid()[-8:]}")
    with index_lag(reads=LAG):
        r = store(stack, form, items)
        assert r.status_code == 200, r.text
        assert sorted(sops(r.json())) == sorted(ds.SOPInstanceUID for ds in items)
        assert_found_everywhere(stack, items)


def test_a_fourth_instance_is_in_its_series_metadata_at_once(stack):
    items = instances(4, uid(), uid(), f"P-{uid()[-8:]}")
    with index_lag(reads=LAG):
        assert store(stack, "multipart", items[:3]).status_code == 200
        assert_found_everywhere(stack, items[:3])
        assert store(stack, "multipart", items[3:]).status_code == 200
        assert_found_everywhere(stack, items)


def test_a_presigned_upload_reports_stored_only_when_searchable(stack):
    items = instances(2, uid(), uid(), f"P-{uid()[-8:]}")
    with index_lag(reads=LAG):
        files = [{"name": f"{i}.dcm", "size": len(to_bytes(ds))} for i, ds in enumerate(items)]
        started = stack.post("/uploads", json={"files": files}).json()
        for spec, ds in zip(started["files"], items, strict=True):
            put = requests.put(spec["url"], data=to_bytes(ds), headers=spec["headers"])
            assert put.status_code == 200
        stack.drain()  # the uploads' S3 events: imported, indexed inline, then marked
        status = stack.http.get(started["status"]).json()
        assert (status["stored"], status["pending"]) == (2, 0)
        assert_found_everywhere(stack, items)


def test_without_the_wait_an_index_read_misses_what_was_just_stored(stack, monkeypatch):
    """The control: these tests fail when the STOW does not wait for its index entries."""
    monkeypatch.setattr(stack.deps.indexer, "wait_searchable", lambda records: [])
    (ds,) = instances(1, uid(), uid(), f"P-{uid()[-8:]}")
    with index_lag(reads=LAG):
        assert store(stack, "single", [ds]).status_code == 200
        found = stack.get("/instances", params={"SOPInstanceUID": ds.SOPInstanceUID}).json()
        assert found == []
