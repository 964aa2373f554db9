"""WADO-RS frames and bulk data (PS3.18 10.4.1.1.3-4).

Frame byte ranges are computed at index time (``dicomweb/pixels.py``): a frame costs one
GetItem and one S3 Range GET of about its own size. An instance not catalogued yet (read after
write) is read whole and its frames located (and cut) from those bytes.

Near the limits: the service answers a ``Body`` whatever its size and ``routes/respond.py``
decides how it travels. Native frames (and native Pixel Data) are ``ObjectSlice`` parts, left
unread: under the payload limit they are read when the answer is sent, over it they are copied
server-side into the body spilled to S3 (303), never read by the function. Encapsulated frames
are read and stripped of their item headers here (and decoded when the client asks for
uncompressed frames). Pixel Data asked for as bulk data is answered like any other: over the
limit, by a 303.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from chalicelib.dicomweb.errors import BadRequest, NotAcceptable, NotFound
from chalicelib.dicomweb.media import OCTET_STREAM, FrameChoice, MediaType, negotiate_frames
from chalicelib.dicomweb.pixels import FrameTable, frame_table, strip_items
from chalicelib.dicomweb.resources import InstanceRef
from chalicelib.services.answers import Body, BodyPart, Content, ObjectSlice
from chalicelib.services.ports import CatalogReader, JsonDict, ObjectStore
from chalicelib.services.transcode import decode_frame
from chalicelib.storage import keys

PIXEL_DATA = "7FE00010"
_HEX_TAG = re.compile(r"[0-9A-Fa-f]{8}")


def _value(attrs: JsonDict, tag: str, default: Any = None) -> Any:
    values = attrs.get(tag, {}).get("Value") or [default]
    return values[0]


def decode_options(attrs: JsonDict) -> dict[str, Any]:
    """What a decoder needs to know of one frame, from the catalog's instance attributes."""
    return {
        "rows": int(_value(attrs, "00280010", 0)),
        "columns": int(_value(attrs, "00280011", 0)),
        "samples_per_pixel": int(_value(attrs, "00280002", 1)),
        "bits_allocated": int(_value(attrs, "00280100", 16)),
        "bits_stored": int(_value(attrs, "00280101", _value(attrs, "00280100", 16))),
        "photometric_interpretation": str(_value(attrs, "00280004", "MONOCHROME2")),
        "pixel_representation": int(_value(attrs, "00280103", 0)),
        "planar_configuration": int(_value(attrs, "00280006", 0)),
        "number_of_frames": 1,
    }


@dataclass(frozen=True)
class Located:
    """Where an instance's frames are, and what is needed to read and decode them."""

    key: str
    table: FrameTable
    transfer_syntax: str
    attrs: JsonDict
    etag: str = ""
    #: the whole object, when it was read to locate its frames (not catalogued yet)
    data: bytes | None = None

    def content(self, offset: int, length: int) -> Content:
        """The bytes ``offset..offset+length`` as a part: sliced from the object when it was
        read, else left unread."""
        if self.data is not None:
            return self.data[offset : offset + length]
        return ObjectSlice(self.key, offset, length, self.etag)

    def read(self, store: ObjectStore, offset: int, length: int) -> bytes:
        if self.data is not None:
            return self.data[offset : offset + length]
        got = store.get_range(self.key, offset, offset + length - 1)
        if got is None:
            raise NotFound("instance not found")
        return got.data


class Frames:
    def __init__(self, store: ObjectStore, catalog: CatalogReader) -> None:
        self._store = store
        self._catalog = catalog

    def retrieve_instance_frames(
        self, ref: InstanceRef, numbers: list[int], accept: list[MediaType]
    ) -> Body:
        """The frames asked for, one part each, in the order asked for: uncompressed
        (octet-stream) or as stored, per the Accept header."""
        at = self._locate(ref)
        count = len(at.table.ranges)
        missing = [n for n in numbers if n > count]
        if missing:
            raise NotFound(f"frame {missing[0]} does not exist (the instance has {count})")
        choice = negotiate_frames(accept, at.transfer_syntax)
        if choice is None:
            raise NotAcceptable(f"the frames are stored as {at.transfer_syntax}")
        content_type = f"{choice.content_type}; transfer-syntax={choice.transfer_syntax}"
        parts = [BodyPart(self._frame(at, n, choice), content_type) for n in numbers]
        spill_to = keys.bundles_prefix(ref.tenant, ref.study, ref.series)
        return Body.of_parts(parts, choice.content_type, spill_to=spill_to)

    def retrieve_bulkdata(self, ref: InstanceRef, tag: str) -> Body:
        """The value of a top-level bulk data element named by a BulkDataURI (hex tag), as
        one application/octet-stream part; Pixel Data (7FE00010) as its native bytes or its
        encapsulated frames stripped of their item headers."""
        if not _HEX_TAG.fullmatch(tag):
            raise BadRequest("bulk data is addressed by an 8-digit hex tag", code="InvalidTag")
        tag = tag.upper()
        content = self._pixel_data(ref) if tag == PIXEL_DATA else self._header_value(ref, tag)
        spill_to = keys.bundles_prefix(ref.tenant, ref.study, ref.series)
        return Body.of_parts([BodyPart(content, OCTET_STREAM)], OCTET_STREAM, spill_to=spill_to)

    # --- reading ----------------------------------------------------------------------------

    def _frame(self, at: Located, number: int, choice: FrameChoice) -> Content:
        offset, length = at.table.ranges[number - 1]
        if not at.table.encapsulated and not choice.decode:
            return at.content(offset, length)
        data = at.read(self._store, offset, length)
        if at.table.encapsulated:
            data = strip_items(data)
        if choice.decode:
            data = decode_frame(data, at.transfer_syntax, decode_options(at.attrs))
        return data

    def _pixel_data(self, ref: InstanceRef) -> Content:
        at = self._locate(ref)
        ranges = at.table.ranges
        start = ranges[0][0]
        length = ranges[-1][0] + ranges[-1][1] - start
        if not at.table.encapsulated:
            return at.content(start, length)
        return strip_items(at.read(self._store, start, length))

    def _header_value(self, ref: InstanceRef, tag: str) -> bytes:
        """A bulk data element of the header: one GetItem and a ranged read of the header
        (the whole object when it is not catalogued)."""
        key = keys.instance_key(ref)
        entry = self._catalog.get_instance(ref)
        header_end = entry.pixel_offset if entry is not None else None
        if header_end:
            got = self._store.get_range(key, 0, header_end - 1)
            data = got.data if got is not None else None
        else:
            data = self._store.get(key)
        if data is None:
            raise NotFound("instance not found")
        from chalicelib.dicomweb.instance import read_header  # pydicom: see _locate

        header = read_header(data, len(data))
        element = header.dataset.get(int(tag, 16))
        if element is None or not isinstance(element.value, (bytes, bytearray)):
            raise NotFound(f"no bulk data element {tag}")
        return bytes(element.value)

    def _locate(self, ref: InstanceRef) -> Located:
        """The frame table from the catalog (one GetItem), else from the whole object."""
        key = keys.instance_key(ref)
        entry = self._catalog.get_instance(ref)
        if entry is not None and entry.frames is not None:
            table = FrameTable.unpack(entry.frames, entry.frames_encapsulated)
            return Located(key, table, entry.transfer_syntax, entry.attrs, entry.etag)
        data = self._store.get(key)
        if data is None:
            raise NotFound("instance not found")
        # not catalogued (yet): pydicom reads the header, imported here so that a frame served
        # from the catalog's table never loads it (~245 M instructions of a cold start)
        from chalicelib.dicomweb.instance import read_header
        from chalicelib.services.records import select_all

        header = read_header(data, len(data))
        if header.pixel_data_offset is None:
            raise NotFound("the instance has no pixel data")
        found = frame_table(
            header.dataset,
            header.transfer_syntax,
            header.pixel_data_offset,
            len(data),
            lambda o, n: data[o : o + n],
        )
        if found is None:
            raise NotAcceptable("the frames of this instance cannot be located")
        return Located(key, found, header.transfer_syntax, select_all(header.dataset), data=data)
