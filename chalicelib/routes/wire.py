"""What every front of the service sends, whatever its web framework (the Chalice API through
``routes/http.py``, the streaming STOW receiver): the error body and its headers, cache and
CORS headers, and the mapping of any failure to a status."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.dicomweb.errors import DicomWebError
from chalicelib.dicomweb.media import JSON
from chalicelib.observability import error_fields, logger
from chalicelib.services.ports import StorageUnavailable

#: Headers a browser client (OHIF) sends and reads. Preflight answers without a key.
CORS_ALLOW_HEADERS = ["Authorization", "apikey", "x-api-key", "Content-Type", "Accept"]
CORS_EXPOSE_HEADERS = ["Warning", "Content-Type", "Content-Length", "ETag", "Location"]
CORS_MAX_AGE = 600

#: On every answer to a key (patient data), every error and every 303 (its Location is a signed
#: URL): no cache keeps it, not even the browser's own on disk, and no browser sniffs a JSON
#: error that echoes input as HTML.
NO_STORE: dict[str, Any] = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}

#: Every 401 names both schemes a key may travel in (RFC 9110 11.6.1), one challenge a line:
#: clients that send credentials only when challenged (curl --anyauth, some PACS) need one.
#: Basic takes any user name and the API key as the password; Bearer takes the key itself.
CHALLENGES = ['Basic realm="dicomweb", charset="UTF-8"', 'Bearer realm="dicomweb"']


def error_body(status: int, code: str, message: str) -> dict[str, Any]:
    """The one JSON error body of the service (README, "Errors")."""
    return {"error": {"status": status, "code": code, "message": message}}


def as_error(exc: BaseException) -> DicomWebError:
    """Any failure as the error the client gets: its own 4xx for a ``DicomWebError``, 503 with
    Retry-After when storage is throttled or failing for now, otherwise a logged 500 (never a
    bare one, never the exception's text)."""
    if isinstance(exc, DicomWebError):
        return exc
    if isinstance(exc, StorageUnavailable):  # throttled or failed: retry is the answer
        logger.warning("transient AWS error", extra={"aws_error": exc.code})
        return DicomWebError(
            "the storage backend is busy or failed transiently; retry shortly",
            status=503,
            code="ServiceUnavailable",
            headers={"Retry-After": "1"},
        )
    logger.error("unhandled error", extra=error_fields(exc))
    return DicomWebError("internal error", status=500, code="InternalError")


def error_headers(err: DicomWebError, cors: dict[str, Any]) -> dict[str, Any]:
    """An error's headers; WWW-Authenticate is a list on a 401 (one header line each)."""
    headers: dict[str, Any] = {"Content-Type": JSON, **cors, **NO_STORE, **err.headers}
    if err.status == 401:
        headers["WWW-Authenticate"] = list(CHALLENGES)
    return headers


def error_bytes(err: DicomWebError) -> bytes:
    return json.dumps(error_body(err.status, err.code, err.message)).encode()
