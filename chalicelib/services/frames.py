"""WADO-RS frames and bulk data (PS3.18 10.4.1.1.3-4).

Frame byte ranges are computed at index time (``dicomweb/pixels.py``): a frame costs one
GetItem and one S3 Range GET of about its own size. An instance not catalogued yet (read after
write) is read whole and its frames located the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from chalicelib.dicomweb.errors import BadRequest, NotAcceptable, NotFound, PayloadTooLarge
from chalicelib.dicomweb.instance import read_header
from chalicelib.dicomweb.media import FrameChoice, MediaType, negotiate_frames
from chalicelib.dicomweb.pixels import FrameTable, frame_table, strip_items
from chalicelib.dicomweb.resources import InstanceRef
from chalicelib.services.large import BundlePart, Link, redirect_to_bundle
from chalicelib.services.ports import CatalogReader, JsonDict, ObjectStore
from chalicelib.services.records import select_all
from chalicelib.services.transcode import decode_frame
from chalicelib.storage.keys import bundles_prefix, instance_key

_FRAME_LIST = re.compile(r"^\d{1,6}(,\d{1,6})*\Z")


@dataclass(frozen=True)
class Frame:
    data: bytes
    content_type: str
    transfer_syntax: str


def parse_frame_list(text: str) -> list[int]:
    """'1,3,5' -> [1, 3, 5]; 400 for anything else (frame numbers start at 1)."""
    text = text.strip()
    if not _FRAME_LIST.match(text):
        raise BadRequest(
            "frames must be a comma-separated list of numbers", code="InvalidFrameList"
        )
    numbers = [int(n) for n in text.split(",")]
    if 0 in numbers:
        raise BadRequest("frame numbers start at 1", code="InvalidFrameList")
    return numbers


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


def _located(
    store: ObjectStore, catalog: CatalogReader, ref: InstanceRef
) -> tuple[FrameTable, str, JsonDict]:
    entry = catalog.get_instance(ref)
    if entry is not None and entry.frames is not None:
        table = FrameTable.unpack(entry.frames, entry.frames_encapsulated)
        return table, entry.transfer_syntax, entry.attrs
    data = store.get(instance_key(ref))
    if data is None:
        raise NotFound("instance not found")
    header = read_header(data, len(data))
    if header.pixel_data_offset is None:
        raise NotFound("the instance has no pixel data")
    table_or_none = frame_table(
        header.dataset,
        header.transfer_syntax,
        header.pixel_data_offset,
        len(data),
        lambda o, n: data[o : o + n],
    )
    if table_or_none is None:
        raise NotAcceptable("the frames of this instance cannot be located")
    return table_or_none, header.transfer_syntax, select_all(header.dataset)


def retrieve_frames(
    store: ObjectStore,
    catalog: CatalogReader,
    ref: InstanceRef,
    numbers: list[int],
    accept: list[MediaType],
    max_bytes: int,
    link: Link,
) -> list[Frame] | str:
    """The frames, or (over the payload limit, e.g. a mammogram frame) a presigned URL of a
    multipart body composed in S3 to redirect to."""
    table, stored, attrs = _located(store, catalog, ref)
    count = len(table.ranges)
    missing = [n for n in numbers if n > count]
    if missing:
        raise NotFound(f"frame {missing[0]} does not exist (the instance has {count})")
    choice = negotiate_frames(accept, stored)
    if choice is None:
        raise NotAcceptable(f"the frames are stored as {stored}")
    key = instance_key(ref)
    opts = decode_options(attrs)
    native = (
        opts["rows"] * opts["columns"] * opts["samples_per_pixel"] * opts["bits_allocated"] // 8
    )
    sizes = [native if choice.decode else table.ranges[n - 1][1] for n in numbers]
    if sum(sizes) > max_bytes:
        return _redirect_frames(store, ref, key, table, numbers, choice, stored, attrs, link)
    frames = []
    for n in numbers:
        offset, length = table.ranges[n - 1]
        got = store.get_range(key, offset, offset + length - 1)
        if got is None:
            raise NotFound("instance not found")
        data = strip_items(got.data) if table.encapsulated else got.data
        if choice.decode:
            data = decode_frame(data, stored, decode_options(attrs))
        frames.append(Frame(data, choice.content_type, choice.transfer_syntax))
    return frames


def retrieve_bulkdata(
    store: ObjectStore, catalog: CatalogReader, ref: InstanceRef, tag: str, max_bytes: int
) -> bytes:
    """The value of a top-level bulk data element named by a BulkDataURI (hex tag)."""
    if not re.fullmatch(r"[0-9A-Fa-f]{8}", tag):
        raise BadRequest("bulk data is addressed by an 8-digit hex tag", code="InvalidTag")
    tag = tag.upper()
    key = instance_key(ref)
    if tag == "7FE00010":
        table, _, _ = _located(store, catalog, ref)
        start = table.ranges[0][0]
        end = table.ranges[-1][0] + table.ranges[-1][1]
        if end - start > max_bytes:
            raise PayloadTooLarge("the pixel data exceeds the response payload limit; use frames")
        got = store.get_range(key, start, end - 1)
        if got is None:
            raise NotFound("instance not found")
        return strip_items(got.data) if table.encapsulated else got.data
    entry = catalog.get_instance(ref)
    header_end = entry.pixel_offset if entry is not None else None
    if header_end:
        got_header = store.get_range(key, 0, header_end - 1)
        data = got_header.data if got_header is not None else None
    else:
        data = store.get(key)
    if data is None:
        raise NotFound("instance not found")
    header = read_header(data, len(data))
    element = header.dataset.get(int(tag, 16))
    if element is None or not isinstance(element.value, (bytes, bytearray)):
        raise NotFound(f"no bulk data element {tag}")
    return bytes(element.value)


def _redirect_frames(
    store: ObjectStore,
    ref: InstanceRef,
    key: str,
    table: FrameTable,
    numbers: list[int],
    choice: FrameChoice,
    stored: str,
    attrs: JsonDict,
    link: Link,
) -> str:
    content_type = f"{choice.content_type}; transfer-syntax={choice.transfer_syntax}"
    parts = []
    for n in numbers:
        offset, length = table.ranges[n - 1]
        piece: bytes | tuple[str, int, int]
        if not table.encapsulated:
            piece = (key, offset, length)  # copied server-side, never read here
        else:
            got = store.get_range(key, offset, offset + length - 1)
            data = strip_items(got.data) if got is not None else b""
            piece = decode_frame(data, stored, decode_options(attrs)) if choice.decode else data
        parts.append(BundlePart(content_type, piece))
    identity = [key, numbers, content_type, table.pack().hex()[:64]]
    scope = bundles_prefix(ref.tenant, ref.study, ref.series)
    return redirect_to_bundle(store, scope, identity, parts, choice.content_type, link)
