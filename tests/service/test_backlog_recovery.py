"""A backlog past the alarm, its events gone, recovered with nothing lost (issue 24).

SQS deletes a message older than the queue's retention (14 days) without a word: it does not
reach the dead-letter queue, whose own copies expire 14 days after their *first* enqueue too.
Every object whose S3 event was deleted so is in S3 and nowhere else: a bulk migration written
straight to ``dicom/``, the removals of a DELETE, a presigned upload waiting in ``import/``.
The alarm on the queue's ApproximateAgeOfOldestMessage (docs/scale.md, "Nothing lost to
retention") fires days before; the recovery it points to is ``python -m dicomweb_cli reindex``,
which rebuilds the catalog from S3 whatever the queues hold.

Here the expiry is a purge of both queues (moto does not age messages; SQS's expiry and a purge
leave the same thing: objects without events). Then ``reindex``: every object is searchable and
retrievable byte for byte, nothing deleted comes back, and the catalog is the one a rebuild
from S3 gives but for the hidden leftovers of the DELETE (tombstones and the instance items they
hide, which no read returns). A presigned upload whose event expired waits in ``import/``:
reindex imports it first."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import requests

from chalicelib.dicomweb.resources import InstanceRef
from chalicelib.storage.keys import instance_key
from dicomweb_cli import cli
from local.harness import InProcessStack
from tests.conftest import TENANT
from tests.factories import dataset, multipart_body, to_bytes
from tests.service.helpers import MULTIPART, catalog_items, inject_error, rebuilt_catalog

ANY_TS = "application/dicom; transfer-syntax=*"


@pytest.fixture
def operator(stack: InProcessStack, monkeypatch: pytest.MonkeyPatch) -> InProcessStack:
    """The CLI pointed at the in-process stack's resources, as an operator with credentials."""
    monkeypatch.setenv("DICOMWEB_STACK_FILE", "/nonexistent")  # not a running make serve
    monkeypatch.setenv("DICOM_BUCKET", stack.deps.settings.bucket)
    monkeypatch.setenv("CATALOG_TABLE", stack.deps.settings.catalog_table)
    monkeypatch.setenv("TENANTS_TABLE", stack.deps.settings.tenants_table)
    return stack


def queue_urls(stack: InProcessStack) -> list[str]:
    sqs, settings = stack.deps.clients.sqs, stack.deps.settings
    return [
        sqs.get_queue_url(QueueName=name)["QueueUrl"]
        for name in (settings.index_queue, settings.index_dlq)
    ]


def waiting(stack: InProcessStack, url: str) -> int:
    attributes = stack.deps.clients.sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(v) for v in attributes.values())


def expire(stack: InProcessStack) -> None:
    """Every message of the index queue and its dead-letter queue gone, as retention does."""
    for url in queue_urls(stack):
        stack.deps.clients.sqs.purge_queue(QueueUrl=url)
        assert waiting(stack, url) == 0


def migrate(stack: InProcessStack, studies: int, per_series: int) -> dict[InstanceRef, bytes]:
    """A bulk migration: objects written straight to their keys (S3 sends the events)."""
    s3, bucket = stack.deps.clients.s3, stack.deps.settings.bucket
    written: dict[InstanceRef, bytes] = {}
    for i in range(studies):
        study = dataset(PatientName=f"Migrated^{i}").StudyInstanceUID
        series = dataset(study=study).SeriesInstanceUID
        for _ in range(per_series):
            ds = dataset(study=study, series=series, PatientName=f"Migrated^{i}")
            ref = InstanceRef(TENANT, study, series, ds.SOPInstanceUID)
            written[ref] = to_bytes(ds)
            s3.put_object(Bucket=bucket, Key=instance_key(ref), Body=written[ref])
    return written


def found(stack: InProcessStack, ref: InstanceRef) -> bool:
    r = stack.get(
        f"/studies/{ref.study}/series/{ref.series}/instances",
        params={"SOPInstanceUID": ref.sop},
    )
    assert r.status_code == 200, r.text
    return len(r.json()) == 1


def retrieved(stack: InProcessStack, ref: InstanceRef) -> bytes | None:
    path = f"/studies/{ref.study}/series/{ref.series}/instances/{ref.sop}"
    r = stack.get(path, headers={"Accept": ANY_TS})
    return r.content if r.status_code == 200 else None


def test_a_backlog_whose_events_expired_is_recovered_by_reindex(
    operator: InProcessStack, capsys: Any
) -> None:
    stack = operator
    # Indexed before the backlog: a stored study (STOW), which is then deleted, and one kept.
    gone, kept = dataset(), dataset()
    body = multipart_body([to_bytes(gone), to_bytes(dataset(study=gone.StudyInstanceUID))])
    assert stack.post("/studies", data=body, headers={"Content-Type": MULTIPART}).ok
    assert stack.post(
        "/studies", data=multipart_body([to_bytes(kept)]), headers={"Content-Type": MULTIPART}
    ).ok
    stack.drain()

    # The backlog: a migration of 12 instances in 3 studies, one of them failing until its
    # message is in the dead-letter queue, then 3 more and the removals of a DELETE.
    migrated = migrate(stack, studies=3, per_series=4)
    poisoned_ref = next(iter(migrated))
    with inject_error(
        stack.deps.clients.s3,
        "GetObject",
        "InternalError",
        when=lambda request: poisoned_ref.sop in str(request.get("url_path")),
    ) as fired:
        for _ in range(10):  # the others are indexed here: the backlog is the rest
            stack.poller.drain()
            if waiting(stack, queue_urls(stack)[1]):
                break
        assert fired[0] >= 5  # maxReceiveCount: then the dead-letter queue
    # arrived while the indexer was behind: more objects, and a DELETE's removals
    late = migrate(stack, studies=1, per_series=3)
    assert stack.http.delete(stack.url + f"/studies/{gone.StudyInstanceUID}").status_code == 204
    migrated.update(late)
    assert waiting(stack, queue_urls(stack)[0]) > 0

    expire(stack)

    # What the lost events leave: the late objects and the poisoned one are in S3 only: a
    # WADO by their UIDs reads them (by key), no search finds them.
    unindexed = [poisoned_ref, *late]
    assert all(not found(stack, ref) for ref in unindexed)
    assert all(retrieved(stack, ref) == migrated[ref] for ref in unindexed)
    assert stack.drain() == 0  # nothing will ever come for them

    assert cli.main(["--aws", "reindex", "--tenant", TENANT]) == 0
    out = capsys.readouterr().out
    assert f"{len(unindexed)} indexed" in out, out

    # Nothing lost: every migrated instance searchable and retrievable as written,
    for ref, data in migrated.items():
        assert found(stack, ref), ref
        assert retrieved(stack, ref) == data, ref
    studies = {ref.study for ref in migrated}
    listed = {s["0020000D"]["Value"][0] for s in stack.get("/studies").json()}
    assert listed == studies | {kept.StudyInstanceUID}
    # nothing deleted back,
    assert stack.get("/studies", params={"StudyInstanceUID": gone.StudyInstanceUID}).json() == []
    # The catalog is what a rebuild from S3 gives, but for what the DELETE's expired removals
    # were to clean up: its series' tombstones and the instance items they hide, which no read
    # returns and reindex cannot find (it walks the studies that exist; docs/scale.md).
    live, rebuilt = catalog_items(stack, TENANT), rebuilt_catalog(stack, TENANT)
    assert rebuilt.items() <= live.items()
    leftovers = set(live) - set(rebuilt)
    assert leftovers and {pk for pk, _ in leftovers} == {f"{TENANT}#{gone.StudyInstanceUID}"}
    assert all(sk.startswith("INSTANCE#") for _, sk in leftovers)
    assert stack.get(f"/studies/{gone.StudyInstanceUID}/instances").json() == []
    # A second run finds nothing to do.
    assert cli.main(["--aws", "reindex", "--tenant", TENANT]) == 0
    again = capsys.readouterr().out
    assert again.strip() == f"{TENANT}: {len(migrated) + 1} unchanged", again


def test_a_presigned_upload_whose_event_expired_is_imported_by_reindex(
    operator: InProcessStack, capsys: Any
) -> None:
    stack = operator
    ds = dataset()
    data = to_bytes(ds)
    r = stack.post("/uploads", json={"files": [{"name": "late.dcm", "size": len(data)}]})
    assert r.status_code == 201, r.text
    body = r.json()
    (spec,) = body["files"]
    assert "/import/" in urlparse(spec["url"]).path and parse_qs(urlparse(spec["url"]).query)
    assert requests.put(spec["url"], data=data, headers=spec["headers"]).status_code == 200
    expire(stack)
    status_path = body["status"].removeprefix(stack.url)
    assert stack.get(status_path).json()["pending"] == 1

    assert cli.main(["--aws", "reindex", "--tenant", TENANT]) == 0
    capsys.readouterr()

    report = stack.get(status_path).json()
    assert (report["stored"], report["pending"]) == (1, 0)
    ref = InstanceRef(TENANT, ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)
    assert found(stack, ref) and retrieved(stack, ref) == data
