"""DICOM JSON -> the Native DICOM Model XML of PS3.19 A.1 (``application/dicom+xml``).

pydicom writes DICOM JSON but no XML; this converts the JSON the service already builds, so
both representations carry the same attributes.

Text XML 1.0 cannot carry (C0 controls other than tab, line feed and carriage return, lone
surrogates, U+FFFE and U+FFFF; a PatientName with ``\x01``, say) is replaced by U+FFFD, the
replacement character: never emitted raw, never a reason to refuse the data, and the value keeps
its length and a visible mark where the character was. PS3.19 says nothing special about them.
A carriage return is written as ``&#xD;`` so that a parser's line-end normalization keeps it."""

from __future__ import annotations

import re
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from chalicelib.dicomweb.dictionary import keyword_for_tag

#: Characters outside XML 1.0's Char production (section 2.2).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _text(value: str) -> str:
    """Character data: XML-escaped, characters XML 1.0 cannot carry replaced by U+FFFD."""
    return escape(_NOT_XML.sub("\ufffd", value), {"\r": "&#xD;"})


def _attr(value: str) -> str:
    """A quoted attribute value, cleaned like ``_text``."""
    return quoteattr(_NOT_XML.sub("\ufffd", value))  # quoteattr writes \t \n \r as references


_PN_COMPONENTS = ("FamilyName", "GivenName", "MiddleName", "NamePrefix", "NameSuffix")


def _person_name(number: int, value: dict[str, str]) -> str:
    groups = []
    for group in ("Alphabetic", "Ideographic", "Phonetic"):
        text = value.get(group)
        if not text:
            continue
        parts = text.split("^")
        inner = "".join(
            f"<{name}>{_text(part)}</{name}>"
            for name, part in zip(_PN_COMPONENTS, parts, strict=False)
            if part
        )
        groups.append(f"<{group}>{inner}</{group}>")
    return f'<PersonName number="{number}">{"".join(groups)}</PersonName>'


def _attribute(tag: str, element: dict[str, Any]) -> str:
    vr = element.get("vr", "UN")
    keyword = keyword_for_tag(int(tag, 16))
    head = f"<DicomAttribute tag={_attr(tag)} vr={_attr(str(vr))}"
    if keyword:
        head += f" keyword={_attr(keyword)}"
    body: list[str] = []
    for i, value in enumerate(element.get("Value", []), start=1):
        if vr == "SQ":
            body.append(f'<Item number="{i}">{_dataset(value)}</Item>')
        elif vr == "PN":
            body.append(_person_name(i, value if isinstance(value, dict) else {}))
        else:
            body.append(f'<Value number="{i}">{_text(str(value))}</Value>')
    if "BulkDataURI" in element:
        body.append(f"<BulkData uri={_attr(element['BulkDataURI'])}/>")
    if "InlineBinary" in element:
        body.append(f"<InlineBinary>{_text(element['InlineBinary'])}</InlineBinary>")
    return f"{head}>{''.join(body)}</DicomAttribute>"


def _dataset(attrs: dict[str, Any]) -> str:
    return "".join(_attribute(tag, attrs[tag]) for tag in sorted(attrs))


def to_xml(attrs: dict[str, Any]) -> bytes:
    """One data set as a NativeDicomModel document."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<NativeDicomModel xmlns="http://dicom.nema.org/PS3.19/models/NativeDICOM">'
        f"{_dataset(attrs)}</NativeDicomModel>"
    ).encode()
