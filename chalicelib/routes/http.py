"""The HTTP edge's vocabulary: the one JSON error body, failures mapped to it once, CORS, and
the DICOMweb root a request was sent to.

Every body is bytes: binary types are ``*/*`` (see app.py), so API Gateway base64-decodes
every response body. Chalice turns any exception a view raises into a bare 500 before
middleware sees it, so every view catches and maps here (``routes/table.py``).
"""

from __future__ import annotations

from typing import Any, cast

from chalice.app import CORSConfig, Request, Response

from chalicelib.dicomweb.errors import DicomWebError
from chalicelib.routes.wire import (
    CHALLENGES,
    CORS_ALLOW_HEADERS,
    CORS_EXPOSE_HEADERS,
    CORS_MAX_AGE,
    NO_STORE,
    as_error,
    error_body,
    error_bytes,
    error_headers,
)

__all__ = ["CHALLENGES", "NO_STORE", "error_body"]  # what other modules import here

PRINCIPAL = "dicomweb.principal"

CORS = CORSConfig(
    allow_origin="*",
    allow_headers=CORS_ALLOW_HEADERS,
    expose_headers=CORS_EXPOSE_HEADERS,
    max_age=CORS_MAX_AGE,
)
CORS_HEADERS: dict[str, Any] = cast(dict[str, Any], CORS.get_access_control_headers())


def error_response(err: DicomWebError) -> Response:
    return Response(
        body=error_bytes(err), status_code=err.status, headers=error_headers(err, CORS_HEADERS)
    )


def failure_response(exc: Exception) -> Response:
    """Any failure of a view as the error body (``wire.as_error``)."""
    return error_response(as_error(exc))


def base_url(request: Request) -> str:
    """The DICOMweb root as the client sees it: scheme, host and, on API Gateway's own
    domain, the stage."""
    headers = request.headers
    ctx = request.context
    host = headers.get("host") or ctx.get("domainName") or "localhost"
    proto = headers.get("x-forwarded-proto", "https")
    stage = ctx.get("stage")
    prefix = f"/{stage}" if stage and ".execute-api." in host else ""
    return f"{proto}://{host}{prefix}"


def host_of(request: Request) -> str:
    return str(request.headers.get("host") or "dicomweb")
