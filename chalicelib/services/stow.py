"""STOW-RS (PS3.18 10.5): store instances. S3 is written once per valid instance, at its
canonical key; the catalog is not touched here (the S3 event drives indexing)."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from io import BytesIO

import pydicom
from pydicom.dataset import Dataset

from chalicelib.dicomweb.errors import FailureReason, InstanceRejected
from chalicelib.dicomweb.instance import read_instance
from chalicelib.dicomweb.media import APPLICATION_DICOM
from chalicelib.dicomweb.resources import InstanceRef, is_valid_uid
from chalicelib.services.ports import JsonDict, ObjectStore, StorageBusy, StorageError
from chalicelib.storage.keys import instance_key


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


PUT_CONCURRENCY = 8


@dataclass(frozen=True)
class InstancePart:
    content: bytes
    content_type: str = APPLICATION_DICOM


def store_instances(
    store: ObjectStore, tenant: str, parts: Sequence[InstancePart], study_in_url: str | None
) -> StowResult:
    """Validate each part, then write the valid instances to their canonical S3 keys, up to
    ``PUT_CONCURRENCY`` at a time (a batch of 50 costs about two PUT latencies, not 50, which
    keeps a full STOW far inside API Gateway's 29 s). Answers keep the order of the parts."""
    result = StowResult()
    valid: list[tuple[InstanceRef, str, InstancePart]] = []
    for part in parts:
        try:
            if part.content_type.split(";")[0].strip().lower() != APPLICATION_DICOM:
                raise InstanceRejected(
                    FailureReason.CANNOT_UNDERSTAND,
                    f"part media type {part.content_type[:60]!r} is not application/dicom",
                )
            header = read_instance(part.content)
            if study_in_url and header.study != study_in_url:
                result.failed.append(
                    FailedInstance(
                        header.sop_class,
                        header.sop,
                        FailureReason.STUDY_UID_MISMATCH,
                        "StudyInstanceUID differs from the study in the request URL",
                    )
                )
                continue
            ref = InstanceRef(tenant, header.study, header.series, header.sop)
            valid.append((ref, header.sop_class, part))
        except InstanceRejected as exc:
            sop_class, sop = _best_effort_uids(part.content)
            result.failed.append(FailedInstance(sop_class, sop, exc.reason, exc.message))

    def put(item: tuple[InstanceRef, str, InstancePart]) -> FailedInstance | StoredInstance:
        ref, sop_class, part = item
        try:
            store.put(instance_key(ref), part.content, APPLICATION_DICOM)
        except StorageError as exc:
            reason = (
                FailureReason.OUT_OF_RESOURCES
                if isinstance(exc, StorageBusy)
                else FailureReason.PROCESSING_FAILURE
            )
            return FailedInstance(sop_class, ref.sop, reason, f"storage error {exc.code}")
        return StoredInstance(ref, sop_class, len(part.content))

    if len(valid) > 1:
        with ThreadPoolExecutor(max_workers=PUT_CONCURRENCY) as pool:
            outcomes = list(pool.map(put, valid))
    else:
        outcomes = [put(item) for item in valid]
    for outcome in outcomes:
        if isinstance(outcome, StoredInstance):
            result.stored.append(outcome)
        else:
            result.failed.append(outcome)
    return result
