"""STOW-RS (PS3.18 10.5): store instances.

``instance_parts`` reads the request (its Content-Type decides 415 or 400 before any instance
is looked at); ``InstanceWriter`` is the core every STOW front shares, one part at a time:
``check`` validates a part's header, ``write`` puts a valid instance once, at its canonical S3
key (the catalog is not touched here: the S3 event drives indexing). ``Stow`` runs them over a
whole request and answers as Orthanc's STOW does: accumulate (``StowResult``), then decide
200, 202 or 409, with the Store Instances Response Module as DICOM JSON.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from io import BytesIO

import pydicom
from pydicom.dataset import Dataset

from chalicelib.dicomweb.errors import (
    BadRequest,
    FailureReason,
    InstanceRejected,
    UnsupportedMediaType,
)
from chalicelib.dicomweb.instance import read_instance
from chalicelib.dicomweb.media import (
    APPLICATION_DICOM,
    MULTIPART_RELATED,
    multipart_type,
    parse_media_type,
)
from chalicelib.dicomweb.multipart import read_multipart
from chalicelib.dicomweb.resources import InstanceRef, is_valid_uid
from chalicelib.observability import count, logger
from chalicelib.services.answers import Body, json_body
from chalicelib.services.ports import JsonDict, ObjectStore, StorageBusy, StorageError
from chalicelib.storage.keys import instance_key

#: Instances written at once: a batch of 50 costs about two PUT latencies, not 50, which keeps
#: a full STOW far inside API Gateway's 29 s.
PUT_CONCURRENCY = 8


@dataclass(frozen=True)
class InstancePart:
    """One part of a STOW request: an instance's bytes as sent, and the part's media type."""

    content: bytes
    content_type: str = APPLICATION_DICOM


@dataclass(frozen=True)
class ValidInstance:
    """A part whose header was read and accepted: where it is to be stored."""

    ref: InstanceRef
    sop_class: str
    content: bytes


@dataclass(frozen=True)
class StoredInstance:
    ref: InstanceRef
    sop_class: str
    size: int = 0


@dataclass(frozen=True)
class FailedInstance:
    sop_class: str | None
    sop: str | None
    reason: FailureReason
    message: str


@dataclass
class StowResult:
    """Accumulate, then decide: 200 all stored, 202 some failed, 409 none stored."""

    stored: list[StoredInstance] = field(default_factory=list)
    failed: list[FailedInstance] = field(default_factory=list)

    def add(self, outcome: StoredInstance | FailedInstance) -> None:
        if isinstance(outcome, StoredInstance):
            self.stored.append(outcome)
        else:
            self.failed.append(outcome)

    @property
    def status(self) -> int:
        if not self.failed:
            return 200
        return 202 if self.stored else 409

    def to_dicom_json(self, base_url: str, study_in_url: str | None) -> JsonDict:
        """The Store Instances Response Module (PS3.18 10.5.3) as DICOM JSON."""
        ds = Dataset()
        studies = {s.ref.study for s in self.stored}
        study = study_in_url or (next(iter(studies)) if len(studies) == 1 else None)
        if study:
            ds.RetrieveURL = f"{base_url}/studies/{study}"
        if self.stored:
            ds.ReferencedSOPSequence = [_referenced(s, base_url) for s in self.stored]
        if self.failed:
            ds.FailedSOPSequence = [_failed(f) for f in self.failed]
        result: JsonDict = ds.to_json_dict()
        return result


def _referenced(item: StoredInstance, base_url: str) -> Dataset:
    ref = item.ref
    ds = Dataset()
    ds.ReferencedSOPClassUID = item.sop_class
    ds.ReferencedSOPInstanceUID = ref.sop
    ds.RetrieveURL = f"{base_url}/studies/{ref.study}/series/{ref.series}/instances/{ref.sop}"
    return ds


def _failed(item: FailedInstance) -> Dataset:
    ds = Dataset()
    if item.sop_class:
        ds.ReferencedSOPClassUID = item.sop_class
    if item.sop:
        ds.ReferencedSOPInstanceUID = item.sop
    ds.FailureReason = int(item.reason)
    return ds


def _best_effort_uids(data: bytes) -> tuple[str | None, str | None]:
    """SOP Class / Instance UIDs of a rejected part, if they can be read at all."""
    try:
        ds = pydicom.dcmread(BytesIO(data), force=True, stop_before_pixels=True)
        cls, sop = str(ds.get("SOPClassUID", "")), str(ds.get("SOPInstanceUID", ""))
        return (cls if is_valid_uid(cls) else None, sop if is_valid_uid(sop) else None)
    except Exception:
        return None, None


def instance_parts(content_type: str | None, body: bytes) -> list[InstancePart]:
    """The instances of a STOW request body: ``multipart/related`` of ``application/dicom``
    parts (``type`` absent or application/dicom), or one ``application/dicom`` instance (a
    Microsoft extension). Any other Content-Type is 415; a multipart without a boundary or
    that cannot be read is 400."""
    if not content_type:
        raise UnsupportedMediaType(
            "Content-Type is required: multipart/related or application/dicom"
        )
    try:
        media = parse_media_type(content_type)
    except BadRequest as exc:
        raise UnsupportedMediaType(exc.message) from exc
    if media.essence == APPLICATION_DICOM:
        return [InstancePart(body)]
    if media.essence != MULTIPART_RELATED:
        raise UnsupportedMediaType(
            f'{media.essence} is not accepted: use multipart/related; type="application/dicom"'
        )
    if multipart_type(media) not in (None, APPLICATION_DICOM):
        raise UnsupportedMediaType(
            f"multipart/related of {multipart_type(media)} is not accepted; "
            'use type="application/dicom"'
        )
    boundary = media.params.get("boundary")
    if not boundary:
        raise BadRequest("multipart/related without a boundary parameter", code="InvalidMultipart")
    return [
        InstancePart(p.content, p.content_type or APPLICATION_DICOM)
        for p in read_multipart(body, boundary)
    ]


class InstanceWriter:
    """Validate and store one instance at a time: the core of every STOW front (this
    request-at-once service, and a receiver that streams parts as they arrive)."""

    def __init__(self, store: ObjectStore) -> None:
        self._store = store

    def check(
        self, part: InstancePart, tenant: str, study_in_url: str | None
    ) -> ValidInstance | FailedInstance:
        """The part's header read and accepted, or why not (a FailureReason): not
        application/dicom or not a readable instance (0xC000 and kin), or of another study
        than the request URL names (0xA901)."""
        try:
            if part.content_type.split(";")[0].strip().lower() != APPLICATION_DICOM:
                raise InstanceRejected(
                    FailureReason.CANNOT_UNDERSTAND,
                    f"part media type {part.content_type[:60]!r} is not application/dicom",
                )
            header = read_instance(part.content)
        except InstanceRejected as exc:
            sop_class, sop = _best_effort_uids(part.content)
            return FailedInstance(sop_class, sop, exc.reason, exc.message)
        if study_in_url and header.study != study_in_url:
            return FailedInstance(
                header.sop_class,
                header.sop,
                FailureReason.STUDY_UID_MISMATCH,
                "StudyInstanceUID differs from the study in the request URL",
            )
        ref = InstanceRef(tenant, header.study, header.series, header.sop)
        return ValidInstance(ref, header.sop_class, part.content)

    def write(self, valid: ValidInstance) -> StoredInstance | FailedInstance:
        """Put the instance at its canonical key; a storage failure fails the instance
        (0xA700 when storage is busy, 0x0110 otherwise) instead of the request."""
        try:
            self._store.put(instance_key(valid.ref), valid.content, APPLICATION_DICOM)
        except StorageError as exc:
            reason = (
                FailureReason.OUT_OF_RESOURCES
                if isinstance(exc, StorageBusy)
                else FailureReason.PROCESSING_FAILURE
            )
            return FailedInstance(
                valid.sop_class, valid.ref.sop, reason, f"storage error {exc.code}"
            )
        return StoredInstance(valid.ref, valid.sop_class, len(valid.content))


class Stow:
    def __init__(self, store: ObjectStore) -> None:
        self._writer = InstanceWriter(store)

    def store_instances(
        self,
        tenant: str,
        content_type: str | None,
        body: bytes,
        study_in_url: str | None,
        base_url: str,
    ) -> Body:
        """Store Instances: the request's parts validated and stored; 200 all stored, 202 some
        failed, 409 none stored, the response module as DICOM JSON."""
        result = self.store_parts(tenant, instance_parts(content_type, body), study_in_url)
        logger.info(
            "stow",
            extra={
                "transaction": "stow",
                "stored": len(result.stored),
                "failed": len(result.failed),
            },
        )
        count("InstancesStored", len(result.stored), tenant=tenant)
        count("InstancesFailed", len(result.failed), tenant=tenant)
        count("BytesStored", sum(s.size for s in result.stored), "Bytes", tenant=tenant)
        return json_body(result.to_dicom_json(base_url, study_in_url), status=result.status)

    def store_parts(
        self, tenant: str, parts: Sequence[InstancePart], study_in_url: str | None
    ) -> StowResult:
        """Check every part, then write the valid instances, up to ``PUT_CONCURRENCY`` at a
        time. Failures of the check come first, then the writes' outcomes, each in the order
        of the parts."""
        result = StowResult()
        valid: list[ValidInstance] = []
        for part in parts:
            checked = self._writer.check(part, tenant, study_in_url)
            if isinstance(checked, ValidInstance):
                valid.append(checked)
            else:
                result.add(checked)
        if len(valid) > 1:
            with ThreadPoolExecutor(max_workers=PUT_CONCURRENCY) as pool:
                outcomes = list(pool.map(self._writer.write, valid))
        else:
            outcomes = [self._writer.write(v) for v in valid]
        for outcome in outcomes:
            result.add(outcome)
        return result
