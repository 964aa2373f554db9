"""Errors with DICOM meaning, mapped to HTTP once (see ``routes/http.py``)."""

from __future__ import annotations

from enum import IntEnum


class FailureReason(IntEnum):
    """Failure Reason (0008,1197) values used in STOW-RS responses (PS3.18 10.5.3, PS3.4 GG)."""

    PROCESSING_FAILURE = 0x0110
    SOP_CLASS_NOT_SUPPORTED = 0x0122
    OUT_OF_RESOURCES = 0xA700
    DATASET_DOES_NOT_MATCH_SOP_CLASS = 0xA900
    STUDY_UID_MISMATCH = 0xA901
    CANNOT_UNDERSTAND = 0xC000


class DicomWebError(Exception):
    """An error the service answers with its JSON error body."""

    status: int = 400
    code: str = "BadRequest"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code
        self.headers = dict(headers or {})


class BadRequest(DicomWebError):
    status, code = 400, "BadRequest"


class Unauthorized(DicomWebError):
    status, code = 401, "Unauthorized"


class Forbidden(DicomWebError):
    status, code = 403, "Forbidden"


class NotFound(DicomWebError):
    status, code = 404, "NotFound"


class MethodNotAllowed(DicomWebError):
    """A known resource asked for a method it does not serve; ``Allow`` names those it does."""

    status, code = 405, "MethodNotAllowed"


class NotAcceptable(DicomWebError):
    status, code = 406, "NotAcceptable"


class RequestTimeout(DicomWebError):
    """The streaming receiver waited too long for the next bytes of a request body."""

    status, code = 408, "RequestTimeout"


class PayloadTooLarge(DicomWebError):
    status, code = 413, "PayloadTooLarge"


class TooManyRequests(DicomWebError):
    status, code = 429, "TooManyRequests"


class UnsupportedMediaType(DicomWebError):
    status, code = 415, "UnsupportedMediaType"


class InstanceRejected(Exception):
    """One instance of a STOW request (or an import) could not be stored."""

    def __init__(self, reason: FailureReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
