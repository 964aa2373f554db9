"""Reading and validating DICOM Part 10 instances with pydicom.

Two entry points:

* ``read_instance(data)``: the whole file (a STOW part). Validates what pydicom lets through
  silently: a file cut short (pydicom reads a truncated value without complaint), native pixel
  data shorter than its dimensions need, encapsulated pixel data whose items run past the end.
* ``read_header(buf, total_size)``: the first bytes of a stored object (the indexer's ranged
  read). Stops before pixel data; raises ``NeedMoreBytes`` when the header is longer than
  ``buf`` so the caller can widen its read.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from io import BytesIO
from typing import Any

import pydicom
from pydicom.datadict import keyword_for_tag
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import UID

from chalicelib.dicomweb.errors import FailureReason, InstanceRejected
from chalicelib.dicomweb.resources import is_valid_uid

UNDEFINED_LENGTH = 0xFFFFFFFF
_ITEM = (0xFFFE, 0xE000)
_SEQ_DELIMITER = (0xFFFE, 0xE0DD)
_PIXEL_DATA_TAG = 0x7FE00010


class NeedMoreBytes(Exception):
    """The header continues past the bytes read so far."""


@dataclass(frozen=True)
class InstanceHeader:
    """What the service needs to know about one instance, read from its header."""

    study: str
    series: str
    sop: str
    sop_class: str
    transfer_syntax: str
    dataset: Dataset
    #: Offset of the Pixel Data element's tag in the file, when the header read stopped there.
    pixel_data_offset: int | None = None


def _uid(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword)
    text = str(value).strip().rstrip("\x00") if value is not None else ""
    if not text:
        raise InstanceRejected(FailureReason.CANNOT_UNDERSTAND, f"{keyword} is missing")
    if not is_valid_uid(text):
        raise InstanceRejected(FailureReason.CANNOT_UNDERSTAND, f"{keyword} is not a valid UID")
    return text


def _header_from(ds: Dataset, pixel_offset: int | None) -> InstanceHeader:
    meta = getattr(ds, "file_meta", None)
    ts = meta.get("TransferSyntaxUID") if meta is not None else None
    if not ts:
        raise InstanceRejected(
            FailureReason.CANNOT_UNDERSTAND, "File Meta Information has no TransferSyntaxUID"
        )
    return InstanceHeader(
        study=_uid(ds, "StudyInstanceUID"),
        series=_uid(ds, "SeriesInstanceUID"),
        sop=_uid(ds, "SOPInstanceUID"),
        sop_class=_uid(ds, "SOPClassUID"),
        transfer_syntax=str(ts).strip().rstrip("\x00"),
        dataset=ds,
        pixel_data_offset=pixel_offset,
    )


def _short_elements(ds: Dataset) -> list[RawDataElement]:
    return [
        e
        for e in ds._dict.values()
        if isinstance(e, RawDataElement)
        and e.length != UNDEFINED_LENGTH
        and e.value is not None
        and len(e.value) < e.length
    ]


def _dcmread(fp: BytesIO, **kwargs: Any) -> Dataset:
    try:
        return pydicom.dcmread(fp, force=False, **kwargs)
    except InvalidDicomError as exc:
        raise InstanceRejected(
            FailureReason.CANNOT_UNDERSTAND, "not a DICOM Part 10 file (no preamble or DICM prefix)"
        ) from exc


def read_header(buf: bytes, total_size: int) -> InstanceHeader:
    """Parse the header (everything before Pixel Data) from the first bytes of an object."""
    partial = len(buf) < total_size
    fp = BytesIO(buf)
    try:
        ds = _dcmread(fp, stop_before_pixels=True)
        if partial and _short_elements(ds):
            raise NeedMoreBytes()
    except InstanceRejected:
        if partial and len(buf) < 132:
            raise NeedMoreBytes() from None
        raise
    except NeedMoreBytes:
        raise
    except Exception as exc:  # pydicom raises many types on bytes it cannot parse
        if partial:
            raise NeedMoreBytes() from exc
        raise InstanceRejected(
            FailureReason.CANNOT_UNDERSTAND, f"unparsable DICOM header ({type(exc).__name__})"
        ) from exc
    stopped_at_pixels = fp.tell() < len(buf)
    if partial and not stopped_at_pixels:
        raise NeedMoreBytes()
    return _header_from(ds, fp.tell() if stopped_at_pixels else None)


def expected_native_pixel_bytes(ds: Dataset) -> int | None:
    """Bytes that native (uncompressed) Pixel Data must hold, from the image pixel module."""
    try:
        rows, cols = int(ds.Rows), int(ds.Columns)
        bits = int(ds.BitsAllocated)
        samples = int(ds.get("SamplesPerPixel", 1) or 1)
        frames = int(ds.get("NumberOfFrames", 1) or 1)
    except (AttributeError, TypeError, ValueError):
        return None
    total_bits = rows * cols * samples * bits * max(frames, 1)
    expected = -(-total_bits // 8)
    if str(ds.get("PhotometricInterpretation", "")).strip() == "YBR_FULL_422":
        expected = expected * 2 // 3
    return expected


def _check_encapsulated(value: bytes) -> None:
    """Every item of encapsulated Pixel Data must lie wholly inside the value."""
    pos, n = 0, len(value)
    while pos + 8 <= n:
        group, elem, length = struct.unpack_from("<HHL", value, pos)
        if (group, elem) == _SEQ_DELIMITER:
            return
        if (group, elem) != _ITEM:
            raise InstanceRejected(
                FailureReason.CANNOT_UNDERSTAND, "encapsulated Pixel Data has a malformed item"
            )
        pos += 8 + length
    if pos != n:
        raise InstanceRejected(
            FailureReason.CANNOT_UNDERSTAND, "encapsulated Pixel Data is truncated"
        )


_DELIMITER_ITEM = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"


def _is_image(sop_class: str) -> bool:
    """Image storage SOP classes (by pydicom's UID dictionary) must carry pixel data."""
    return "Image Storage" in UID(sop_class).name


def _has_float_pixels(ds: Dataset) -> bool:
    return "FloatPixelData" in ds or "DoubleFloatPixelData" in ds


def read_instance(data: bytes) -> InstanceHeader:
    """Parse and validate a whole Part 10 file. Raises ``InstanceRejected`` with a reason."""
    fp = BytesIO(data)
    try:
        ds = _dcmread(fp)
        short = _short_elements(ds)
        if short:
            e = short[0]
            name = keyword_for_tag(e.tag) or "(private)"
            raise InstanceRejected(  # the tag and keyword only: the value may be a patient's
                FailureReason.CANNOT_UNDERSTAND,
                f"file is truncated: element {e.tag} {name} declares {e.length} bytes, "
                f"{len(e.value or b'')} present",
            )
        header = _header_from(ds, None)
        raw = ds._dict.get(pydicom.tag.Tag(_PIXEL_DATA_TAG))
        if raw is None and _is_image(header.sop_class) and not _has_float_pixels(ds):
            # pydicom stops without complaint where a file is cut (at an element boundary,
            # or inside an element's header): an image without pixel data was cut short
            raise InstanceRejected(
                FailureReason.CANNOT_UNDERSTAND,
                "an image instance without Pixel Data: the file is truncated",
            )
        if raw is not None:
            ts = UID(header.transfer_syntax)
            value = raw.value if isinstance(raw, RawDataElement) else ds.PixelData
            if value is None:
                value = b""
            if ts.is_encapsulated:
                _check_encapsulated(bytes(value))
                if isinstance(raw, RawDataElement) and raw.value_tell is not None:
                    end = raw.value_tell + len(value)
                    if data[end : end + 8] != _DELIMITER_ITEM:
                        raise InstanceRejected(
                            FailureReason.CANNOT_UNDERSTAND,
                            "encapsulated Pixel Data lacks its sequence delimiter: truncated",
                        )
            else:
                expected = expected_native_pixel_bytes(ds)
                if expected is not None and len(value) < expected:
                    raise InstanceRejected(
                        FailureReason.CANNOT_UNDERSTAND,
                        f"Pixel Data holds {len(value)} bytes, the image needs {expected}",
                    )
        return header
    except InstanceRejected:
        raise
    except Exception as exc:  # pydicom raises many types on bytes it cannot parse
        raise InstanceRejected(
            FailureReason.CANNOT_UNDERSTAND, f"unparsable DICOM data ({type(exc).__name__})"
        ) from exc
