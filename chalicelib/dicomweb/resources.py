"""Study / series / instance references and UID validation.

UIDs become S3 key segments and DynamoDB key parts, so only well-formed UIDs get that far:
digits and dots, at most 64 characters (PS3.5 9.1). Leading zeros in a component are
tolerated (real-world files carry them); anything else is refused at the edge.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

from chalicelib.dicomweb.errors import BadRequest

UID_PATTERN = re.compile(r"[0-9]+(\.[0-9]+)*")  # fullmatch: '$' would accept a trailing newline
MAX_UID_LENGTH = 64
#: Comma-separated frame numbers (PS3.18 10.4.1.1.3), each at most 6 ASCII digits.
FRAME_LIST_PATTERN = re.compile(r"^[0-9]{1,6}(,[0-9]{1,6})*\Z")
#: Frames one request may ask for, each at most once: every one is a part of the answer, so a
#: longer list (or a frame repeated) would make an answer far larger than what is stored.
MAX_FRAMES = 1000


def is_valid_uid(value: str) -> bool:
    """True when ``value`` is a syntactically valid DICOM UID."""
    return len(value) <= MAX_UID_LENGTH and bool(UID_PATTERN.fullmatch(value))


def path_uid(raw: str, name: str) -> str:
    """Decode a percent-encoded path parameter and validate it as a UID (400 otherwise)."""
    value = unquote(raw)
    if not is_valid_uid(value):
        raise BadRequest(f"{name} is not a valid UID", code="InvalidUID")
    return value


@dataclass(frozen=True)
class StudyRef:
    tenant: str
    study: str


@dataclass(frozen=True)
class SeriesRef:
    tenant: str
    study: str
    series: str

    @property
    def study_ref(self) -> StudyRef:
        return StudyRef(self.tenant, self.study)


@dataclass(frozen=True)
class InstanceRef:
    tenant: str
    study: str
    series: str
    sop: str

    @property
    def series_ref(self) -> SeriesRef:
        return SeriesRef(self.tenant, self.study, self.series)

    @property
    def study_ref(self) -> StudyRef:
        return StudyRef(self.tenant, self.study)


def parse_frame_list(text: str) -> list[int]:
    """'1,3,5' -> [1, 3, 5]; 400 for anything else (frame numbers start at 1)."""
    text = text.strip()
    if not FRAME_LIST_PATTERN.match(text):
        raise BadRequest(
            "frames must be a comma-separated list of numbers", code="InvalidFrameList"
        )
    numbers = [int(n) for n in text.split(",")]
    if 0 in numbers:
        raise BadRequest("frame numbers start at 1", code="InvalidFrameList")
    if len(numbers) > MAX_FRAMES:
        raise BadRequest(
            f"at most {MAX_FRAMES} frames a request: ask for the rest in another",
            code="InvalidFrameList",
        )
    if len(set(numbers)) != len(numbers):
        raise BadRequest("each frame may be listed once", code="InvalidFrameList")
    return numbers
