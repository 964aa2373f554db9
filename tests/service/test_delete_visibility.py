"""DELETE answers 204 only once no read finds what it removed (issue 21): right after the
answer, with no indexer run in between (the S3 ObjectRemoved events are still queued), QIDO at
every level, by path and by UID (through the by_uid index, which still lists the instance items
a series or study DELETE leaves for the indexer), study, series and instance metadata, WADO,
frames and rendered images find nothing of it, and the counts are already exact. Then the
indexer drains the events and the catalog is exactly what a rebuild from S3 gives.

Each test fails if the DELETE's inline catalog step is left out (the reads then list the
deleted data until the events are indexed)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from chalicelib.dicomweb.resources import InstanceRef
from chalicelib.storage import catalog_removal as catalog_module
from chalicelib.storage.keys import instance_key
from tests.conftest import TENANT
from tests.factories import dataset, to_bytes, uid
from tests.service.helpers import catalog_items, inject_error, rebuilt_catalog

STUDY, SERIES, SOP = "0020000D", "0020000E", "00080018"
N_STUDY_SERIES, N_STUDY_INSTANCES, N_SERIES_INSTANCES = "00201206", "00201208", "00201209"
MODALITIES = "00080061"
ANY = 'multipart/related; type="application/dicom"; transfer-syntax=*'


@dataclass
class Archive:
    study: str
    series: dict[str, list[str]] = field(default_factory=dict)  # series -> SOPs
    other_study: str = ""

    def series_of(self, sop: str) -> str:
        return next(s for s, sops in self.series.items() if sop in sops)


def store(stack: Any, ds: Any) -> None:
    r = stack.post("/studies", data=to_bytes(ds), headers={"Content-Type": "application/dicom"})
    assert r.status_code == 200, r.text


@pytest.fixture
def archive(stack: Any) -> Archive:
    """A study of a CT series (3 instances) and an MR series (2), and another study; indexed,
    with series metadata documents and a thumbnail derived."""
    a = Archive(uid(), other_study=uid())
    for modality, count in (("CT", 3), ("MR", 2)):
        series = uid()
        a.series[series] = []
        for _ in range(count):
            ds = dataset(study=a.study, series=series, modality=modality)
            store(stack, ds)
            a.series[series].append(ds.SOPInstanceUID)
    store(stack, dataset(study=a.other_study, PatientID="OTHER", StudyDate="20240101"))
    stack.drain()
    for series, sops in a.series.items():
        assert stack.get(f"/studies/{a.study}/series/{series}/metadata").status_code == 200
        path = f"/studies/{a.study}/series/{series}/instances/{sops[0]}/thumbnail"
        assert stack.get(path).status_code == 200
    return a


def qido(stack: Any, path: str, **params: str) -> list[dict[str, Any]]:
    r = stack.get(path, params=params)
    assert r.status_code == 200, (path, params, r.text)
    found: list[dict[str, Any]] = r.json()
    return found


def uids(results: list[dict[str, Any]], tag: str) -> set[str]:
    return {r[tag]["Value"][0] for r in results}


def value(result: dict[str, Any], tag: str) -> Any:
    return result[tag].get("Value", [])


def sops_in_metadata(stack: Any, path: str) -> set[str] | None:
    """The SOP Instance UIDs a metadata document lists; None when it is 404."""
    r = stack.get(path)
    if r.status_code == 404:
        return None
    assert r.status_code == 200, r.text
    return uids(r.json(), SOP)


def assert_nothing_of(
    stack: Any, a: Archive, sops: set[str], series: set[str], study_gone: bool = False
) -> None:
    """No read finds these instances, series (or the study)."""
    study = a.study
    # QIDO, studies
    if study_gone:
        assert study not in uids(qido(stack, "/studies"), STUDY)
        assert qido(stack, "/studies", StudyInstanceUID=study) == []
        assert qido(stack, "/studies", PatientID="PID-1") == []  # by_value index
        assert qido(stack, "/studies", StudyDate="20250102") == []  # by_date index
    # QIDO, series: by study path, by UID (by_uid index), all, and filtered
    assert not uids(qido(stack, f"/studies/{study}/series"), SERIES) & series
    assert not uids(qido(stack, "/series"), SERIES) & series
    assert not uids(qido(stack, "/series", StudyInstanceUID=study), SERIES) & series
    for s in series:
        assert qido(stack, "/series", SeriesInstanceUID=s) == []
    # QIDO, instances: every path
    paths = [
        ("/instances", {}),
        ("/instances", {"StudyInstanceUID": study}),
        (f"/studies/{study}/instances", {}),
        *((f"/studies/{study}/series/{s}/instances", {}) for s in a.series),
        *(("/instances", {"SeriesInstanceUID": s}) for s in a.series),
        *(("/instances", {"SOPInstanceUID": sop}) for sop in sops),
        *((f"/studies/{study}/instances", {"SOPInstanceUID": sop}) for sop in sops),
    ]
    for path, params in paths:
        assert not uids(qido(stack, path, **params), SOP) & sops, (path, params)
    # metadata
    study_meta = sops_in_metadata(stack, f"/studies/{study}/metadata")
    assert study_meta is None if study_gone else not study_meta & sops
    for s in a.series:
        listed = sops_in_metadata(stack, f"/studies/{study}/series/{s}/metadata")
        assert listed is None if (s in series or study_gone) else not listed & sops
    for sop in sops:
        instance = f"/studies/{study}/series/{a.series_of(sop)}/instances/{sop}"
        assert stack.get(f"{instance}/metadata").status_code == 404
        assert stack.get(instance, headers={"Accept": ANY}).status_code == 404  # WADO
        for part in ("frames/1", "rendered", "thumbnail"):
            assert stack.get(f"{instance}/{part}", headers={"Accept": "*/*"}).status_code == 404
    for s in series:
        assert stack.get(f"/studies/{study}/series/{s}", headers={"Accept": ANY}).status_code == 404
        assert stack.get(f"/studies/{study}/series/{s}/thumbnail").status_code == 404
    if study_gone:
        assert stack.get(f"/studies/{study}", headers={"Accept": ANY}).status_code == 404


def assert_other_study_intact(stack: Any, a: Archive) -> None:
    (other,) = qido(stack, "/studies", StudyInstanceUID=a.other_study)
    assert value(other, N_STUDY_INSTANCES) == [1]


def assert_converges(stack: Any) -> None:
    """The catalog is what a rebuild from S3 gives (once the indexer drained the events)."""
    assert catalog_items(stack, TENANT) == rebuilt_catalog(stack, TENANT)


def feed_actions(stack: Any) -> list[str]:
    return [e["action"] for e in stack.get("/changefeed", params={"limit": "1000"}).json()]


def test_an_instance_deleted_is_gone_from_every_read_at_once(stack: Any, archive: Archive) -> None:
    a = archive
    ct = next(iter(a.series))
    gone = a.series[ct][0]
    path = f"{stack.url}/studies/{a.study}/series/{ct}/instances/{gone}"
    before = feed_actions(stack)
    assert stack.http.delete(path).status_code == 204
    assert_nothing_of(stack, a, {gone}, set())
    # counts already exact, and the change feed has its one entry
    (study,) = qido(stack, "/studies", StudyInstanceUID=a.study)
    assert value(study, N_STUDY_INSTANCES) == [4] and value(study, N_STUDY_SERIES) == [2]
    series = {r[SERIES]["Value"][0]: r for r in qido(stack, f"/studies/{a.study}/series")}
    assert value(series[ct], N_SERIES_INSTANCES) == [2]
    assert feed_actions(stack) == [*before, "deleted"]
    assert_other_study_intact(stack, a)
    stack.drain()
    assert feed_actions(stack) == [*before, "deleted"]  # the event found it absent
    assert_converges(stack)


def test_a_series_deleted_is_gone_from_every_read_at_once(stack: Any, archive: Archive) -> None:
    a = archive
    ct, mr = list(a.series)
    assert stack.http.delete(f"{stack.url}/studies/{a.study}/series/{mr}").status_code == 204
    assert_nothing_of(stack, a, set(a.series[mr]), {mr})
    (study,) = qido(stack, "/studies", StudyInstanceUID=a.study)
    assert value(study, N_STUDY_INSTANCES) == [3] and value(study, N_STUDY_SERIES) == [1]
    assert value(study, MODALITIES) == ["CT"]
    assert qido(stack, "/studies", ModalitiesInStudy="MR") == []
    assert qido(stack, "/instances", Modality="MR") == []
    assert uids(qido(stack, f"/studies/{a.study}/instances"), SOP) == set(a.series[ct])
    assert_other_study_intact(stack, a)
    before = feed_actions(stack)
    stack.drain()
    # the per-instance clean-up followed through the indexer: one entry per instance
    assert feed_actions(stack) == [*before, "deleted", "deleted"]
    assert_converges(stack)
    (study,) = qido(stack, "/studies", StudyInstanceUID=a.study)
    assert value(study, N_STUDY_INSTANCES) == [3] and value(study, N_STUDY_SERIES) == [1]


def test_a_study_deleted_is_gone_from_every_read_at_once(stack: Any, archive: Archive) -> None:
    a = archive
    assert stack.http.delete(f"{stack.url}/studies/{a.study}").status_code == 204
    every = {sop for sops in a.series.values() for sop in sops}
    assert_nothing_of(stack, a, every, set(a.series), study_gone=True)
    assert_other_study_intact(stack, a)
    stack.drain()
    assert_converges(stack)
    assert_nothing_of(stack, a, every, set(a.series), study_gone=True)
    assert stack.http.delete(f"{stack.url}/studies/{a.study}").status_code == 404


def test_a_study_of_more_series_than_one_transaction_takes(
    stack: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past ``SERIES_PER_TRANSACTION`` series a study goes in several transactions, the 204
    after the last."""
    monkeypatch.setattr(catalog_module, "SERIES_PER_TRANSACTION", 2)
    a = Archive(uid(), other_study=uid())
    for modality in ("CT", "MR", "CT", "MR", "CT"):
        ds = dataset(study=a.study, modality=modality)
        store(stack, ds)
        a.series[ds.SeriesInstanceUID] = [ds.SOPInstanceUID]
    store(stack, dataset(study=a.other_study, PatientID="OTHER", StudyDate="20240101"))
    stack.drain()
    assert stack.http.delete(f"{stack.url}/studies/{a.study}").status_code == 204
    every = {sop for sops in a.series.values() for sop in sops}
    assert_nothing_of(stack, a, every, set(a.series), study_gone=True)
    stack.drain()
    assert_converges(stack)


def test_a_series_stored_again_right_after_its_delete(stack: Any, archive: Archive) -> None:
    """A new instance in the deleted series' UID, indexed before the clean-up: the series is
    back with that instance only (the old ones stay hidden), and the clean-up that follows does
    not count them off the new series."""
    a = archive
    _, mr = list(a.series)
    assert stack.http.delete(f"{stack.url}/studies/{a.study}/series/{mr}").status_code == 204
    again = dataset(study=a.study, series=mr, modality="MR")
    store(stack, again)
    key = f"dicom/{TENANT}/{a.study}/{mr}/{again.SOPInstanceUID}.dcm"
    stack.deps.indexer.handle_key(key)  # as STOW does inline (idempotent if it did)
    found = qido(stack, f"/studies/{a.study}/series/{mr}/instances")
    assert uids(found, SOP) == {again.SOPInstanceUID}
    (series,) = qido(stack, "/series", SeriesInstanceUID=mr)
    assert value(series, N_SERIES_INSTANCES) == [1]
    assert_nothing_of(stack, a, set(a.series[mr]), set())
    stack.drain()
    assert_converges(stack)
    (series,) = qido(stack, "/series", SeriesInstanceUID=mr)
    assert value(series, N_SERIES_INSTANCES) == [1]
    (study,) = qido(stack, "/studies", StudyInstanceUID=a.study)
    assert value(study, N_STUDY_INSTANCES) == [4] and value(study, N_STUDY_SERIES) == [2]


def test_the_same_instance_stored_again_right_after_its_series_delete(
    stack: Any, archive: Archive
) -> None:
    a = archive
    _, mr = list(a.series)
    sop = a.series[mr][0]
    again = dataset(study=a.study, series=mr, sop=sop, modality="MR")
    assert stack.http.delete(f"{stack.url}/studies/{a.study}/series/{mr}").status_code == 204
    store(stack, again)
    stack.deps.indexer.handle_key(f"dicom/{TENANT}/{a.study}/{mr}/{sop}.dcm")
    assert uids(qido(stack, f"/studies/{a.study}/series/{mr}/instances"), SOP) == {sop}
    stack.drain()
    assert_converges(stack)


CONFLICT = {"CancellationReasons": [{"Code": "TransactionConflict"}] * 3}


@pytest.mark.parametrize(
    ("code", "extra", "first_answer"),
    [
        ("TransactionCanceledException", CONFLICT, 204),  # retried inside the request
        ("ThrottlingException", None, 503),  # the client's retry completes it
    ],
)
def test_a_series_delete_whose_transaction_fails_once(
    stack: Any, archive: Archive, code: str, extra: Any, first_answer: int
) -> None:
    a = archive
    _, mr = list(a.series)
    path = f"{stack.url}/studies/{a.study}/series/{mr}"
    db = stack.deps.clients.dynamodb
    with inject_error(db, "TransactWriteItems", code, 400, times=1, extra=extra) as fired:
        assert stack.http.delete(path).status_code == first_answer
    assert fired[0] == 1
    if first_answer != 204:
        assert stack.http.delete(path).status_code == 204
    assert_nothing_of(stack, a, set(a.series[mr]), {mr})
    stack.drain()
    assert_converges(stack)


def test_a_study_with_an_object_deleted_straight_in_the_bucket(
    stack: Any, archive: Archive
) -> None:
    """An instance deleted in S3 (a delete marker over its object), then its study deleted
    through the API: the DELETE purges the marker too, and answers 204 (moto raised on the
    marker's event and the DELETE answered 500: local/moto_patches.py)."""
    deps = stack.deps
    series, sops = next(iter(archive.series.items()))
    key = instance_key(InstanceRef(TENANT, archive.study, series, sops[0]))
    deps.clients.s3.delete_object(Bucket=deps.settings.bucket, Key=key)
    stack.drain()
    r = stack.http.delete(f"{stack.url}/studies/{archive.study}")
    assert r.status_code == 204, r.text
    study_prefix = key.rsplit("/", 2)[0] + "/"
    versions = deps.clients.s3.list_object_versions(
        Bucket=deps.settings.bucket, Prefix=study_prefix
    )
    assert not versions.get("Versions") and not versions.get("DeleteMarkers")
    stack.drain()
    assert_other_study_intact(stack, archive)
    assert_converges(stack)
