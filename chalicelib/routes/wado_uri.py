"""WADO-URI (PS3.18 9): ``GET /wado?requestType=WADO&...`` (``dicomweb/wado_uri.py`` parses
it). application/dicom is WADO-RS's instance retrieval; an image is the rendered frame."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.config import Settings
from chalicelib.dicomweb.media import APPLICATION_DICOM
from chalicelib.dicomweb.rendering import MAX_VIEWPORT, RENDERED_TYPES
from chalicelib.dicomweb.wado_uri import parse_wado_uri
from chalicelib.openapi.parts import (
    BINARY,
    UID,
    WADO_URI,
    JsonDict,
    Operation,
    content,
    digits,
    ok,
    query_param,
    standard,
)
from chalicelib.routes.route import Call, Route, get
from chalicelib.services.answers import Answer

if TYPE_CHECKING:
    from chalicelib.routes.deps import Deps


def _wado_uri_doc(path: str, settings: Settings) -> JsonDict:
    content_types = [APPLICATION_DICOM, *RENDERED_TYPES]
    return {
        "parameters": [
            query_param("requestType", {"const": "WADO"}, "WADO", required=True),
            query_param("studyUID", UID, "Study Instance UID", required=True),
            query_param("seriesUID", UID, "Series Instance UID", required=True),
            query_param("objectUID", UID, "SOP Instance UID", required=True),
            query_param(
                "contentType",
                {"type": "string", "enum": content_types},
                "image/jpeg by default",
            ),
            query_param(
                "transferSyntax",
                UID,
                "with application/dicom: convert to this transfer syntax",
            ),
            query_param("frameNumber", digits(999_999, 1), "the frame to render, from 1"),
            query_param("windowCenter", {"type": "number"}, "with windowWidth"),
            query_param("windowWidth", {"type": "number", "minimum": 1}, "with windowCenter"),
            query_param("rows", digits(MAX_VIEWPORT, 1), "the image's maximum height"),
            query_param("columns", digits(MAX_VIEWPORT, 1), "the image's maximum width"),
            query_param("imageQuality", digits(100, 1), "JPEG quality"),
        ],
        "responses": {
            "200": ok("the instance or its rendered image", content(BINARY, *content_types)),
            **standard("SeeOther", "BadRequest", "NotFound", "NotAcceptable"),
        },
    }


def wado_uri(s: Deps, c: Call) -> Answer:
    return s.wado_uri.retrieve(c.tenant, parse_wado_uri(c.params))


ROUTES: tuple[Route, ...] = (
    get(
        "/wado",
        "wado_uri",
        wado_uri,
        Operation("WADO-URI", WADO_URI, _wado_uri_doc, "PS3.18 9."),
        pixels=True,
    ),
)
