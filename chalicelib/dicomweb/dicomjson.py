"""DICOM JSON (PS3.18 F) around pydicom's ``Dataset.to_json_dict``."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.tag import Tag

JsonDict = dict[str, Any]


def tag_hex(keyword: str) -> str:
    """The 8-digit hex tag DICOM JSON uses for a keyword."""
    tag = tag_for_keyword(keyword)
    if tag is None:
        raise KeyError(keyword)
    return f"{Tag(tag):08X}"


def select(ds: Dataset, keywords: Iterable[str], max_value_bytes: int) -> JsonDict:
    """DICOM JSON of the given attributes of ``ds``; values over ``max_value_bytes`` left out."""
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
