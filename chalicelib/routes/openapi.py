"""``GET /openapi.json``: the OpenAPI description of the service (``chalicelib/openapi.py``).

Public: the authentication middleware lets it through without an API key
(``auth.PUBLIC_ROUTES``), so a client or a tool can read it before it has a key. The document
is built once per container from the app's route table; ``servers`` is the DICOMweb root as
this request sees it (host and, on API Gateway's own domain, the stage).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from typing import Any

from chalice.app import Blueprint, Response

from chalicelib import openapi
from chalicelib.dicomweb.errors import DicomWebError
from chalicelib.dicomweb.media import JSON
from chalicelib.routes.deps import Deps
from chalicelib.routes.http import CORS, CORS_HEADERS, base_url, error_response


def blueprint(deps: Deps, routes: Callable[[], Mapping[str, Mapping[str, Any]]]) -> Blueprint:
    bp = Blueprint(__name__)

    @functools.cache
    def document() -> dict[str, Any]:
        return openapi.build(routes(), deps.settings)

    @bp.route(openapi.PATH, methods=["GET"], cors=CORS)
    def openapi_description() -> Response:
        try:
            servers = [{"url": base_url(bp.current_request)}]
            body = json.dumps({**document(), "servers": servers}, separators=(",", ":"))
        except Exception:  # never a bare 500 (api_view's rule, without its scope check)
            return error_response(DicomWebError("internal error", status=500, code="InternalError"))
        return Response(
            body=body.encode(), status_code=200, headers={"Content-Type": JSON, **CORS_HEADERS}
        )

    openapi_description.dicomweb_scope = None  # type: ignore[attr-defined]  # public
    return bp
