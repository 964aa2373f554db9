"""WADO-URI (PS3.18 9), as in the seed guide:
``GET /wado?requestType=WADO&studyUID=..&seriesUID=..&objectUID=..[&contentType=..]
[&frameNumber=..][&windowCenter=..&windowWidth=..][&rows=..&columns=..][&imageQuality=..]
[&transferSyntax=..]``. ``contentType`` defaults to image/jpeg; application/dicom returns the
instance (as stored, or converted to ``transferSyntax``)."""

from __future__ import annotations

import functools

from chalice.app import Blueprint, Response

from chalicelib.dicomweb.errors import BadRequest, NotAcceptable, NotFound
from chalicelib.dicomweb.media import APPLICATION_DICOM, parse_media_type
from chalicelib.dicomweb.rendering import (
    MAX_VIEWPORT,
    RENDERED_TYPES,
    RenderOptions,
    Viewport,
    parse_window,
)
from chalicelib.dicomweb.resources import InstanceRef, is_valid_uid
from chalicelib.routes.deps import Deps
from chalicelib.routes.http import CORS, api_view, binary_response, principal_of
from chalicelib.routes.wado import see_other
from chalicelib.services import render
from chalicelib.services.large import redirect_to_document, redirect_to_object
from chalicelib.services.transcode import can_write, transcode
from chalicelib.storage.keys import bundles_prefix, instance_key


def _param(params: dict[str, str], name: str, required: bool = False) -> str | None:
    value = params.get(name)
    if required and not value:
        raise BadRequest(f"{name} is required", code="InvalidParameter")
    return value


def blueprint(deps: Deps) -> Blueprint:
    bp = Blueprint(__name__)
    view = functools.partial(api_view, lambda: bp.current_request)

    def link(key: str, content_type: str) -> str:
        return deps.downloads.url(key, deps.settings.presign_expiry, content_type)

    def _instance(ref: InstanceRef, target: str | None) -> Response:
        """The Part 10 instance; over Lambda's payload limit, a 303 to a presigned URL (the
        stored object itself, or the converted one stored once under ``bundles/``)."""
        key, limit = instance_key(ref), deps.settings.max_binary_response()
        if target and not can_write(target):
            raise NotAcceptable(f"cannot convert to {target}")
        if target:
            stored = deps.store.get(key)
            if stored is None:
                raise NotFound("instance not found")
            converted = transcode(stored, target)
            if len(converted) > limit:
                scope = bundles_prefix(ref.tenant, ref.study, ref.series)
                url = redirect_to_document(deps.store, scope, converted, APPLICATION_DICOM, link)
                return see_other(url)
            return binary_response(converted, APPLICATION_DICOM)
        data, size = deps.store.get_bounded(key, limit)
        if size < 0:
            raise NotFound("instance not found")
        if data is None:  # the stored object is over the limit: its body is not read
            return see_other(redirect_to_object(link, key))
        return binary_response(data, APPLICATION_DICOM)

    @bp.route("/wado", methods=["GET"], cors=CORS)
    @view("read")
    def wado_uri() -> Response:
        request = bp.current_request
        params = dict(request.query_params or {})
        if _param(params, "requestType", True) != "WADO":
            raise BadRequest("requestType must be WADO", code="InvalidParameter")
        uids = [_param(params, n, True) or "" for n in ("studyUID", "seriesUID", "objectUID")]
        for name, value in zip(("studyUID", "seriesUID", "objectUID"), uids, strict=True):
            if not is_valid_uid(value):
                raise BadRequest(f"{name} is not a valid UID", code="InvalidUID")
        ref = InstanceRef(principal_of(request).tenant, *uids)
        content_type = (_param(params, "contentType") or "image/jpeg").split(",")[0]
        essence = parse_media_type(content_type).essence
        if essence == APPLICATION_DICOM:
            return _instance(ref, _param(params, "transferSyntax"))
        if essence not in RENDERED_TYPES:
            raise NotAcceptable(
                "contentType is application/dicom, image/jpeg, image/png or image/gif"
            )
        frame = _param(params, "frameNumber") or "1"
        if not frame.isdecimal() or int(frame) < 1:
            raise BadRequest("frameNumber is a number from 1", code="InvalidParameter")
        center, width = _param(params, "windowCenter"), _param(params, "windowWidth")
        window = (
            parse_window(f"{center},{width}", "windowCenter/windowWidth")
            if center and width
            else None
        )
        rows, columns = _param(params, "rows"), _param(params, "columns")
        viewport = None
        if rows or columns:
            sides = [rows or str(MAX_VIEWPORT), columns or str(MAX_VIEWPORT)]
            if not all(v.isdecimal() and 1 <= int(v) <= MAX_VIEWPORT for v in sides):
                raise BadRequest(
                    f"rows and columns are numbers from 1 to {MAX_VIEWPORT}",
                    code="InvalidParameter",
                )
            viewport = Viewport(int(sides[1]), int(sides[0]))
        quality = _param(params, "imageQuality") or "90"
        if not quality.isdecimal() or not 1 <= int(quality) <= 100:
            raise BadRequest("imageQuality is a number from 1 to 100", code="InvalidParameter")
        options = RenderOptions(essence, window, viewport, int(quality))
        return binary_response(render.rendered(deps.store, ref, int(frame), options), essence)

    return bp
