"""Rejected S3-drop imports, listed for their tenant (non-standard)."""

from __future__ import annotations

import functools
import re

from chalice.app import Blueprint, Response

from chalicelib.dicomweb.errors import BadRequest
from chalicelib.dicomweb.media import JSON
from chalicelib.routes.deps import Deps
from chalicelib.routes.http import CORS, api_view, json_response, principal_of
from chalicelib.storage.keys import rejected_prefix

#: ``startAfter`` is a page's ``next``: an S3 key's tail. S3 keys are at most 1,024 bytes, and
#: S3 echoes StartAfter in its XML listing, so it must be XML 1.0 text (a NUL, a control
#: character or U+FFFE failed as a 5xx; found by the schemathesis run).
_XML_TEXT = re.compile("[\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]*")
MAX_KEY_BYTES = 1024


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
        if start and (
            not _XML_TEXT.fullmatch(start)
            or len((prefix + start).encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES
        ):
            raise BadRequest("startAfter is the next of a previous page", code="InvalidParameter")
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
