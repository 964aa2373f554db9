"""The indexer: header-only reads, exact counts, idempotence, order, imports, poison messages."""

from __future__ import annotations

import json
import threading

from chalicelib.dicomweb.resources import InstanceRef
from chalicelib.storage.keys import instance_key
from tests.conftest import TENANT
from tests.factories import dataset, instance_bytes, to_bytes, uid
from tests.service.helpers import deliver, inject_error, s3_record


def put(stack, data: bytes, key: str) -> None:
    stack.deps.clients.s3.put_object(Bucket=stack.deps.settings.bucket, Key=key, Body=data)


def canonical(ds) -> str:
    return instance_key(
        InstanceRef(TENANT, ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)
    )


def studies(stack) -> list[dict]:
    return stack.get("/studies").json()


def purge(stack, key: str) -> None:
    s3 = stack.deps.clients.s3
    bucket = stack.deps.settings.bucket
    versions = s3.list_object_versions(Bucket=bucket, Prefix=key)
    for v in versions.get("Versions", []) + versions.get("DeleteMarkers", []):
        s3.delete_object(Bucket=bucket, Key=key, VersionId=v["VersionId"])


def test_indexer_reads_only_the_header_of_a_512_ct(stack):
    ds = dataset(rows=512, columns=512)
    data = to_bytes(ds)
    assert len(data) > 512 * 1024
    put(stack, data, canonical(ds))
    stack.counter.reset()
    stack.drain()
    got = stack.counter.snapshot()["s3.GetObject"]
    assert got["calls"] == 1
    assert got["bytes_received"] <= 64 * 1024
    assert studies(stack)[0]["0020000D"]["Value"] == [ds.StudyInstanceUID]


def test_long_header_is_read_by_widening(stack):
    ds = dataset(rows=64, columns=64)
    ds.add_new(0x00091010, "LO", "private")  # noise
    ds.ImageComments = "x" * 600_000  # a legal 600 kB text value (LT max 10240 chars, but UT ok)
    ds["ImageComments"].VR = "UT"
    data = to_bytes(ds)
    put(stack, data, canonical(ds))
    stack.counter.reset()
    stack.drain()
    assert stack.counter.calls("s3.GetObject") >= 2
    instances = stack.get(
        f"/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances"
    ).json()
    assert len(instances) == 1


def test_counts_are_exact_under_duplicates_and_reordering(stack, lambda_app):
    study, series_a, series_b = uid(), uid(), uid()
    keys = []
    for series, modality in ((series_a, "CT"), (series_b, "MR")):
        for _ in range(3):
            ds = dataset(study=study, series=series, modality=modality)
            key = canonical(ds)
            put(stack, to_bytes(ds), key)
            keys.append(key)
    bucket = stack.deps.settings.bucket
    records = [s3_record(bucket, k) for k in keys]
    for _ in range(3):  # every event three times, reversed order
        result = deliver(lambda_app, list(reversed(records)))
        assert result["batchItemFailures"] == []
    stack.drain()  # and the real notifications
    (found,) = studies(stack)
    assert found["00201206"]["Value"] == [2]
    assert found["00201208"]["Value"] == [6]
    assert found["00080061"]["Value"] == ["CT", "MR"]
    # a remove event for an object that still exists re-indexes, never removes
    deliver(lambda_app, [s3_record(bucket, keys[0], "ObjectRemoved:Delete")])
    assert studies(stack)[0]["00201208"]["Value"] == [6]
    # the object really goes: the catalog follows, counts stay exact, twice is harmless
    purge(stack, keys[0])
    stack.drain()
    deliver(lambda_app, [s3_record(bucket, keys[0], "ObjectRemoved:Delete")] * 2)
    assert studies(stack)[0]["00201208"]["Value"] == [5]
    # a late create event for the removed object converges to "absent"
    deliver(lambda_app, [s3_record(bucket, keys[0])])
    assert studies(stack)[0]["00201208"]["Value"] == [5]
    # removing a whole series drops it and its modality
    for key in keys[3:]:
        purge(stack, key)
    stack.drain()
    (found,) = studies(stack)
    assert found["00201206"]["Value"] == [1]
    assert found["00080061"]["Value"] == ["CT"]
    for key in keys[1:3]:
        purge(stack, key)
    stack.drain()
    assert studies(stack) == []
    assert stack.get("/studies", params={"PatientID": "PID-1"}).json() == []


def test_parallel_indexing_of_one_series(stack, lambda_app):
    study, series = uid(), uid()
    bucket = stack.deps.settings.bucket
    keys = []
    for _ in range(24):
        ds = dataset(study=study, series=series)
        keys.append(canonical(ds))
        stack.deps.store.put(keys[-1], to_bytes(ds), "application/dicom")
    chunks = [keys[i::6] for i in range(6)]
    errors: list[BaseException] = []

    def work(chunk):
        try:
            result = deliver(lambda_app, [s3_record(bucket, k) for k in chunk])
            assert result["batchItemFailures"] == []
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(c,)) for c in chunks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    (found,) = studies(stack)
    assert found["00201208"]["Value"] == [24]
    assert found["00201206"]["Value"] == [1]
    (s,) = stack.get(f"/studies/{study}/series").json()
    assert s["00201209"]["Value"] == [24]


def test_s3_test_event_is_skipped(lambda_app):
    from tests.service.helpers import sqs_event

    event = sqs_event([{"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "b"}])
    assert lambda_app.index_objects(event, None)["batchItemFailures"] == []


def test_import_is_validated_copied_and_removed(stack):
    ds = dataset()
    data = to_bytes(ds)
    put(stack, data, f"import/{TENANT}/scanner 7/John Doe's CT (1).dcm")
    stack.drain()
    assert stack.deps.store.get(canonical(ds)) == data
    listed, _ = stack.deps.store.list(f"import/{TENANT}/")
    assert listed == []
    assert studies(stack)[0]["0020000D"]["Value"] == [ds.StudyInstanceUID]


def test_bad_import_is_rejected_with_reason_and_listed(stack):
    put(stack, b"this is not dicom", f"import/{TENANT}/notes.txt")
    truncated = instance_bytes(rows=128, columns=128)[:-3000]
    put(stack, truncated, f"import/{TENANT}/cut.dcm")
    stack.drain()
    r = stack.get("/imports/rejected")
    assert r.status_code == 200
    rejected = {item["name"]: item for item in r.json()["rejected"]}
    assert set(rejected) == {"notes.txt", "cut.dcm"}
    assert rejected["notes.txt"]["failureReason"] == 0xC000
    assert studies(stack) == []
    # another tenant sees none of it
    from tests.conftest import OTHER_KEY

    r = stack.http.get(stack.url + "/imports/rejected", headers={"apikey": OTHER_KEY})
    assert r.json()["rejected"] == []


def test_rejected_imports_refuse_a_start_after_s3_cannot_list(stack):
    """Found by the schemathesis run: a control character, NUL or U+FFFE in startAfter (S3
    echoes it in XML) or one over S3's 1,024-byte keys was a 5xx."""
    for start in ("a\x15b", "\x00", "\ufffe", "x" * 1100):
        r = stack.get("/imports/rejected", params={"startAfter": start})
        assert r.status_code == 400, start
        assert r.json()["error"]["code"] == "InvalidParameter"
    r = stack.get("/imports/rejected", params={"startAfter": "c000/name \u00e9\U00010348.dcm"})
    assert r.status_code == 200


def test_file_dropped_under_dicom_at_a_wrong_key_is_moved(stack):
    ds = dataset()
    put(stack, to_bytes(ds), f"dicom/{TENANT}/whatever/name.dcm")
    stack.drain()
    assert stack.deps.store.get(canonical(ds)) is not None
    assert stack.deps.store.get(f"dicom/{TENANT}/whatever/name.dcm") is None
    assert len(studies(stack)) == 1


def test_poison_message_reaches_the_dlq_with_a_hashed_key(stack, caplog):
    ds = dataset()
    key = f"import/{TENANT}/Doe^Jane/secret-name.dcm"
    with inject_error(stack.deps.clients.s3, "CopyObject", "InternalError"):
        put(stack, to_bytes(ds), key)
        stack.drain()
    sqs = stack.deps.clients.sqs
    dlq = sqs.get_queue_url(QueueName=stack.deps.settings.index_dlq)["QueueUrl"]
    messages = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10)["Messages"]
    assert len(messages) == 1
    assert "secret-name" in json.loads(messages[0]["Body"])["Records"][0]["s3"]["object"]["key"]
    failures = [r for r in caplog.records if "indexing failed" in r.getMessage()]
    assert len(failures) == 5  # the queue's maxReceiveCount
    assert all(getattr(r, "key_hash", None) for r in failures)
    logs = "\n".join(json.dumps(r.__dict__, default=str) for r in caplog.records)
    assert "secret-name" not in logs and "Doe" not in logs
