"""Writes ``dictionary_data.py``: the DICOM data dictionary (PS3.6) as ``dictionary`` reads it,
from pydicom's (the pinned version), so that reading it does not import pydicom.

    python -m chalicelib.dicomweb.dictionary_build      (after a pydicom upgrade)

``tests/unit/dicomweb/test_dictionary.py`` fails while the committed module differs from what
this writes, and compares every lookup with pydicom's.
"""

from __future__ import annotations

from pathlib import Path

TARGET = Path(__file__).with_name("dictionary_data.py")


def render() -> str:
    """The data module's text, from the installed pydicom's dictionary."""
    import pydicom

    # the dictionaries datadict documents (add_dict_entries) without re-exporting them for mypy
    from pydicom.datadict import (  # type: ignore[attr-defined]
        DicomDictionary,
        RepeatersDictionary,
        keyword_dict,
    )

    lines = [
        f'"""The DICOM data dictionary of pydicom {pydicom.__version__}: VR and keyword by tag,',
        "the repeating groups by mask, tags by keyword. Written by ``python -m",
        'chalicelib.dicomweb.dictionary_build``: do not edit."""',
        "",
        f'PYDICOM_VERSION = "{pydicom.__version__}"',
        "",
        "ENTRIES: dict[int, tuple[str, str]] = {",
    ]
    lines += [
        f'    0x{tag:08X}: ("{entry[0]}", "{entry[4]}"),' for tag, entry in DicomDictionary.items()
    ]
    lines += ["}", "", "REPEATERS: dict[str, tuple[str, str]] = {"]
    lines += [
        f'    "{mask}": ("{entry[0]}", "{entry[4]}"),'
        for mask, entry in RepeatersDictionary.items()
    ]
    lines += ["}", "", "KEYWORDS: dict[str, int] = {"]
    lines += [f'    "{keyword}": 0x{tag:08X},' for keyword, tag in keyword_dict.items()]
    lines += ["}", ""]
    return "\n".join(lines)


def main() -> None:
    TARGET.write_text(render())
    print(f"wrote {TARGET}")


if __name__ == "__main__":
    main()
