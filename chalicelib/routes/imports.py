"""Rejected S3-drop imports, listed for their tenant (non-standard)."""

from __future__ import annotations

import functools

from chalice.app import Blueprint, Response

from chalicelib.dicomweb.errors import BadRequest
from chalicelib.dicomweb.media import JSON
from chalicelib.routes.deps import Deps
from chalicelib.routes.http import CORS, api_view, json_response, principal_of
from chalicelib.storage.keys import rejected_prefix


def blueprint(deps: Deps) -> Blueprint:
    bp = Blueprint(__name__)
    view = functools.partial(api_view, lambda: bp.current_request)

    @bp.route("/imports/rejected", methods=["GET"], cors=CORS)
    @view("read")
    def list_rejected_imports() -> Response:
        request = bp.current_request
        params: dict[str, str] = dict(request.query_params or {})
        try:
            limit = min(max(int(params.get("limit", "100")), 1), 1000)
        except ValueError as exc:
            raise BadRequest("limit must be an integer", code="InvalidParameter") from exc
        prefix = rejected_prefix(principal_of(request).tenant)
        start = params.get("startAfter")
        objects, more = deps.store.list(prefix, prefix + start if start else None, limit)
        items = []
        for obj in objects:
            reason, _, name = obj.key[len(prefix) :].partition("/")
            items.append(
                {
                    "name": name,
                    "failureReason": int(reason, 16),
                    "size": obj.size,
                    "rejectedAt": obj.last_modified,
                }
            )
        body = {"rejected": items, "next": more[len(prefix) :] if more else None}
        return json_response(body, content_type=JSON)

    return bp
