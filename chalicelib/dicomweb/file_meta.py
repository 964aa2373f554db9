"""A stored instance's transfer syntax from its File Meta Information (PS3.10 7.1), without
pydicom.

A retrieve serves stored objects and needs only their transfer syntax to negotiate; the first
retrieve in a new container would otherwise import pydicom (~245 M instructions) to read one
element. The File Meta Information is always Explicit VR Little Endian after the 128-byte
preamble and ``DICM``; anything this reader does not find well formed is left to pydicom
(``None``), so the answer never differs from ``instance.read_header``'s
(``tests/unit/dicomweb/test_file_meta.py`` compares them).
"""

from __future__ import annotations

import struct

PREFIX_END = 132  # 128-byte preamble + "DICM"
#: VRs with a 2-byte reserved field and a 4-byte length in explicit VR (PS3.5 7.1.2); the
#: element readers of pixels.py and pixel_stream.py use it too
LONG_VRS = frozenset(
    {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
)
_TRANSFER_SYNTAX_UID = 0x0010
_MAX_UID = 64


def transfer_syntax(data: bytes) -> str | None:
    """The Transfer Syntax UID (0002,0010) of a Part 10 object's first bytes, as
    ``read_header`` gives it; None when the File Meta Information is not plainly well formed."""
    if len(data) < PREFIX_END or data[128:PREFIX_END] != b"DICM":
        return None
    pos = PREFIX_END
    while pos + 8 <= len(data):
        group, element = struct.unpack_from("<HH", data, pos)
        vr = data[pos + 4 : pos + 6]
        if group != 2 or not (vr.isalpha() and vr.isupper()):
            return None  # the group ended without it, or not explicit VR
        if vr in LONG_VRS:
            if pos + 12 > len(data):
                return None
            (length,) = struct.unpack_from("<L", data, pos + 8)
            start = pos + 12
        else:
            (length,) = struct.unpack_from("<H", data, pos + 6)
            start = pos + 8
        end = start + length
        if end > len(data):
            return None
        if element == _TRANSFER_SYNTAX_UID:
            value = data[start:end]
            if vr != b"UI" or not 0 < length <= _MAX_UID or not value.isascii():
                return None
            uid = value.decode("ascii").rstrip("\x00 ").strip()
            return uid if uid and all(c.isdigit() or c == "." for c in uid) else None
        pos = end
    return None
