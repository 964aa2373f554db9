"""services/stow.py: STOW-RS over moto's S3 with real Part 10 instances: the request's
Content-Type rules, the check-then-write core a streaming front shares, and the answer (200,
202 or 409 with the Store Instances Response Module)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.dicomweb.errors import BadRequest, FailureReason, UnsupportedMediaType
from chalicelib.dicomweb.media import DICOM_JSON
from chalicelib.dicomweb.resources import InstanceRef
from chalicelib.observability import ALLOWED_LOG_KEYS, logger
from chalicelib.services.answers import Body
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


def test_check_then_write_one_part_at_a_time(store: S3ObjectStore) -> None:
    writer = InstanceWriter(store)
    ds = dataset()
    checked = writer.check(InstancePart(to_bytes(ds)), T, None)
    assert isinstance(checked, ValidInstance)
    assert checked.ref == InstanceRef(
        T, ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID
    )
    written = writer.write(checked)
    assert written == StoredInstance(checked.ref, ds.SOPClassUID, len(to_bytes(ds)))
    wrong_type = writer.check(InstancePart(to_bytes(ds), "application/octet-stream"), T, None)
    assert isinstance(wrong_type, FailedInstance)
    assert wrong_type.reason == FailureReason.CANNOT_UNDERSTAND
    assert wrong_type.sop == ds.SOPInstanceUID  # read at best effort for the answer


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
