"""DICOM JSON (PS3.18 F): elements, tags by keyword, and a dataset's attributes through
pydicom's ``Dataset.to_json_dict`` (pydicom imported there only: QIDO and WADO answers are built
from the catalog's JSON without it)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from chalicelib.dicomweb.dictionary import tag_for_keyword

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

JsonDict = dict[str, Any]


def tag_hex(keyword: str) -> str:
    """The 8-digit hex tag DICOM JSON uses for a keyword."""
    tag = tag_for_keyword(keyword)
    if tag is None:
        raise KeyError(keyword)
    return f"{tag:08X}"


def select(ds: Dataset, keywords: Iterable[str], max_value_bytes: int) -> JsonDict:
    """DICOM JSON of the given attributes of ``ds``; values over ``max_value_bytes`` left out."""
    from pydicom.dataset import Dataset

    out: JsonDict = {}
    for keyword in keywords:
        tag = tag_for_keyword(keyword)
        if tag is None or tag not in ds:
            continue
        sub = Dataset()
        sub.add(ds[tag])
        try:
            converted = sub.to_json_dict(bulk_data_threshold=max_value_bytes)
        except Exception:  # noqa: S112 - a value pydicom cannot convert is not indexed
            continue
        for key, value in converted.items():
            if len(json.dumps(value)) <= max_value_bytes:
                out[key] = value
    return out


def element(vr: str, *values: Any) -> JsonDict:
    """One DICOM JSON element; no ``Value`` when there are no values."""
    return {"vr": vr, "Value": list(values)} if values else {"vr": vr}


def first_value(attrs: JsonDict, keyword: str) -> Any:
    """The first value of an attribute in a DICOM JSON object, or None."""
    values = attrs.get(tag_hex(keyword), {}).get("Value") or [None]
    return values[0]
