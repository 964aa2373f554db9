"""Rendered images and thumbnails (PS3.18 10.4.1.1.5; Sup 203) at study, series, instance and
frame level, as image/jpeg (default), image/png or image/gif.

Near the limits: a rendered image is small next to its source; one over the payload limit
(a huge PNG) is stored once and answered with a 303 like any large answer.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from chalicelib.config import Settings
from chalicelib.dicomweb.errors import BadRequest
from chalicelib.dicomweb.rendering import (
    RENDERED_TYPES,
    WINDOW_FUNCTIONS,
    RenderOptions,
    parse_render_options,
)
from chalicelib.dicomweb.resources import InstanceRef, SeriesRef, StudyRef
from chalicelib.openapi.parts import (
    BINARY,
    FRAME_NUMBER,
    NUMBER,
    RENDER,
    JsonDict,
    Operation,
    anchored,
    content,
    ok,
    query_param,
    standard,
)
from chalicelib.routes.route import Call, Handler, Route, get
from chalicelib.services.answers import Answer
from chalicelib.services.render import THUMBNAIL_VIEWPORT

if TYPE_CHECKING:
    from chalicelib.routes.deps import Deps

# --- OpenAPI ----------------------------------------------------------------------------------


def _window_pattern() -> str:
    functions = "|".join(WINDOW_FUNCTIONS)
    return anchored(rf"{NUMBER},{NUMBER}(?:,(?:{functions}))?")


RENDER_PARAMETERS = [
    query_param(
        "window",
        {"type": "string", "pattern": _window_pattern()},
        "center,width[,function]: width > 0 (at least 1 for linear)",
    ),
    query_param(
        "viewport",
        {"type": "string", "pattern": anchored(rf"{NUMBER},{NUMBER}(?:(?:,{NUMBER}){{4}})?")},
        "vw,vh[,sx,sy,sw,sh]: vw and vh from 1 to 8192; negative sw, sh flip",
    ),
    query_param("quality", {"type": "integer", "minimum": 1, "maximum": 100}, "JPEG quality"),
]


def _rendered_doc(path: str, settings: Settings) -> JsonDict:
    out: JsonDict = {
        "parameters": list(RENDER_PARAMETERS),
        "responses": {
            "200": ok("the rendered image", content(BINARY, *RENDERED_TYPES)),
            **standard("SeeOther", "BadRequest", "NotFound", "NotAcceptable"),
        },
    }
    if "{frames}" in path:
        out["parameters"].append(
            {
                "name": "frames",
                "in": "path",
                "required": True,
                "description": "one frame number, from 1",
                "schema": FRAME_NUMBER,
            }
        )
    return out


# --- routes -----------------------------------------------------------------------------------


def options(c: Call, thumbnail: bool) -> RenderOptions:
    return parse_render_options(c.query, c.accept, THUMBNAIL_VIEWPORT if thumbnail else None)


def frame_number(c: Call) -> int:
    text = c.path["frames"]
    if not re.fullmatch(r"[0-9]{1,9}", text) or int(text) < 1:  # ASCII digits only
        raise BadRequest("a rendered frame is one frame number", code="InvalidFrameList")
    return int(text)


def image(s: Deps, c: Call, level: str, kind: str) -> Answer:
    """The rendered image (or thumbnail) of the level's representative instance."""
    target: StudyRef | SeriesRef | InstanceRef
    if level == "study":
        target = c.study()
    elif level == "series":
        target = c.series()
    else:
        target = c.instance()
    frame = frame_number(c) if level == "frame" else 1
    thumbnail = kind == "thumbnail"
    return s.render.render_image(target, frame, options(c, thumbnail), thumbnail)


def handler(level: str, kind: str) -> Handler:
    return lambda s, c: image(s, c, level, kind)


LEVELS = {
    "study": "/studies/{study}",
    "series": "/studies/{study}/series/{series}",
    "instance": "/studies/{study}/series/{series}/instances/{instance}",
    "frame": "/studies/{study}/series/{series}/instances/{instance}/frames/{frames}",
}

ROUTES: tuple[Route, ...] = tuple(
    get(
        f"{path}/{kind}",
        f"{level}_{kind}",
        handler(level, kind),
        Operation(f"{level.capitalize()} {kind}", RENDER, _rendered_doc),
        pixels=True,
    )
    for level, path in LEVELS.items()
    for kind in ("rendered", "thumbnail")
)
