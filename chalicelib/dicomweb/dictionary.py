"""The DICOM data dictionary (PS3.6) as QIDO and WADO read it: keyword <-> tag and VR, as
pydicom's ``datadict`` answers them (repeating groups included), without importing pydicom.

pydicom's package import (its reader, writer, pixel handlers and test-data manager) is 245 M
instructions of the API function's cold start (``make bench-coldstart``), and a search or a
retrieve needs none of it, only the dictionary. The data is generated from pydicom's own by
``python -m chalicelib.dicomweb.dictionary_build`` (``dictionary_data``: 25 M instructions to
load, on the first lookup, not at import); ``tests/unit/dicomweb/test_dictionary.py`` checks
every entry and lookup against pydicom's.
"""

from __future__ import annotations

from functools import cache
from types import ModuleType


@cache  # loaded once; a per-call import statement would cost each lookup (DICOM XML: per element)
def _data() -> ModuleType:
    from chalicelib.dicomweb import dictionary_data  # loaded on first use (see above)

    return dictionary_data


@cache
def _masks() -> tuple[tuple[str, int, int], ...]:
    """Each repeating group's mask as pydicom matches it: the bits outside the ``x`` nibbles
    must equal the mask's."""
    return tuple(
        (mask, int(mask.replace("x", "0"), 16), int("".join("F0"[c == "x"] for c in mask), 16))
        for mask in _data().REPEATERS
    )


def _entry(tag: int) -> tuple[str, str]:
    """(VR, keyword) of a public element, or of the repeating group it belongs to."""
    data = _data()
    found: tuple[str, str] | None = data.ENTRIES.get(tag)
    if found is not None:
        return found
    if not (tag >> 16) % 2:  # a private element is in no public dictionary
        for mask, bits, care in _masks():
            if (tag ^ bits) & care == 0:
                repeater: tuple[str, str] = data.REPEATERS[mask]
                return repeater
    raise KeyError(f"({tag >> 16:04X},{tag & 0xFFFF:04X}) is not in the DICOM dictionary")


def tag_for_keyword(keyword: str) -> int | None:
    """The tag of a keyword (``PatientName`` -> 0x00100010), None when it names no element."""
    tag: int | None = _data().KEYWORDS.get(keyword)
    return tag


def keyword_for_tag(tag: int) -> str:
    """The keyword of a tag, "" when the dictionary has none."""
    try:
        return _entry(tag)[1]
    except KeyError:
        return ""


def dictionary_vr(tag: int) -> str:
    """The VR of a tag as the dictionary states it (``US or SS`` where it depends on the
    data); KeyError when the tag is in no public dictionary."""
    return _entry(tag)[0]
