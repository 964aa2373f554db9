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
    )

    entries = DicomDictionary.items()
    lines = [
        f'"""The DICOM data dictionary of pydicom {pydicom.__version__}: VR and keyword by tag,',
        "the repeating groups by mask, tags by keyword. Written by ``python -m",
        "chalicelib.dicomweb.dictionary_build``: do not edit.",
        "",
        "The public elements are three columns of text, a line per element, turned into dicts by",
        "C loops: a dict display of 5,000 entries would compile 18x slower where no bytecode is",
        'cached (470 M instructions against 25 M) for the same load from bytecode."""',
        "",
        "from itertools import repeat",
        "",
        f'PYDICOM_VERSION = "{pydicom.__version__}"',
        "",
        '_TAGS = """\\',
        "\n".join(f"{tag:08X}" for tag, _ in entries) + '"""',
        '_VRS = """\\',
        "\n".join(entry[0] for _, entry in entries) + '"""',
        '_KEYWORDS = """\\',
        "\n".join(entry[4] for _, entry in entries) + '"""',
        "",
        '_tags = list(map(int, _TAGS.split("\\n"), repeat(16)))',
        '_keywords = _KEYWORDS.split("\\n")',
        '_pairs = zip(_VRS.split("\\n"), _keywords, strict=True)',
        "",
        "#: tag -> (VR, keyword)",
        "ENTRIES: dict[int, tuple[str, str]] = dict(zip(_tags, _pairs, strict=True))",
        "#: mask (``x`` for any hex digit) -> (VR, keyword)",
        "REPEATERS: dict[str, tuple[str, str]] = {",
    ]
    lines += [
        f'    "{mask}": ("{entry[0]}", "{entry[4]}"),'
        for mask, entry in RepeatersDictionary.items()
    ]
    lines += ["}", "#: keyword -> tag (the last element of a keyword, as pydicom's keyword_dict)"]
    lines += ["KEYWORDS: dict[str, int] = dict(zip(_keywords, _tags, strict=True))", ""]
    return "\n".join(lines)


def main() -> None:
    TARGET.write_text(render())
    print(f"wrote {TARGET}")


if __name__ == "__main__":
    main()
