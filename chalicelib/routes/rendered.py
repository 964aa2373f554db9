"""Rendered images and thumbnails (PS3.18 10.4.1.1.5; Sup 203) at study, series, instance and
frame level, as image/jpeg (default), image/png or image/gif.

Near the limits: a rendered image is small next to its source; one over the payload limit
(a huge PNG) is stored once and answered with a 303 like any large answer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalice.app import Blueprint, Response

from chalicelib.dicomweb.errors import BadRequest
from chalicelib.dicomweb.media import parse_accept
from chalicelib.dicomweb.rendering import RenderOptions, parse_render_options
from chalicelib.dicomweb.resources import InstanceRef, SeriesRef, StudyRef
from chalicelib.routes.deps import Deps
from chalicelib.routes.http import (
    CORS,
    binary_response,
    edge,
    path_param,
    query_lists,
)
from chalicelib.routes.placement import INSTANCE
from chalicelib.routes.wado import see_other
from chalicelib.services import render
from chalicelib.services.large import redirect_to_document
from chalicelib.storage.keys import bundles_prefix


def blueprint(deps: Deps) -> Blueprint:
    bp = Blueprint(__name__)
    view, tenant, uid = edge(bp)

    def options(thumbnail: bool) -> RenderOptions:
        request = bp.current_request
        return parse_render_options(
            query_lists(request),
            parse_accept(request.headers.get("accept")),
            render.THUMBNAIL_VIEWPORT if thumbnail else None,
        )

    def frame_number() -> int:
        text = path_param(bp.current_request, "frames")
        if not text.isdecimal() or int(text) < 1:
            raise BadRequest("a rendered frame is one frame number", code="InvalidFrameList")
        return int(text)

    def respond(image: bytes, media_type: str) -> Response:
        if len(image) > deps.settings.max_binary_response():
            url = redirect_to_document(
                deps.store,
                bundles_prefix(tenant(), uid("study")),
                image,
                media_type,
                lambda key, ct: deps.downloads.url(key, deps.settings.presign_expiry, ct),
            )
            return see_other(url)
        return binary_response(image, media_type)

    def produce(ref: Callable[[], InstanceRef], frame: int, thumbnail: bool) -> Response:
        opts = options(thumbnail)
        if thumbnail:
            image = render.thumbnail(deps.store, deps.catalog, ref(), frame, opts)
        else:
            image = render.rendered(deps.store, ref(), frame, opts)
        return respond(image, opts.media_type)

    def instance() -> InstanceRef:
        return InstanceRef(tenant(), uid("study"), uid("series"), uid("instance"))

    def of_series() -> InstanceRef:
        return render.representative(deps.catalog, SeriesRef(tenant(), uid("study"), uid("series")))

    def of_study() -> InstanceRef:
        return render.representative(deps.catalog, StudyRef(tenant(), uid("study")))

    for suffix, thumbnail in (("rendered", False), ("thumbnail", True)):
        _routes(bp, view, suffix, thumbnail, produce, instance, of_series, of_study, frame_number)
    return bp


def _routes(
    bp: Blueprint,
    view: Any,
    suffix: str,
    thumbnail: bool,
    produce: Callable[[Callable[[], InstanceRef], int, bool], Response],
    instance: Callable[[], InstanceRef],
    of_series: Callable[[], InstanceRef],
    of_study: Callable[[], InstanceRef],
    frame_number: Callable[[], int],
) -> None:
    name = "thumbnail" if thumbnail else "rendered"

    @bp.route(f"/studies/{{study}}/{suffix}", methods=["GET"], cors=CORS, name=f"study_{name}")
    @view("read")
    def study_image(study: str) -> Response:
        return produce(of_study, 1, thumbnail)

    @bp.route(
        f"/studies/{{study}}/series/{{series}}/{suffix}",
        methods=["GET"],
        cors=CORS,
        name=f"series_{name}",
    )
    @view("read")
    def series_image(study: str, series: str) -> Response:
        return produce(of_series, 1, thumbnail)

    @bp.route(f"{INSTANCE}/{suffix}", methods=["GET"], cors=CORS, name=f"instance_{name}")
    @view("read")
    def instance_image(study: str, series: str, instance_: str = "", **_: str) -> Response:
        return produce(instance, 1, thumbnail)

    @bp.route(
        f"{INSTANCE}/frames/{{frames}}/{suffix}", methods=["GET"], cors=CORS, name=f"frame_{name}"
    )
    @view("read")
    def frame_image(study: str, series: str, frames: str, **_: str) -> Response:
        return produce(instance, frame_number(), thumbnail)
