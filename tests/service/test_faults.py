"""Injected faults at every step of STOW, the indexer and DELETE (botocore event hooks over
moto: moto emulates neither throttling nor transaction conflicts). After redelivery or a
client's retry, the catalog equals a rebuild from S3 and every stored byte is unchanged (the
tests hash the objects themselves: moto accepts a wrong client checksum)."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from tests.conftest import TENANT
from tests.factories import dataset, multipart_body, to_bytes
from tests.service.helpers import catalog_items, inject_error, object_hashes, rebuilt_catalog

CT = 'multipart/related; type="application/dicom"; boundary=test-boundary'
CONFLICT = {"CancellationReasons": [{"Code": "TransactionConflict"}] * 3}

# (service, operation, error code, HTTP status, extra error fields, which calls fail first):
# every AWS call the indexer makes for four STOWed instances and one import (counted with the
# AWS-call counter: GetObject 7, TransactWriteItems 7, PutObject/HeadObject/UpdateItem/PutItem
# 5, GetItem 2, CopyObject/ListObjectVersions/DeleteObjects 1), failing twice in a row from
# the first call and, where there is one, from the third.
INDEXER_FAULTS = [
    ("s3", "GetObject", "InternalError", 500, None, (1, 3)),  # ranged header read
    ("s3", "PutObject", "SlowDown", 503, None, (1, 3)),  # metadata fragment
    ("s3", "HeadObject", "InternalError", 500, None, (1, 3)),  # post-write re-check
    ("s3", "CopyObject", "SlowDown", 503, None, (1,)),  # import -> canonical key
    ("s3", "ListObjectVersions", "InternalError", 500, None, (1,)),  # import removal
    ("s3", "DeleteObjects", "SlowDown", 503, None, (1,)),  # import removal
    ("dynamodb", "TransactWriteItems", "TransactionCanceledException", 400, CONFLICT, (1, 3)),
    ("dynamodb", "TransactWriteItems", "ProvisionedThroughputExceededException", 400, None, (1, 3)),
    ("dynamodb", "UpdateItem", "ThrottlingException", 400, None, (1, 3)),  # feed, series
    ("dynamodb", "PutItem", "InternalServerError", 500, None, (1, 3)),  # change feed entry
    ("dynamodb", "GetItem", "ThrottlingException", 400, None, (1,)),
]
INDEXER_CASES = [(*f[:5], first) for f in INDEXER_FAULTS for first in f[5]]


def nth_calls(first: int, count: int) -> Any:
    """A ``when`` that fires on calls first .. first+count-1 of the operation."""
    seen = [0]

    def when(_params: dict[str, Any]) -> bool:
        seen[0] += 1
        return first <= seen[0] < first + count

    return when


def study_with_import(stack: Any) -> tuple[str, dict[str, str]]:
    """Four instances in two series dropped into S3 at their canonical keys, one more by an
    import; their SHA-256s. (Dropped, not STOWed: a STOW indexes inline, and these tests are
    about the indexer's own path, the only one for S3 drops and the STOW's safety net.)"""
    study = dataset().StudyInstanceUID
    series = [dataset(study=study).SeriesInstanceUID for _ in range(2)]
    sent = [dataset(study=study, series=series[i % 2]) for i in range(4)]
    for ds in sent:
        stack.deps.clients.s3.put_object(
            Bucket=stack.deps.settings.bucket,
            Key=f"dicom/{TENANT}/{study}/{ds.SeriesInstanceUID}/{ds.SOPInstanceUID}.dcm",
            Body=to_bytes(ds),
        )
    imported = dataset(study=study, series=series[0])
    data = to_bytes(imported)
    stack.deps.clients.s3.put_object(
        Bucket=stack.deps.settings.bucket, Key=f"import/{TENANT}/scan 1.dcm", Body=data
    )
    expected = {}
    for ds in [*sent, imported]:
        key = f"dicom/{TENANT}/{study}/{ds.SeriesInstanceUID}/{ds.SOPInstanceUID}.dcm"
        expected[key] = hashlib.sha256(to_bytes(ds)).hexdigest()
    return study, expected


def assert_converged(stack: Any, study: str, expected: dict[str, str]) -> None:
    assert object_hashes(stack, f"dicom/{TENANT}/") == expected
    live = catalog_items(stack, TENANT)
    assert live == rebuilt_catalog(stack, TENANT)
    (found,) = stack.get("/studies", params={"StudyInstanceUID": study}).json()
    assert found["00201208"]["Value"] == [len(expected)]
    assert found["00201206"]["Value"] == [2]
    # the series metadata documents list every instance
    for series in {k.split("/")[3] for k in expected}:
        got = stack.get(f"/studies/{study}/series/{series}/metadata")
        assert got.status_code == 200
        assert len(got.json()) == sum(1 for k in expected if k.split("/")[3] == series)


@pytest.mark.parametrize(
    ("service", "operation", "code", "status", "extra", "first"),
    INDEXER_CASES,
    ids=[f"{c[1]}-{c[2]}-call{c[5]}" for c in INDEXER_CASES],
)
def test_indexer_faults_converge_after_redelivery(
    stack: Any, service: str, operation: str, code: str, status: int, extra: Any, first: int
) -> None:
    study, expected = study_with_import(stack)
    client = getattr(stack.deps.clients, service)
    with inject_error(
        client, operation, code, status, when=nth_calls(first, 2), extra=extra
    ) as fired:
        stack.drain()  # failed messages come back (visibility timeout 0) and are retried
    assert fired[0] >= 1, "the scenario never reached this step"
    stack.drain()
    assert_converged(stack, study, expected)


@pytest.mark.parametrize("code", ["SlowDown", "InternalError"])
def test_stow_fault_fails_that_instance_only_and_a_retry_completes(stack: Any, code: str) -> None:
    study = dataset().StudyInstanceUID
    sent = [dataset(study=study) for _ in range(4)]
    body = multipart_body([to_bytes(ds) for ds in sent])
    s3 = stack.deps.clients.s3
    second = nth_calls(2, 1)  # of the instances' own PUTs: indexing PUTs run alongside

    def when(params: dict[str, Any]) -> bool:
        return "/dicom/" in str(params.get("url_path", "")) and second(params)

    with inject_error(s3, "PutObject", code, 503, when=when):
        r = stack.post("/studies", data=body, headers={"Content-Type": CT})
    assert r.status_code == 202  # some failed: the response says which, with a reason
    failed = r.json()["00081198"]["Value"]
    assert len(failed) == 1 and failed[0]["00081197"]["Value"][0] in (0xA700, 0x0110)
    assert stack.post("/studies", data=body, headers={"Content-Type": CT}).status_code == 200
    stack.drain()
    expected = {
        f"dicom/{TENANT}/{study}/{ds.SeriesInstanceUID}/{ds.SOPInstanceUID}.dcm": (
            hashlib.sha256(to_bytes(ds)).hexdigest()
        )
        for ds in sent
    }
    assert object_hashes(stack, f"dicom/{TENANT}/") == expected
    assert catalog_items(stack, TENANT) == rebuilt_catalog(stack, TENANT)


# DELETE removes the objects (every version) itself; the catalog follows through the indexer
# on the ObjectRemoved events. Faults in the request (ListObjectVersions 6 calls,
# DeleteObjects 2 for a series of three) and in the indexing that follows.
DELETE_REQUEST_FAULTS = [
    ("s3", "ListObjectVersions", "SlowDown", 503, None, 1),
    ("s3", "ListObjectVersions", "InternalError", 500, None, 4),
    ("s3", "DeleteObjects", "InternalError", 500, None, 1),
    ("s3", "DeleteObjects", "SlowDown", 503, None, 2),
    # the series' one catalog change, made inline before the 204 (ModalitiesInStudy refreshed)
    ("dynamodb", "Query", "ThrottlingException", 400, None, 1),
    ("dynamodb", "DeleteItem", "ProvisionedThroughputExceededException", 400, None, 1),
]
DELETE_INDEX_FAULTS = [
    ("s3", "GetObject", "InternalError", 500, None, 1),
    ("s3", "ListObjectVersions", "SlowDown", 503, None, 1),
    ("dynamodb", "TransactWriteItems", "TransactionCanceledException", 400, CONFLICT, 1),
    ("dynamodb", "TransactWriteItems", "ThrottlingException", 400, None, 3),
    ("dynamodb", "UpdateItem", "ThrottlingException", 400, None, 2),
    ("dynamodb", "PutItem", "InternalServerError", 500, None, 1),
]


def ids(cases: list[tuple[Any, ...]]) -> list[str]:
    return [f"{c[1]}-{c[2]}-call{c[5]}" for c in cases]


def expect_after_delete(stack: Any, study: str, expected: dict[str, str], doomed: str) -> None:
    kept = {k: v for k, v in expected.items() if k.split("/")[3] != doomed}
    assert object_hashes(stack, f"dicom/{TENANT}/") == kept
    assert catalog_items(stack, TENANT) == rebuilt_catalog(stack, TENANT)
    (found,) = stack.get("/studies", params={"StudyInstanceUID": study}).json()
    assert found["00201208"]["Value"] == [len(kept)]
    assert found["00201206"]["Value"] == [1]


@pytest.mark.parametrize(
    ("service", "operation", "code", "status", "extra", "first"),
    DELETE_REQUEST_FAULTS,
    ids=ids(DELETE_REQUEST_FAULTS),
)
def test_delete_request_faults_answer_503_and_a_retry_completes(
    stack: Any, service: str, operation: str, code: str, status: int, extra: Any, first: int
) -> None:
    study, expected = study_with_import(stack)
    stack.drain()
    doomed = next(iter(expected)).split("/")[3]
    path = f"/studies/{study}/series/{doomed}"
    client = getattr(stack.deps.clients, service)
    with inject_error(client, operation, code, status, when=nth_calls(first, 1), extra=extra) as n:
        r = stack.http.delete(stack.url + path)
    assert n[0] == 1, "the delete never reached this step"
    assert r.status_code == 503, r.text  # a clear, retryable answer, never a bare 500
    assert r.headers["Retry-After"] == "1"
    assert r.json()["error"]["code"] == "ServiceUnavailable"
    stack.drain()  # whatever was already removed is indexed as removed
    # the retry completes the delete (204), or finds the first attempt had removed everything
    # before its final check failed (404): either way nothing of the series is left
    assert stack.http.delete(stack.url + path).status_code in (204, 404)
    stack.drain()
    expect_after_delete(stack, study, expected, doomed)


@pytest.mark.parametrize(
    ("service", "operation", "code", "status", "extra", "first"),
    DELETE_INDEX_FAULTS,
    ids=ids(DELETE_INDEX_FAULTS),
)
def test_faults_indexing_a_delete_converge_after_redelivery(
    stack: Any, service: str, operation: str, code: str, status: int, extra: Any, first: int
) -> None:
    study, expected = study_with_import(stack)
    stack.drain()
    doomed = next(iter(expected)).split("/")[3]
    assert stack.http.delete(stack.url + f"/studies/{study}/series/{doomed}").status_code == 204
    client = getattr(stack.deps.clients, service)
    with inject_error(
        client, operation, code, status, when=nth_calls(first, 2), extra=extra
    ) as fired:
        stack.drain()
    assert fired[0] >= 1, "the indexer never reached this step"
    stack.drain()
    expect_after_delete(stack, study, expected, doomed)
