"""WADO-URI (PS3.18 9) parameters, as in the seed guide:
``GET /wado?requestType=WADO&studyUID=..&seriesUID=..&objectUID=..[&contentType=..]
[&frameNumber=..][&windowCenter=..&windowWidth=..][&rows=..&columns=..][&imageQuality=..]
[&transferSyntax=..]``. ``contentType`` defaults to image/jpeg; application/dicom returns the
instance (as stored, or converted to ``transferSyntax``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from chalicelib.dicomweb.errors import BadRequest, NotAcceptable
from chalicelib.dicomweb.media import APPLICATION_DICOM, parse_media_type
from chalicelib.dicomweb.rendering import (
    MAX_VIEWPORT,
    RENDERED_TYPES,
    RenderOptions,
    Viewport,
    parse_window,
)
from chalicelib.dicomweb.resources import is_valid_uid

UID_PARAMETERS = ("studyUID", "seriesUID", "objectUID")


@dataclass(frozen=True)
class WadoUriRequest:
    uids: tuple[str, str, str]  # study, series, SOP instance
    #: application/dicom, or a rendered media type
    media_type: str
    #: with application/dicom: the transfer syntax to convert to (None: as stored)
    transfer_syntax: str | None = None
    frame: int = 1
    render: RenderOptions | None = None


def _param(params: Mapping[str, str], name: str, required: bool = False) -> str | None:
    value = params.get(name)
    if required and not value:
        raise BadRequest(f"{name} is required", code="InvalidParameter")
    return value


def _number(text: str, digits: int) -> bool:
    """``text`` is 1 to ``digits`` ASCII digits (``isdecimal`` would take any script's)."""
    return re.fullmatch(f"[0-9]{{1,{digits}}}", text) is not None


def _viewport(rows: str | None, columns: str | None) -> Viewport | None:
    if not (rows or columns):
        return None
    sides = [rows or str(MAX_VIEWPORT), columns or str(MAX_VIEWPORT)]
    if not all(_number(v, 5) and 1 <= int(v) <= MAX_VIEWPORT for v in sides):
        raise BadRequest(
            f"rows and columns are numbers from 1 to {MAX_VIEWPORT}", code="InvalidParameter"
        )
    return Viewport(int(sides[1]), int(sides[0]))


def parse_wado_uri(params: Mapping[str, str]) -> WadoUriRequest:
    if _param(params, "requestType", True) != "WADO":
        raise BadRequest("requestType must be WADO", code="InvalidParameter")
    uids = [_param(params, n, True) or "" for n in UID_PARAMETERS]
    for name, value in zip(UID_PARAMETERS, uids, strict=True):
        if not is_valid_uid(value):
            raise BadRequest(f"{name} is not a valid UID", code="InvalidUID")
    study, series, sop = uids
    content_type = (_param(params, "contentType") or "image/jpeg").split(",")[0]
    essence = parse_media_type(content_type).essence
    if essence == APPLICATION_DICOM:
        return WadoUriRequest((study, series, sop), essence, _param(params, "transferSyntax"))
    if essence not in RENDERED_TYPES:
        raise NotAcceptable("contentType is application/dicom, image/jpeg, image/png or image/gif")
    frame = _param(params, "frameNumber") or "1"
    if not _number(frame, 9) or int(frame) < 1:
        raise BadRequest("frameNumber is a number from 1", code="InvalidParameter")
    center, width = _param(params, "windowCenter"), _param(params, "windowWidth")
    window = (
        parse_window(f"{center},{width}", "windowCenter/windowWidth") if center and width else None
    )
    viewport = _viewport(_param(params, "rows"), _param(params, "columns"))
    quality = _param(params, "imageQuality") or "90"
    if not _number(quality, 3) or not 1 <= int(quality) <= 100:
        raise BadRequest("imageQuality is a number from 1 to 100", code="InvalidParameter")
    options = RenderOptions(essence, window, viewport, int(quality))
    return WadoUriRequest((study, series, sop), essence, None, int(frame), options)
