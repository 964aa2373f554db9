"""Instance metadata as DICOM JSON (PS3.18 F), prepared at index time.

Bulk data (Pixel Data; OB/OW/UN and other binary values over ``BULK_THRESHOLD`` bytes) is
replaced by a BulkDataURI. Fragments keep root-relative URIs (``/studies/...``) so one stored
document serves every host name; ``absolute_uris`` prefixes the base URL when serving.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # a metadata read serves stored JSON: only the indexer's builder has a Dataset
    from pydicom.dataelem import DataElement
    from pydicom.dataset import Dataset

BULK_THRESHOLD = 1024
PIXEL_DATA = "7FE00010"
_URI_MARK = b'"BulkDataURI":"/studies/'


def instance_path(study: str, series: str, sop: str) -> str:
    return f"/studies/{study}/series/{series}/instances/{sop}"


def instance_metadata(
    ds: Dataset, study: str, series: str, sop: str, pixel_vr: str | None
) -> dict[str, Any]:
    """DICOM JSON of a header (read without pixel data) with BulkDataURIs.

    Only top-level elements get a BulkDataURI (``.../bulkdata/{tag}`` names a top-level tag);
    a large binary value inside a sequence (an Icon Image Sequence's Pixel Data, say) stays
    InlineBinary, so it can never be confused with the top-level element of the same tag.
    Elements whose values DICOM JSON cannot carry are left out."""
    base = instance_path(study, series, sop)
    nested: dict[str, DataElement] = {}
    top: list[DataElement | None] = [None]  # the top-level element being converted

    def bulk(elem: DataElement) -> str:
        if elem is top[0]:
            return f"{base}/bulkdata/{elem.tag:08X}"
        token = f"nested-bulk:{len(nested)}"
        nested[token] = elem
        return token

    # An element whose value cannot be expressed in DICOM JSON (an IS or DS that is not a
    # number, say) is left out of the metadata rather than making the instance unindexable:
    # STOW accepted it and its bytes are kept unchanged. (pydicom's suppress_invalid_tags
    # would do this by switching the process-wide validation mode, which threads racing
    # through it can leave switched for good.)
    out: dict[str, Any] = {}
    for tag in ds.keys():  # noqa: SIM118 - iterating a Dataset converts, which may raise
        try:
            elem = ds[tag]
            top[0] = elem
            out[f"{tag:08X}"] = elem.to_json_dict(bulk, BULK_THRESHOLD)
        except (ValueError, TypeError, OverflowError, AttributeError):
            continue
    if nested:
        _inline(out, nested)
    if pixel_vr:
        out[PIXEL_DATA] = {"vr": pixel_vr, "BulkDataURI": f"{base}/bulkdata/{PIXEL_DATA}"}
    return out


def _inline(node: Any, nested: dict[str, DataElement]) -> None:
    """Replace the placeholder BulkDataURIs of nested elements by their InlineBinary."""
    if isinstance(node, list):
        for item in node:
            _inline(item, nested)
    elif isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, dict) and value.get("BulkDataURI") in nested:
                elem = nested[value["BulkDataURI"]]
                node[key] = {"vr": value["vr"], "InlineBinary": _base64(elem.value)}
            else:
                _inline(value, nested)


def _base64(value: Any) -> str:
    import base64

    return base64.b64encode(bytes(value)).decode("ascii")


def dumps(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode("utf-8")


def absolute_uris(document: bytes, base_url: str) -> bytes:
    """Root-relative BulkDataURIs -> absolute ones (PS3.18 requires absolute URIs)."""
    return document.replace(_URI_MARK, b'"BulkDataURI":"' + base_url.encode() + b"/studies/")
