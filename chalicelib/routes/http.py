"""The HTTP edge's vocabulary: the one JSON error body, failures mapped to it once, CORS, and
the DICOMweb root a request was sent to.

Every body is bytes: binary types are ``*/*`` (see app.py), so API Gateway base64-decodes
every response body. Chalice turns any exception a view raises into a bare 500 before
middleware sees it, so every view catches and maps here (``routes/table.py``).
"""

from __future__ import annotations

import json
from typing import Any, cast

from chalice.app import CORSConfig, Request, Response

from chalicelib.dicomweb.errors import DicomWebError
from chalicelib.dicomweb.media import JSON
from chalicelib.observability import error_fields, logger
from chalicelib.services.ports import StorageUnavailable

PRINCIPAL = "dicomweb.principal"

#: Headers a browser client (OHIF) sends and reads. Preflight answers without a key.
CORS = CORSConfig(
    allow_origin="*",
    allow_headers=["Authorization", "apikey", "x-api-key", "Content-Type", "Accept"],
    expose_headers=["Warning", "Content-Type", "Content-Length", "ETag", "Location"],
    max_age=600,
)
CORS_HEADERS: dict[str, Any] = cast(dict[str, Any], CORS.get_access_control_headers())


#: On every answer with patient data, every error and every 303 (its Location is a signed URL):
#: no cache keeps it, and no browser sniffs a JSON error that echoes input as HTML.
NO_STORE: dict[str, Any] = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
#: Answers with patient data: no shared cache (proxy, CDN) may store them, and a browser must
#: revalidate before reusing what it kept. Not ``no-store``: a viewer (OHIF in Chromium) then
#: re-fetches and aborts its own frame requests as it moves between views.
PRIVATE: dict[str, Any] = {
    "Cache-Control": "private, no-cache",
    "X-Content-Type-Options": "nosniff",
}


def error_body(status: int, code: str, message: str) -> dict[str, Any]:
    """The one JSON error body of the service (README, "Errors")."""
    return {"error": {"status": status, "code": code, "message": message}}


#: Every 401 names both schemes a key may travel in (RFC 9110 11.6.1), one challenge a line:
#: clients that send credentials only when challenged (curl --anyauth, some PACS) need one.
#: Basic takes any user name and the API key as the password; Bearer takes the key itself.
CHALLENGES = ['Basic realm="dicomweb", charset="UTF-8"', 'Bearer realm="dicomweb"']


def error_response(err: DicomWebError) -> Response:
    headers: dict[str, Any] = {"Content-Type": JSON, **CORS_HEADERS, **NO_STORE, **err.headers}
    if err.status == 401:
        headers["WWW-Authenticate"] = list(CHALLENGES)  # a list: one header line each
    return Response(
        body=json.dumps(error_body(err.status, err.code, err.message)).encode(),
        status_code=err.status,
        headers=headers,
    )


def failure_response(exc: Exception) -> Response:
    """Any failure of a view as the error body: its own 4xx for a ``DicomWebError``, 503 with
    Retry-After when storage is throttled or failing for now, otherwise a logged 500 (never a
    bare one, never the exception's text)."""
    if isinstance(exc, DicomWebError):
        return error_response(exc)
    if isinstance(exc, StorageUnavailable):  # throttled or failed: retry is the answer
        logger.warning("transient AWS error", extra={"aws_error": exc.code})
        return error_response(
            DicomWebError(
                "the storage backend is busy or failed transiently; retry shortly",
                status=503,
                code="ServiceUnavailable",
                headers={"Retry-After": "1"},
            )
        )
    logger.error("unhandled error", extra=error_fields(exc))
    return error_response(DicomWebError("internal error", status=500, code="InternalError"))


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
