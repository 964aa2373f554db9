"""Parallel STOWs into one study while the catalog meets transaction conflicts and throttling
(as DynamoDB answers parallel writers in AWS; moto never does, so they are injected on a seeded
share of calls): every instance is either searchable at once or reported failed and absent,
and the counts are exact."""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from typing import Any

from chalicelib.clock import Clock
from chalicelib.dicomweb.errors import FailureReason
from chalicelib.dicomweb.resources import InstanceRef
from chalicelib.storage.keys import instance_key
from local.moto_patches import index_lag
from tests.conftest import TENANT
from tests.factories import dataset, multipart_body, to_bytes, uid
from tests.service.helpers import MULTIPART, inject_error

REFERENCED, FAILED = "00081199", "00081198"
SOP_UID, FAILURE_REASON = "00081155", "00081197"
CLIENTS, PER_CLIENT = 8, 3
SINGLE = {"Content-Type": "application/dicom"}


def seeded_share(seed: int, share: float) -> Any:
    """A predicate true on ``share`` of the calls, the same calls every run."""
    rng, lock = random.Random(seed), threading.Lock()

    def when(params: dict[str, Any]) -> bool:
        with lock:
            return rng.random() < share

    return when


def sops(answer: dict[str, Any], sequence: str) -> list[str]:
    return [i[SOP_UID]["Value"][0] for i in answer.get(sequence, {}).get("Value", [])]


def test_parallel_stows_into_one_study_under_conflicts_and_throttling(stack):
    study = uid()
    series = [uid(), uid()]
    batches = [
        [dataset(study=study, series=series[(c + i) % 2]) for i in range(PER_CLIENT)]
        for c in range(CLIENTS)
    ]
    db = stack.deps.clients.dynamodb
    conflict = {"CancellationReasons": [{"Code": "TransactionConflict"}, {"Code": "None"}]}
    with ExitStack() as faults:
        faults.enter_context(index_lag(reads=2))
        injected = [
            faults.enter_context(
                inject_error(
                    db,
                    "TransactWriteItems",
                    "TransactionCanceledException",
                    400,
                    when=seeded_share(1, 0.25),
                    extra=conflict,
                )
            ),
            faults.enter_context(
                inject_error(
                    db,
                    "TransactWriteItems",
                    "ProvisionedThroughputExceededException",
                    400,
                    when=seeded_share(2, 0.08),
                )
            ),
            faults.enter_context(
                inject_error(db, "Query", "ThrottlingException", 400, when=seeded_share(3, 0.05))
            ),
        ]

        def send(batch: list[Any]) -> dict[str, Any]:
            body = multipart_body([to_bytes(ds) for ds in batch])
            r = stack.post(f"/studies/{study}", data=body, headers={"Content-Type": MULTIPART})
            assert r.status_code in (200, 202, 409), r.text
            return r.json()

        with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
            answers = list(pool.map(send, batches))

    assert all(n[0] > 0 for n in injected)  # each fault was met
    stored = {s for a in answers for s in sops(a, REFERENCED)}
    failed = {s for a in answers for s in sops(a, FAILED)}
    every = {ds.SOPInstanceUID for batch in batches for ds in batch}
    assert stored | failed == every and not stored & failed
    for a in answers:
        for item in a.get(FAILED, {}).get("Value", []):
            assert item[FAILURE_REASON]["Value"] == [FailureReason.OUT_OF_RESOURCES]
    by_sop = {ds.SOPInstanceUID: ds for batch in batches for ds in batch}
    for sop in failed:  # absent: no object, no catalog entry
        ds = by_sop[sop]
        ref = InstanceRef(TENANT, study, ds.SeriesInstanceUID, sop)
        assert stack.deps.store.get(instance_key(ref)) is None
        assert stack.get("/instances", params={"SOPInstanceUID": sop}).json() == []
    for sop in stored:  # searchable at once (no drain, no sleep)
        found = stack.get("/instances", params={"SOPInstanceUID": sop}).json()
        assert [m["00080018"]["Value"][0] for m in found] == [sop]
    (found,) = stack.get("/studies", params={"StudyInstanceUID": study}).json()
    assert found["00201208"]["Value"] == [len(stored)]  # exact counts
    in_series = {s: len(stack.get(f"/studies/{study}/series/{s}/instances").json()) for s in series}
    expected = {s: sum(1 for x in stored if by_sop[x].SeriesInstanceUID == s) for s in series}
    assert in_series == expected
    stack.drain()  # the safety net: S3 events find the stored instances unchanged
    (found,) = stack.get("/studies", params={"StudyInstanceUID": study}).json()
    assert found["00201208"]["Value"] == [len(stored)]


def test_an_instance_the_catalog_cannot_take_is_withdrawn_and_reported(stack):
    """The catalog stays conflicted for one instance through every retry: its part fails with
    0xA700 and a reason, the version the request wrote is deleted (the instance stored before
    is current again, unchanged), and the other parts are stored and searchable."""
    stack.deps.clock = Clock(now=time.monotonic, sleep=lambda seconds: None)  # retry at once
    stack.deps.reset()
    study, series = uid(), uid()
    kept = dataset(study=study, series=series, SeriesDescription="first")
    assert stack.post("/studies", data=to_bytes(kept), headers=SINGLE).status_code == 200
    again = dataset(study=study, series=series, sop=kept.SOPInstanceUID, SeriesDescription="2nd")
    fresh, other = (dataset(study=study, series=series) for _ in range(2))
    doomed = {kept.SOPInstanceUID, fresh.SOPInstanceUID}
    conflict = {"CancellationReasons": [{"Code": "TransactionConflict"}]}

    def names_a_doomed_instance(params: dict[str, Any]) -> bool:
        return any(sop in str(params) for sop in doomed)

    db = stack.deps.clients.dynamodb
    with inject_error(
        db,
        "TransactWriteItems",
        "TransactionCanceledException",
        400,
        names_a_doomed_instance,
        extra=conflict,
    ):
        body = multipart_body([to_bytes(ds) for ds in (again, fresh, other)])
        r = stack.post("/studies", data=body, headers={"Content-Type": MULTIPART})
    assert r.status_code == 202, r.text
    assert sops(r.json(), REFERENCED) == [other.SOPInstanceUID]
    failed = r.json()[FAILED]["Value"]
    assert sorted(sops(r.json(), FAILED)) == sorted(doomed)
    for item in failed:
        assert item[FAILURE_REASON]["Value"] == [FailureReason.OUT_OF_RESOURCES]
        assert "could not be made searchable" in item["00091002"]["Value"][0]
    store = stack.deps.store
    ref = InstanceRef(TENANT, study, series, kept.SOPInstanceUID)
    assert store.get(instance_key(ref)) == to_bytes(kept)  # the earlier version, current again
    assert store.get(instance_key(InstanceRef(TENANT, study, series, fresh.SOPInstanceUID))) is None
    assert stack.get("/instances", params={"SOPInstanceUID": fresh.SOPInstanceUID}).json() == []
    assert len(stack.get("/instances", params={"SOPInstanceUID": other.SOPInstanceUID}).json()) == 1
    path = f"/studies/{study}/series/{series}/instances/{kept.SOPInstanceUID}/metadata"
    (meta,) = stack.get(path).json()
    assert meta["0008103E"]["Value"] == ["first"]  # its metadata is the kept version's
    (study_found,) = stack.get("/studies", params={"StudyInstanceUID": study}).json()
    assert study_found["00201208"]["Value"] == [2]  # kept and other: counts exact
