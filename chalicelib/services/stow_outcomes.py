"""What STOW works with, part by part: a request's part, a part found valid, stored or failed,
and the result that accumulates them (then decides 200, 202 or 409)."""

from __future__ import annotations

from dataclasses import dataclass, field

from chalicelib.dicomweb.errors import FailureReason
from chalicelib.dicomweb.media import APPLICATION_DICOM
from chalicelib.dicomweb.resources import InstanceRef
from chalicelib.dicomweb.stow_response import Failed, Referenced, store_instances_response
from chalicelib.services.ports import JsonDict


@dataclass(frozen=True)
class InstancePart:
    """One part of a STOW request: an instance's bytes as sent, and the part's media type."""

    content: bytes
    content_type: str = APPLICATION_DICOM


@dataclass(frozen=True)
class ValidInstance:
    """A part whose header was read and accepted: where it is to be stored."""

    position: int
    ref: InstanceRef
    sop_class: str
    content: bytes


@dataclass(frozen=True)
class StoredInstance:
    """A part stored at its canonical key. ``position``: the part's 1-based position in the
    request."""

    position: int
    ref: InstanceRef
    sop_class: str
    size: int = 0
    #: the S3 version this request wrote (a withdrawal deletes exactly it)
    version_id: str | None = None

    def failed(self, reason: FailureReason, message: str) -> FailedInstance:
        """The same part reported failed after all (a later step could not complete)."""
        return FailedInstance(self.position, self.sop_class, self.ref.sop, reason, message)


@dataclass(frozen=True)
class FailedInstance:
    """A part not stored: its UIDs when they could be read, the FailureReason, and the reason
    in words (UIDs, tag keywords and sizes only: never a patient's values)."""

    position: int
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
        """The Store Instances Response Module (PS3.18 10.5.3) as DICOM JSON, each sequence
        in the order of the parts."""
        studies = {s.ref.study for s in self.stored}
        study = study_in_url or (next(iter(studies)) if len(studies) == 1 else None)
        return store_instances_response(
            f"{base_url}/studies/{study}" if study else None,
            [
                Referenced(s.position, s.sop_class, s.ref.sop, _retrieve_url(base_url, s.ref))
                for s in self.stored
            ],
            [Failed(f.position, f.sop_class, f.sop, f.reason, f.message) for f in self.failed],
        )


def _retrieve_url(base_url: str, ref: InstanceRef) -> str:
    return f"{base_url}/studies/{ref.study}/series/{ref.series}/instances/{ref.sop}"
