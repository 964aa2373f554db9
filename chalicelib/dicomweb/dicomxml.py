"""DICOM JSON -> the Native DICOM Model XML of PS3.19 A.1 (``application/dicom+xml``).

pydicom writes DICOM JSON but no XML; this converts the JSON the service already builds, so
both representations carry the same attributes."""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape, quoteattr

from pydicom.datadict import keyword_for_tag

_PN_COMPONENTS = ("FamilyName", "GivenName", "MiddleName", "NamePrefix", "NameSuffix")


def _person_name(number: int, value: dict[str, str]) -> str:
    groups = []
    for group in ("Alphabetic", "Ideographic", "Phonetic"):
        text = value.get(group)
        if not text:
            continue
        parts = text.split("^")
        inner = "".join(
            f"<{name}>{escape(part)}</{name}>"
            for name, part in zip(_PN_COMPONENTS, parts, strict=False)
            if part
        )
        groups.append(f"<{group}>{inner}</{group}>")
    return f'<PersonName number="{number}">{"".join(groups)}</PersonName>'


def _attribute(tag: str, element: dict[str, Any]) -> str:
    vr = element.get("vr", "UN")
    keyword = keyword_for_tag(int(tag, 16))
    head = f'<DicomAttribute tag="{tag}" vr="{vr}"'
    if keyword:
        head += f" keyword={quoteattr(keyword)}"
    body: list[str] = []
    for i, value in enumerate(element.get("Value", []), start=1):
        if vr == "SQ":
            body.append(f'<Item number="{i}">{_dataset(value)}</Item>')
        elif vr == "PN":
            body.append(_person_name(i, value if isinstance(value, dict) else {}))
        else:
            body.append(f'<Value number="{i}">{escape(str(value))}</Value>')
    if "BulkDataURI" in element:
        body.append(f"<BulkData uri={quoteattr(element['BulkDataURI'])}/>")
    if "InlineBinary" in element:
        body.append(f"<InlineBinary>{escape(element['InlineBinary'])}</InlineBinary>")
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
