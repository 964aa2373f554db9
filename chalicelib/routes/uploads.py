"""Presigned uploads for STOW beyond the payload limit (non-standard; see services/uploads)."""

from __future__ import annotations

import functools
import json
from typing import Any

from chalice.app import Blueprint, Response

from chalicelib.dicomweb.errors import BadRequest
from chalicelib.dicomweb.media import JSON
from chalicelib.routes.deps import Deps
from chalicelib.routes.http import CORS, api_view, base_url, json_response, path_param, principal_of
from chalicelib.services import uploads


def _json_body(raw: Any) -> Any:
    try:
        return json.loads(raw or b"{}")
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest("the body must be JSON", code="InvalidUpload") from exc


def blueprint(deps: Deps) -> Blueprint:
    bp = Blueprint(__name__)
    view = functools.partial(api_view, lambda: bp.current_request)

    @bp.route("/uploads", methods=["POST"], content_types=["*/*"], cors=CORS)
    @view("write")
    def start_upload() -> Response:
        request = bp.current_request
        body = uploads.start_upload(
            deps.store,
            deps.settings,
            principal_of(request).tenant,
            _json_body(request.raw_body),
            base_url(request),
        )
        return json_response(
            body, status=201, content_type=JSON, headers={"Location": body["status"]}
        )

    @bp.route(
        "/uploads/{upload}/files/{index}/complete",
        methods=["POST"],
        content_types=["*/*"],
        cors=CORS,
    )
    @view("write")
    def complete_upload_file(upload: str, index: str) -> Response:
        request = bp.current_request
        raw_index = path_param(request, "index")
        if not raw_index.isdecimal():
            raise BadRequest("file index must be a number", code="InvalidUpload")
        uploads.complete_file(
            deps.store,
            principal_of(request).tenant,
            path_param(request, "upload"),
            int(raw_index),
            _json_body(request.raw_body),
        )
        return json_response({"completed": True}, content_type=JSON)

    @bp.route("/uploads/{upload}", methods=["GET"], cors=CORS)
    @view("read")
    def upload_status(upload: str) -> Response:
        request = bp.current_request
        got = uploads.upload_status(
            deps.store,
            principal_of(request).tenant,
            path_param(request, "upload"),
            base_url(request),
        )
        return json_response(got.body, status=got.status, content_type=JSON)

    return bp
