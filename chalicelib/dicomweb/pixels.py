"""Where each frame's bytes lie in a stored Part 10 file, computed once at index time, so a
frame is served by one S3 Range GET of about its own size (pure Python, no numpy).

* Native pixel data: arithmetic from the Pixel Data value offset and the frame size.
* Encapsulated pixel data: the Extended Offset Table when the header has one, else the Basic
  Offset Table, else the fragment item headers walked one 8-byte ranged read at a time (one
  fragment per frame), else, for a single frame, everything up to the sequence delimiter.

A frame range of encapsulated data still holds item headers; ``strip_items`` removes them.
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chalicelib.dicomweb.file_meta import LONG_VRS

if TYPE_CHECKING:  # a frame served from the catalog's table needs no pydicom (its cold start)
    from pydicom.dataset import Dataset

UNDEFINED = 0xFFFFFFFF
ITEM = (0xFFFE, 0xE000)
SEQUENCE_DELIMITER = (0xFFFE, 0xE0DD)

#: Reads ``length`` bytes of the stored object at ``offset`` (a ranged GET).
ReadRange = Callable[[int, int], bytes]


@dataclass(frozen=True)
class FrameTable:
    """Byte ranges (offset, length) of each frame in the stored object."""

    ranges: tuple[tuple[int, int], ...]
    encapsulated: bool
    #: ranged reads the walk cost at index time (0 when a table or arithmetic sufficed)
    walk_reads: int = 0

    def pack(self) -> bytes:
        return b"".join(struct.pack("<QQ", o, n) for o, n in self.ranges)

    @classmethod
    def unpack(cls, data: bytes, encapsulated: bool) -> FrameTable:
        ranges = tuple(struct.iter_unpack("<QQ", data))
        return cls(tuple((int(o), int(n)) for o, n in ranges), encapsulated)


def number_of_frames(ds: Dataset) -> int:
    try:
        return max(1, int(ds.get("NumberOfFrames", 1) or 1))
    except (TypeError, ValueError):
        return 1


def frame_size(ds: Dataset) -> int | None:
    try:
        rows, cols = int(ds.Rows), int(ds.Columns)
        samples = int(ds.get("SamplesPerPixel", 1) or 1)
        bits = int(ds.BitsAllocated)
    except (AttributeError, TypeError, ValueError):
        return None
    if bits % 8:
        return None  # 1-bit data is packed across frames: no byte-aligned frames
    size = rows * cols * samples * bits // 8
    if str(ds.get("PhotometricInterpretation", "")).strip() == "YBR_FULL_422":
        size = size * 2 // 3
    return size


def element_header(head: bytes, transfer_syntax: str) -> tuple[int, int]:
    """(header length, value length) of the element whose tag starts ``head``."""
    from pydicom.uid import UID

    ts = UID(transfer_syntax)
    little = ts.is_little_endian if ts.is_transfer_syntax else True
    endian = "<" if little else ">"
    implicit = ts.is_implicit_VR if ts.is_transfer_syntax else False
    if implicit:
        return 8, struct.unpack_from(endian + "L", head, 4)[0]
    if head[4:6] in LONG_VRS:
        return 12, struct.unpack_from(endian + "L", head, 8)[0]
    return 8, struct.unpack_from(endian + "H", head, 6)[0]


def strip_items(data: bytes) -> bytes:
    """The fragment values of a run of encapsulated items, without their item headers."""
    out = bytearray()
    pos = 0
    while pos + 8 <= len(data):
        group, elem, length = struct.unpack_from("<HHL", data, pos)
        if (group, elem) != ITEM:
            break
        out += data[pos + 8 : pos + 8 + length]
        pos += 8 + length
    return bytes(out)


def frame_table(
    ds: Dataset, transfer_syntax: str, tag_offset: int, total_size: int, read: ReadRange
) -> FrameTable | None:
    """The frames of an instance whose Pixel Data tag is at ``tag_offset``; None when frames
    cannot be located without reading the whole object (deflated data, bit-packed frames)."""
    from pydicom.uid import UID

    ts = UID(transfer_syntax)
    if ts.is_transfer_syntax and ts.is_deflated:
        return None
    head = read(tag_offset, 12)
    header_len, value_len = element_header(head, transfer_syntax)
    start = tag_offset + header_len
    frames = number_of_frames(ds)
    if value_len != UNDEFINED:
        size = frame_size(ds)
        if size is None or start + size * frames > total_size:
            return None
        return FrameTable(tuple((start + i * size, size) for i in range(frames)), False)
    return _encapsulated(ds, start, total_size, frames, read)


def _encapsulated(
    ds: Dataset, start: int, total_size: int, frames: int, read: ReadRange
) -> FrameTable | None:
    group, elem, bot_len = struct.unpack("<HHL", read(start, 8))
    if (group, elem) != ITEM:
        return None
    first = start + 8 + bot_len  # the first fragment's item tag; offsets count from here
    eot = ds.get("ExtendedOffsetTable")
    eot_lengths = ds.get("ExtendedOffsetTableLengths")
    if eot and eot_lengths:
        offsets = struct.unpack(f"<{len(eot) // 8}Q", eot)
        lengths = struct.unpack(f"<{len(eot_lengths) // 8}Q", eot_lengths)
        # EOT lengths count fragment bytes; with its 8-byte item header each frame is one item
        return FrameTable(
            tuple((first + o, n + 8) for o, n in zip(offsets, lengths, strict=False)), True
        )
    if bot_len:
        offsets = struct.unpack(f"<{bot_len // 4}L", read(start + 8, bot_len))
        bounds = [first + o for o in offsets] + [total_size]
        return FrameTable(tuple((a, b - a) for a, b in itertools.pairwise(bounds)), True)
    if frames == 1:
        return FrameTable(((first, total_size - first),), True)
    ranges: list[tuple[int, int]] = []
    pos, reads = first, 0
    while pos + 8 <= total_size and len(ranges) <= frames:
        group, elem, length = struct.unpack("<HHL", read(pos, 8))
        reads += 1
        if (group, elem) != ITEM:
            break
        ranges.append((pos, 8 + length))
        pos += 8 + length
    if len(ranges) != frames:
        return None  # several fragments per frame and no offset table: not locatable
    return FrameTable(tuple(ranges), True, walk_reads=reads)
