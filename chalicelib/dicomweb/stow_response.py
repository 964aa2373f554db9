"""The Store Instances Response Module (PS3.18 10.5.3, Annex I) as DICOM JSON.

Besides the standard attributes, every item of ReferencedSOPSequence and FailedSOPSequence
carries, in one private block, the 1-based position of its part in the request, and every
failed item a reason in words. Private, because the module defines no attribute for either,
and because the element that Microsoft's service uses for the words, Error Comment
(0000,0902), is a DIMSE command field: group 0000 is reserved for command sets and holds no
Standard Data Element of a Data Set (PS3.5 7.1, 7.2; PS3.7 C.5), and its LO allows 64
characters. Private elements keep the answer valid DICOM JSON, which dicomweb-client parses with
pydicom's ``Dataset.from_json`` (every key a tag, a VR each).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydicom.dataset import Dataset

#: The private creator of the block, at (0009,0010) in each item (PS3.5 7.8.1).
PRIVATE_GROUP = 0x0009
PRIVATE_CREATOR = "SERVERLESS DICOMWEB"
#: Element offsets within the block: (0009,1001) and (0009,1002) once the block is (0009,10xx).
PART_POSITION = 0x01  # UL: the part's 1-based position in the request
FAILURE_TEXT = 0x02  # LT: why the part was not stored, in words, without patient data
PART_POSITION_VR, FAILURE_TEXT_VR = "UL", "LT"
#: LT holds up to 10,240 characters; reasons are a line, kept well under that.
MAX_FAILURE_TEXT = 1024


@dataclass(frozen=True)
class Referenced:
    """A stored instance, as the answer lists it."""

    position: int
    sop_class: str
    sop: str
    retrieve_url: str


@dataclass(frozen=True)
class Failed:
    """A part that was not stored: its UIDs when they could be read, the FailureReason and
    the reason in words."""

    position: int
    sop_class: str | None
    sop: str | None
    reason: int
    text: str


def _private(item: Dataset, position: int, text: str | None = None) -> None:
    block = item.private_block(PRIVATE_GROUP, PRIVATE_CREATOR, create=True)
    block.add_new(PART_POSITION, PART_POSITION_VR, position)
    if text is not None:
        block.add_new(FAILURE_TEXT, FAILURE_TEXT_VR, _printable(text)[:MAX_FAILURE_TEXT])


def _printable(text: str) -> str:
    """One line of printable ASCII (the default repertoire, no control characters)."""
    return "".join(c if " " <= c <= "~" else "?" for c in " ".join(text.split()))


def referenced_item(ref: Referenced) -> Dataset:
    ds = Dataset()
    ds.ReferencedSOPClassUID = ref.sop_class
    ds.ReferencedSOPInstanceUID = ref.sop
    ds.RetrieveURL = ref.retrieve_url
    _private(ds, ref.position)
    return ds


def failed_item(failed: Failed) -> Dataset:
    ds = Dataset()
    if failed.sop_class:
        ds.ReferencedSOPClassUID = failed.sop_class
    if failed.sop:
        ds.ReferencedSOPInstanceUID = failed.sop
    ds.FailureReason = int(failed.reason)
    _private(ds, failed.position, failed.text)
    return ds


def store_instances_response(
    retrieve_url: str | None, referenced: Iterable[Referenced], failed: Iterable[Failed]
) -> dict[str, Any]:
    """The module as DICOM JSON; each sequence in the order of the parts, present only when
    it has an item (both are Type 1C)."""
    ds = Dataset()
    if retrieve_url:
        ds.RetrieveURL = retrieve_url
    failed_items = [failed_item(f) for f in sorted(failed, key=lambda f: f.position)]
    if failed_items:
        ds.FailedSOPSequence = failed_items
    referenced_items = [referenced_item(r) for r in sorted(referenced, key=lambda r: r.position)]
    if referenced_items:
        ds.ReferencedSOPSequence = referenced_items
    result: dict[str, Any] = ds.to_json_dict()
    return result


def part_position(item: Dataset) -> int | None:
    """The part position of an item of either sequence (a parsed answer), if it has one."""
    try:
        return int(item.private_block(PRIVATE_GROUP, PRIVATE_CREATOR)[PART_POSITION].value)
    except KeyError:
        return None


def failure_text(item: Dataset) -> str | None:
    """The reason in words of a FailedSOPSequence item (a parsed answer), if it has one."""
    try:
        return str(item.private_block(PRIVATE_GROUP, PRIVATE_CREATOR)[FAILURE_TEXT].value)
    except KeyError:
        return None
