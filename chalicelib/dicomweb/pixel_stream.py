"""The length rules of ``instance.read_instance``, checked on an instance that streams past.

A STOW part too large to hold is checked in two steps: its header (everything before Pixel
Data) is read from its first bytes with ``instance.read_header``; then ``PixelDataCheck`` sees
every byte from the start of the file, keeping only the few bytes of the element and item
headers it must read, and ``finish`` raises ``InstanceRejected`` with read_instance's reasons
when the file ended too soon: Pixel Data shorter than it declares or than the image needs, or
encapsulated Pixel Data whose items run past the end or that lacks its sequence delimiter.
"""

from __future__ import annotations

import struct

from pydicom.uid import UID

from chalicelib.dicomweb.errors import FailureReason, InstanceRejected
from chalicelib.dicomweb.file_meta import LONG_VRS
from chalicelib.dicomweb.instance import InstanceHeader, expected_native_pixel_bytes

UNDEFINED_LENGTH = 0xFFFFFFFF
_ITEM = (0xFFFE, 0xE000)
_SEQ_DELIMITER = (0xFFFE, 0xE0DD)


def _rejected(message: str) -> InstanceRejected:
    return InstanceRejected(FailureReason.CANNOT_UNDERSTAND, message)


class PixelDataCheck:
    """Feed every byte of the file in order (``feed``), then ``finish()``."""

    def __init__(self, header: InstanceHeader) -> None:
        if header.pixel_data_offset is None:
            raise ValueError("the header read did not stop at Pixel Data")
        ts = UID(header.transfer_syntax)
        self._endian = "<" if ts.is_little_endian else ">"
        self._implicit = ts.is_implicit_VR
        self._encapsulated = ts.is_encapsulated
        self._expected = expected_native_pixel_bytes(header.dataset)
        self._seen = 0  # bytes fed so far
        self._want_at = header.pixel_data_offset  # where the next header to read starts
        self._want = 12 if not self._implicit else 8
        self._pending = bytearray()  # the header being read, once its first byte came
        self._state = "element"  # element -> value (native) | items (encapsulated) -> done
        self._value_end = 0
        self._declared = 0

    def feed(self, chunk: bytes | bytearray | memoryview) -> None:
        start, self._seen = self._seen, self._seen + len(chunk)
        while self._state not in ("done", "value") and self._want_at < self._seen:
            lo = max(self._want_at + len(self._pending) - start, 0)
            need = self._want - len(self._pending)
            self._pending += chunk[lo : lo + need]
            if len(self._pending) < self._want:
                return  # the rest of this header comes in a later chunk
            self._read(bytes(self._pending))
            self._pending.clear()

    def _read(self, head: bytes) -> None:
        e = self._endian
        if self._state == "element":
            if self._implicit:
                length = struct.unpack(e + "L", head[4:8])[0]
                size = 8
            elif head[4:6] in LONG_VRS:
                length = struct.unpack(e + "L", head[8:12])[0]
                size = 12
            else:
                length = struct.unpack(e + "H", head[6:8])[0]
                size = 8
            value_start = self._want_at + size
            if length == UNDEFINED_LENGTH:
                self._state, self._want_at, self._want = "items", value_start, 8
            else:
                self._declared = length
                self._value_end = value_start + length
                self._state = "value"
            return
        group, elem, length = struct.unpack(e + "HHL", head)
        if (group, elem) == _SEQ_DELIMITER:
            self._state = "done"
        elif (group, elem) == _ITEM and length != UNDEFINED_LENGTH:
            self._want_at += 8 + length
        else:
            raise _rejected("encapsulated Pixel Data has a malformed item")

    def finish(self) -> None:
        """The file ended: raise ``InstanceRejected`` when its Pixel Data is not whole."""
        if self._state == "element":
            raise _rejected("the file is truncated inside the Pixel Data element's header")
        if self._state == "items":
            raise _rejected("encapsulated Pixel Data lacks its sequence delimiter: truncated")
        if self._state == "value":
            if self._seen < self._value_end:
                present = self._declared - (self._value_end - self._seen)
                raise _rejected(
                    f"file is truncated: element (7FE0,0010) PixelData declares "
                    f"{self._declared} bytes, {present} present"
                )
            short = self._expected is not None and self._declared < self._expected
            if short and not self._encapsulated:
                raise _rejected(
                    f"Pixel Data holds {self._declared} bytes, the image needs {self._expected}"
                )
