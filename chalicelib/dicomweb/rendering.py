"""Rendered-resource parameters (PS3.18 8.3.5.1): ``window``, ``viewport``, ``quality`` and the
rendered media types, parsed once into a frozen value. Pure Python: the pixels are the
service's (``services/render.py``)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from chalicelib.dicomweb.errors import BadRequest, NotAcceptable
from chalicelib.dicomweb.media import MediaType

JPEG, PNG, GIF = "image/jpeg", "image/png", "image/gif"
RENDERED_TYPES = (JPEG, PNG, GIF)
WINDOW_FUNCTIONS = ("linear", "linear_exact", "sigmoid")


@dataclass(frozen=True)
class Window:
    center: float
    width: float
    function: str = "linear"


@dataclass(frozen=True)
class Viewport:
    width: int
    height: int
    #: source region: x, y, width, height (negative width/height flip), or None for all
    region: tuple[int, int, int, int] | None = None


@dataclass(frozen=True)
class RenderOptions:
    media_type: str = JPEG
    window: Window | None = None
    viewport: Viewport | None = None
    quality: int = 90


def _last(params: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = params.get(name)
    return values[-1].strip() if values else None


def _numbers(text: str, name: str) -> list[float]:
    try:
        numbers = [float(v) for v in text.split(",")]
    except ValueError as exc:
        raise BadRequest(
            f"{name} must be comma-separated numbers", code="InvalidParameter"
        ) from exc
    if not all(math.isfinite(n) for n in numbers):  # float() reads nan and inf
        raise BadRequest(f"{name} must be finite numbers", code="InvalidParameter")
    return numbers


def parse_window(text: str, name: str = "window") -> Window:
    parts = [p.strip() for p in text.split(",")]
    if len(parts) not in (2, 3):
        raise BadRequest(f"{name} is center,width[,function]", code="InvalidParameter")
    center, width = _numbers(",".join(parts[:2]), name)
    function = parts[2].lower() if len(parts) == 3 else "linear"
    if function not in WINDOW_FUNCTIONS or width <= 0 or (function == "linear" and width < 1):
        raise BadRequest(
            f"{name}: width must be positive and function one of {', '.join(WINDOW_FUNCTIONS)}",
            code="InvalidParameter",
        )
    return Window(center, width, function)


#: The largest rendered image a side (a request for more is refused, not scaled).
MAX_VIEWPORT = 8192


def parse_viewport(text: str) -> Viewport:
    values = _numbers(text, "viewport")
    if len(values) not in (2, 6) or values[0] < 1 or values[1] < 1:
        raise BadRequest(
            "viewport is vw,vh[,sx,sy,sw,sh] with vw, vh >= 1", code="InvalidParameter"
        )
    if max(values[:2]) > MAX_VIEWPORT:
        raise BadRequest(
            f"viewport is at most {MAX_VIEWPORT} pixels a side", code="InvalidParameter"
        )
    # sx, sy, sw, sh may be any finite size: the region is clamped to the image when rendered
    numbers = [int(v) for v in values]
    region = (numbers[2], numbers[3], numbers[4], numbers[5]) if len(numbers) == 6 else None
    if region and (region[2] == 0 or region[3] == 0):
        raise BadRequest("viewport region width and height must not be 0", code="InvalidParameter")
    return Viewport(numbers[0], numbers[1], region)


def rendered_media_type(accept: list[MediaType]) -> str:
    """image/jpeg unless the client prefers another rendered type; 406 when none fits."""
    for media in accept:
        for candidate in RENDERED_TYPES:
            if media.matches(candidate):
                return candidate
    raise NotAcceptable("rendered resources are image/jpeg, image/png or image/gif")


def parse_render_options(
    params: Mapping[str, Sequence[str]],
    accept: list[MediaType],
    default_viewport: Viewport | None = None,
) -> RenderOptions:
    quality_text = _last(params, "quality")
    quality = 90
    if quality_text is not None:
        if not re.fullmatch(r"[0-9]{1,3}", quality_text) or not 1 <= int(quality_text) <= 100:
            raise BadRequest("quality is a number from 1 to 100", code="InvalidParameter")
        quality = int(quality_text)
    window = _last(params, "window")
    viewport = _last(params, "viewport")
    return RenderOptions(
        media_type=rendered_media_type(accept),
        window=parse_window(window) if window else None,
        viewport=parse_viewport(viewport) if viewport else default_viewport,
        quality=quality,
    )
