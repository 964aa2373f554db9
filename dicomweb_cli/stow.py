"""One STOW-RS request of several files, and what its answer says of each.

The body is ``multipart/related; type="application/dicom"``, read from the files as requests
sends it (its length known in advance: ``Content-Length``, so the service can refuse a body
before it arrives), each file's SHA-256 computed on the way for the journal.

The answer (the Store Instances Response, PS3.18 10.5.3) is matched to the files by the
position of their part: this service gives every item of ReferencedSOPSequence and
FailedSOPSequence its part's 1-based position, and every failure its reason in words, in a
private block (``chalicelib/dicomweb/stow_response.py``). Never by SOP Instance UID alone: two
files may share one (a truncated copy, a re-export). From a server without positions, an item
is matched by UID only when one file of the request has it.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from chalicelib.dicomweb.stow_response import (
    FAILURE_TEXT,
    PART_POSITION,
    PRIVATE_CREATOR,
    PRIVATE_GROUP,
)
from dicomweb_cli.scan import Found

STOW_TYPE = 'multipart/related; type="application/dicom"; boundary={boundary}'
#: DICOM status names of the failure reasons a STOW answers (PS3.18 Table I.2-1, PS3.4 B.2.3)
REASONS = {
    0xA700: "out of resources",
    0xA900: "data set does not match SOP class",
    0xA901: "instance does not belong to the study in the URL",
    0xC000: "cannot understand",
    0xC122: "referenced transfer syntax not supported",
    0x0122: "SOP class not supported",
    0x0110: "processing failure",
}
FAILED_SOP_SEQUENCE, REFERENCED_SOP_SEQUENCE = "00081198", "00081199"
FAILURE_REASON, REFERENCED_SOP_INSTANCE_UID = "00081197", "00081155"
CHUNK = 1 << 20


class MultipartBody:
    """The request body, read lazily: ``len()`` is its exact size, ``digests`` the files'
    SHA-256 once read whole."""

    def __init__(self, files: list[Found], boundary: str | None = None) -> None:
        self.boundary = boundary or uuid.uuid4().hex
        self._files = files
        self._head = f"--{self.boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode()
        self._tail = f"--{self.boundary}--\r\n".encode()
        self.length = sum(len(self._head) + f.size + 2 for f in files) + len(self._tail)
        self.digests: list[str | None] = [None] * len(files)
        self._chunks = self._generate()
        self._current, self._offset = b"", 0

    @property
    def content_type(self) -> str:
        return STOW_TYPE.format(boundary=self.boundary)

    def __len__(self) -> int:
        return self.length

    def __iter__(self) -> Iterator[bytes]:
        return self._chunks

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes (fewer at a file's boundary), ``b""`` at the end."""
        while self._offset >= len(self._current):
            chunk = next(self._chunks, None)
            if chunk is None:
                return b""
            self._current, self._offset = chunk, 0
        end = len(self._current) if size < 0 else self._offset + size
        out = self._current[self._offset : end]
        self._offset += len(out)
        return out

    def _generate(self) -> Iterator[bytes]:
        for index, found in enumerate(self._files):
            yield self._head
            digest = hashlib.sha256()
            sent = 0
            with found.path.open("rb") as f:
                while sent < found.size and (chunk := f.read(min(CHUNK, found.size - sent))):
                    digest.update(chunk)
                    sent += len(chunk)
                    yield chunk
            if sent != found.size:  # changed while read: the part would not match its length
                raise OSError(f"{found.shown} changed size while it was sent")
            self.digests[index] = digest.hexdigest()
            yield b"\r\n"
        yield self._tail


@dataclass(frozen=True)
class PartOutcome:
    """What the answer says of one part: stored, or failed with the reason in words."""

    stored: bool
    reason: str = ""


def reason_words(item: dict[str, Any]) -> str:
    """``0xC000 (cannot understand): <the service's words>``."""
    code = _value(item, FAILURE_REASON)
    text = _private(item, FAILURE_TEXT)
    if not isinstance(code, int):
        return f"refused: {text}" if text else "refused (no FailureReason)"
    named = f"0x{code:04X} ({REASONS[code]})" if code in REASONS else f"0x{code:04X}"
    return f"{named}: {text}" if text else named


def part_outcomes(body: dict[str, Any], files: list[Found]) -> list[PartOutcome]:
    """One outcome per file, in order; a file the answer does not mention failed."""
    items = [(True, i) for i in _items(body, REFERENCED_SOP_SEQUENCE)]
    items += [(False, i) for i in _items(body, FAILED_SOP_SEQUENCE)]
    unique_uids = _unique_sops(files)
    got: dict[int, PartOutcome] = {}
    for stored, item in items:
        position = _private(item, PART_POSITION)
        if not isinstance(position, int):  # a server without positions: by a unique UID
            position = unique_uids.get(str(_value(item, REFERENCED_SOP_INSTANCE_UID)))
            if position is None and len(files) == 1:
                position = 1
        if isinstance(position, int) and 1 <= position <= len(files) and position not in got:
            got[position] = PartOutcome(True) if stored else PartOutcome(False, reason_words(item))
    unanswered = PartOutcome(False, "the service's answer does not mention this file")
    return [got.get(n, unanswered) for n in range(1, len(files) + 1)]


def _items(body: dict[str, Any], tag: str) -> list[dict[str, Any]]:
    value = (body.get(tag) or {}).get("Value") or []
    return [i for i in value if isinstance(i, dict)]


def _value(item: dict[str, Any], tag: str) -> Any:
    values = (item.get(tag) or {}).get("Value") or [None]
    return values[0]


def _private(item: dict[str, Any], offset: int) -> Any:
    """An element of the service's private block (its creator names the block)."""
    group = f"{PRIVATE_GROUP:04X}"
    for block in range(0x10, 0x100):
        creator = _value(item, f"{group}00{block:02X}")
        if creator is None:
            continue
        if str(creator).strip() == PRIVATE_CREATOR:
            return _value(item, f"{group}{block:02X}{offset:02X}")
    return None


def _unique_sops(files: list[Found]) -> dict[str, int]:
    counts: dict[str, list[int]] = {}
    for n, f in enumerate(files, start=1):
        if f.uids:
            counts.setdefault(f.uids[2], []).append(n)
    return {sop: positions[0] for sop, positions in counts.items() if len(positions) == 1}
