"""services/stow.py: STOW-RS over moto's S3 with real Part 10 instances: the request's
Content-Type rules, the check-then-write core a streaming front shares, and the answer (200,
202 or 409 with the Store Instances Response Module, every item with its part's position and
every failure with a reason in words); a repeated SOP Instance UID stored in part order."""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from pydicom.dataset import Dataset

from chalicelib.dicomweb.errors import BadRequest, FailureReason, UnsupportedMediaType
from chalicelib.dicomweb.media import DICOM_JSON
from chalicelib.dicomweb.resources import InstanceRef
from chalicelib.dicomweb.stow_response import (
    PRIVATE_CREATOR,
    failure_text,
    part_position,
)
from chalicelib.observability import ALLOWED_LOG_KEYS, logger
from chalicelib.services.answers import Body
from chalicelib.services.ports import StorageBusy, StorageError, StoredObject
from chalicelib.services.stow import (
    FailedInstance,
    InstancePart,
    InstanceWriter,
    StoredInstance,
    Stow,
    ValidInstance,
    instance_parts,
)
from chalicelib.storage.keys import instance_key
from chalicelib.storage.objects import S3ObjectStore
from tests.factories import dataset, instance_bytes, multipart_body, to_bytes, uid

T = "t1"
BASE = "https://dicomweb.example"
MULTIPART = 'multipart/related; type="application/dicom"; boundary=b'


def document(body: Body) -> dict[str, Any]:
    assert body.media_type == DICOM_JSON and not body.multipart
    content = body.parts[0].content
    assert isinstance(content, bytes)
    found: dict[str, Any] = json.loads(content)
    return found


def seq(doc: dict[str, Any], tag: str) -> list[dict[str, Any]]:
    values: list[dict[str, Any]] = doc.get(tag, {}).get("Value", [])
    return values


REFERENCED, FAILED, RETRIEVE_URL = "00081199", "00081198", "00081190"
SOP_UID, REASON = "00081155", "00081197"


def test_every_instance_stored_is_200_at_its_canonical_key(store: S3ObjectStore) -> None:
    study = uid()
    made = [dataset(study=study), dataset(study=study)]
    body = multipart_body([to_bytes(ds) for ds in made], boundary="b")
    answer = Stow(store).store_instances(T, MULTIPART, body, None, BASE)
    assert answer.status == 200
    doc = document(answer)
    assert doc[RETRIEVE_URL]["Value"] == [f"{BASE}/studies/{study}"]
    assert [r[SOP_UID]["Value"][0] for r in seq(doc, REFERENCED)] == [
        ds.SOPInstanceUID for ds in made
    ]
    for ds in made:
        ref = InstanceRef(T, study, ds.SeriesInstanceUID, ds.SOPInstanceUID)
        assert store.get(instance_key(ref)) == to_bytes(ds)


def test_some_failed_is_202_none_stored_is_409(store: S3ObjectStore) -> None:
    body = multipart_body([instance_bytes(), b"not dicom"], boundary="b")
    mixed = Stow(store).store_instances(T, MULTIPART, body, None, BASE)
    assert mixed.status == 202
    (failed,) = seq(document(mixed), FAILED)
    assert failed[REASON]["Value"] == [FailureReason.CANNOT_UNDERSTAND]
    foreign = Stow(store).store_instances(T, "application/dicom", instance_bytes(), uid(), BASE)
    assert foreign.status == 409
    (failed,) = seq(document(foreign), FAILED)
    assert failed[REASON]["Value"] == [FailureReason.STUDY_UID_MISMATCH]
    assert not seq(document(foreign), REFERENCED)


def test_a_request_of_the_wrong_media_type_is_refused_whole() -> None:
    body = multipart_body([instance_bytes()], boundary="b")
    for content_type in (None, "application/json", 'multipart/related; type="image/jpeg"'):
        with pytest.raises(UnsupportedMediaType):
            instance_parts(content_type, body)
    with pytest.raises(BadRequest) as raised:
        instance_parts('multipart/related; type="application/dicom"', body)
    assert raised.value.code == "InvalidMultipart"
    (single,) = instance_parts("application/dicom", b"bytes")
    assert single == InstancePart(b"bytes")
    (part,) = instance_parts("multipart/related; boundary=b", body)
    assert part.content_type == "application/dicom" and part.content.startswith(b"\0" * 128)


def test_a_part_without_content_type_is_refused_not_guessed(store: S3ObjectStore) -> None:
    """PS3.18 10.5.1: every part names its media type; one without is not taken as DICOM."""
    body = multipart_body([instance_bytes()], boundary="b", headers=False)
    (part,) = instance_parts("multipart/related; boundary=b", body)
    assert part.content_type == ""
    checked = InstanceWriter(store).check(part, T, None, position=1)
    assert isinstance(checked, FailedInstance)
    assert checked.reason == FailureReason.CANNOT_UNDERSTAND
    assert checked.message == "the part has no Content-Type"


def test_check_then_write_one_part_at_a_time(store: S3ObjectStore) -> None:
    writer = InstanceWriter(store)
    ds = dataset()
    checked = writer.check(InstancePart(to_bytes(ds)), T, None, position=3)
    assert isinstance(checked, ValidInstance)
    assert checked.ref == InstanceRef(
        T, ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID
    )
    assert checked.position == 3
    written = writer.write(checked)
    assert isinstance(written, StoredInstance) and written.version_id  # the version it wrote
    assert written == StoredInstance(
        3, checked.ref, ds.SOPClassUID, len(to_bytes(ds)), written.version_id
    )
    wrong_type = writer.check(
        InstancePart(to_bytes(ds), "application/octet-stream"), T, None, position=4
    )
    assert isinstance(wrong_type, FailedInstance)
    assert wrong_type.reason == FailureReason.CANNOT_UNDERSTAND
    assert wrong_type.sop == ds.SOPInstanceUID  # read at best effort for the answer
    assert wrong_type.position == 4
    assert wrong_type.message == "the part's Content-Type is not application/dicom"
    # a later step (inline indexing) can still turn a stored part into a failed one
    assert written.failed(FailureReason.OUT_OF_RESOURCES, "why") == FailedInstance(
        3, ds.SOPClassUID, ds.SOPInstanceUID, FailureReason.OUT_OF_RESOURCES, "why"
    )


def test_a_storage_failure_fails_the_instance_not_the_request() -> None:
    with mock_aws():
        missing = S3ObjectStore(boto3.client("s3", region_name="us-east-1"), "no-such-bucket")
        answer = Stow(missing).store_instances(T, "application/dicom", instance_bytes(), None, BASE)
    assert answer.status == 409
    (failed,) = seq(document(answer), FAILED)
    assert failed[REASON]["Value"] == [FailureReason.PROCESSING_FAILURE]


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """What the service's Powertools logger writes, at INFO."""
    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    stream, level = handler.stream, logger.log_level
    written = io.StringIO()
    handler.setStream(written)
    logger.setLevel("INFO")
    try:
        yield written
    finally:
        handler.setStream(stream)
        logger.setLevel(level)


def test_the_log_line_counts_and_names_no_patient(
    store: S3ObjectStore, log_lines: io.StringIO
) -> None:
    body = multipart_body([instance_bytes(), b"x"], boundary="b")
    Stow(store).store_instances(T, MULTIPART, body, None, BASE)
    lines = [json.loads(x) for x in log_lines.getvalue().splitlines()]
    (line,) = [x for x in lines if x.get("message") == "stow"]
    assert (line["transaction"], line["stored"], line["failed"]) == ("stow", 1, 1)
    assert set(line) - {"level", "location", "message", "timestamp", "service"} <= (
        ALLOWED_LOG_KEYS
    )


# --- every part accounted for ---------------------------------------------------------------

PATIENT = {
    "PatientName": "Secretname^Jane",
    "PatientID": "PID-93475",
    "PatientBirthDate": "19440607",
    "AccessionNumber": "ACC-55512",
}


def items(doc: dict[str, Any], tag: str) -> list[Dataset]:
    """The items of a sequence of the answer, as dicomweb-client reads them."""
    return list(Dataset.from_json(doc).get(Dataset.from_json({tag: doc[tag]})[tag].keyword, []))


def test_every_item_carries_its_position_and_every_failure_a_reason(
    store: S3ObjectStore,
) -> None:
    study = uid()
    foreign, truncated = dataset(**PATIENT), instance_bytes(study=study, rows=64, columns=64)
    no_series = dataset(study=study, **PATIENT)
    del no_series.SeriesInstanceUID
    first, last = dataset(study=study, **PATIENT), dataset(study=study, **PATIENT)
    parts = [
        to_bytes(first),  # 1
        b"not dicom at all",  # 2
        to_bytes(foreign),  # 3: another study than the URL's
        truncated[:-3000],  # 4
        b"",  # 5: an empty part
        to_bytes(no_series),  # 6
        to_bytes(last),  # 7
    ]
    answer = Stow(store).store_instances(
        T, MULTIPART, multipart_body(parts, boundary="b"), study, BASE
    )
    assert answer.status == 202
    doc = document(answer)
    parsed = Dataset.from_json(doc)  # what dicomweb-client does with the answer
    referenced, failed = parsed.ReferencedSOPSequence, parsed.FailedSOPSequence
    assert [part_position(i) for i in referenced] == [1, 7]
    assert [i.ReferencedSOPInstanceUID for i in referenced] == [
        first.SOPInstanceUID,
        last.SOPInstanceUID,
    ]
    assert [part_position(i) for i in failed] == [2, 3, 4, 5, 6]
    assert [i.FailureReason for i in failed] == [0xC000, 0xA901, 0xC000, 0xC000, 0xC000]
    unreadable = failed[0]
    assert (
        "ReferencedSOPInstanceUID" not in unreadable and "ReferencedSOPClassUID" not in unreadable
    )
    assert failure_text(unreadable) == "not a DICOM Part 10 file (no preamble or DICM prefix)"
    assert failure_text(failed[1]) == (
        f"StudyInstanceUID {foreign.StudyInstanceUID} is not the study in the request URL, {study}"
    )
    assert failure_text(failed[3]) == "the part is empty"
    assert failure_text(failed[4]) == "SeriesInstanceUID is missing"
    assert all(failure_text(i) for i in failed)
    assert all(failure_text(i) is None for i in referenced)
    # valid DICOM JSON: a private creator (LO) in each item, then its UL and LT elements
    raw = seq(doc, FAILED)[0]
    assert raw["00090010"] == {"vr": "LO", "Value": [PRIVATE_CREATOR]}
    assert raw["00091001"] == {"vr": "UL", "Value": [2]}
    assert raw["00091002"]["vr"] == "LT"
    assert seq(doc, REFERENCED)[1]["00091001"] == {"vr": "UL", "Value": [7]}
    text = json.dumps(doc)
    for value in PATIENT.values():
        assert value not in text and value.split("^")[0] not in text


def test_reasons_name_no_patient_value() -> None:
    """Rejections of an instance full of patient values, cut or spoilt where they lie, and the
    storage's failures: the words quote none of the values."""
    ds = dataset(rows=64, columns=64, **PATIENT)
    data = to_bytes(ds)
    at = data.index(b"Secretname")
    sop = ds.SOPInstanceUID.encode()
    in_dataset = data.rindex(sop)  # the first is the File Meta's MediaStorageSOPInstanceUID
    name = (b"Secretname^Jane" * 5)[: len(sop)]
    spoilt_uid = data[:in_dataset] + name + data[in_dataset + len(sop) :]
    parts = [
        InstancePart(data[: at + 4]),  # cut inside PatientName
        InstancePart(data[:-3000]),  # cut inside Pixel Data
        InstancePart(spoilt_uid),  # SOPInstanceUID holds a name
        InstancePart(data[at - 40 :]),  # no preamble
        InstancePart(data, "application/PID-93475; name=Secretname"),
    ]
    result = Stow(FailingStore(None)).store_parts(T, parts, None)
    messages = [f.message for f in result.failed]
    assert len(messages) == len(parts)
    for error in (StorageBusy("SlowDown"), StorageError("AccessDenied"), StorageError()):
        (failed,) = Stow(FailingStore(error)).store_parts(T, [InstancePart(data)], None).failed
        messages.append(failed.message)
    assert messages[-3:] == [
        "storage is busy (SlowDown): send this instance again later",
        "storage refused to write the instance (AccessDenied)",
        "storage refused to write the instance",
    ]
    for message in messages:
        for value in PATIENT.values():
            assert value.split("^")[0] not in message, message


class FailingStore:
    """``put`` as STOW uses it, failing when told to."""

    def __init__(self, error: StorageError | None) -> None:
        self.error = error
        self.objects: dict[str, bytes] = {}

    def put(
        self, key: str, data: bytes, content_type: str, metadata: dict[str, str] | None = None
    ) -> StoredObject:
        if self.error:
            raise self.error
        self.objects[key] = data
        return StoredObject(key, len(data), "etag")


class SlowStore:
    """Delegates to the moto store; the first put of ``slow`` bytes waits, and the number of
    puts in flight at once is recorded."""

    def __init__(self, store: S3ObjectStore, slow: bytes) -> None:
        self.store, self.slow = store, slow
        self.in_flight = self.most_in_flight = 0
        self.lock = threading.Lock()

    def put(
        self, key: str, data: bytes, content_type: str, metadata: dict[str, str] | None = None
    ) -> StoredObject:
        with self.lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            time.sleep(0.3 if data == self.slow else 0.05)
            return self.store.put(key, data, content_type, metadata)
        finally:
            with self.lock:
                self.in_flight -= 1


def test_a_repeated_instance_is_stored_in_part_order_and_the_last_one_wins(
    store: S3ObjectStore,
) -> None:
    study, series, sop = uid(), uid(), uid()
    first = to_bytes(dataset(study=study, series=series, sop=sop, SeriesDescription="first"))
    second = to_bytes(dataset(study=study, series=series, sop=sop, SeriesDescription="second"))
    others = [instance_bytes(study=study) for _ in range(3)]
    slow = SlowStore(store, first)  # the first part's write takes longest: a race would lose
    result = Stow(slow).store_parts(T, [InstancePart(b) for b in [first, *others, second]], study)
    assert result.status == 200
    ref = InstanceRef(T, study, series, sop)
    assert store.get(instance_key(ref)) == second
    # both parts are reported stored, each at its position
    assert sorted(s.position for s in result.stored if s.ref == ref) == [1, 5]
    assert slow.most_in_flight > 1  # distinct instances are still written in parallel
    doc = result.to_dicom_json(BASE, study)
    assert [i["00091001"]["Value"][0] for i in seq(doc, REFERENCED)] == [1, 2, 3, 4, 5]


def test_an_empty_single_part_body_is_400() -> None:
    for body in (b"", None):
        with pytest.raises(BadRequest) as raised:
            instance_parts("application/dicom", body)  # type: ignore[arg-type]
        assert raised.value.status == 400 and raised.value.code == "InvalidRequestBody"
        assert "empty" in raised.value.message
