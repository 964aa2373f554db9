"""The HTTP edge: one error -> Response mapping, CORS, JSON and multipart responses.

Every body is bytes: binary types are ``*/*`` (see app.py), so API Gateway base64-decodes
every response body.

Chalice turns any exception a view raises into a bare 500 before middleware sees it, so every
view is wrapped by ``api_view``, which maps ``DicomWebError`` to the service's JSON error body
and checks the route's scope against the caller's key.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any, cast
from urllib.parse import unquote

from chalice.app import CORSConfig, Request, Response

from chalicelib.dicomweb.errors import DicomWebError, Forbidden, Unauthorized
from chalicelib.dicomweb.media import DICOM_JSON, JSON, MULTIPART_RELATED
from chalicelib.dicomweb.multipart import Part, new_boundary, write_multipart
from chalicelib.observability import error_fields, logger
from chalicelib.services.ports import Principal, StorageUnavailable

PRINCIPAL = "dicomweb.principal"

#: Headers a browser client (OHIF) sends and reads. Preflight answers without a key.
CORS = CORSConfig(
    allow_origin="*",
    allow_headers=["Authorization", "apikey", "x-api-key", "Content-Type", "Accept"],
    expose_headers=["Warning", "Content-Type", "Content-Length", "ETag", "Location"],
    max_age=600,
)
CORS_HEADERS: dict[str, Any] = cast(dict[str, Any], CORS.get_access_control_headers())


def error_body(status: int, code: str, message: str) -> dict[str, Any]:
    """The one JSON error body of the service (README, "Errors")."""
    return {"error": {"status": status, "code": code, "message": message}}


def error_response(err: DicomWebError) -> Response:
    headers: dict[str, Any] = {"Content-Type": JSON, **CORS_HEADERS, **err.headers}
    return Response(
        body=json.dumps(error_body(err.status, err.code, err.message)).encode(),
        status_code=err.status,
        headers=headers,
    )


def json_response(
    body: Any,
    status: int = 200,
    content_type: str = DICOM_JSON,
    headers: dict[str, str] | None = None,
) -> Response:
    return Response(
        body=json.dumps(body, separators=(",", ":")).encode(),
        status_code=status,
        headers={"Content-Type": content_type, **CORS_HEADERS, **(headers or {})},
    )


def multipart_response(parts: list[Part], part_type: str, status: int = 200) -> Response:
    boundary = new_boundary()
    body = write_multipart(parts, boundary)
    content_type = f'{MULTIPART_RELATED}; type="{part_type}"; boundary={boundary}'
    return Response(
        body=body, status_code=status, headers={"Content-Type": content_type, **CORS_HEADERS}
    )


def binary_response(body: bytes, content_type: str, status: int = 200) -> Response:
    return Response(
        body=body, status_code=status, headers={"Content-Type": content_type, **CORS_HEADERS}
    )


WARNING_TEXT_LIMIT = 200  # per message; the header echoes client input, so it stays small


def _quoted_text(message: str) -> str:
    """A header-safe quoted-string body: visible ASCII only (HTTP field values are latin-1 at
    best, and the messages echo client-chosen parameter names), quotes and backslashes escaped,
    length capped."""
    text = message.encode("ascii", "backslashreplace").decode("ascii")
    text = "".join(c if " " <= c <= "~" else f"\\x{ord(c):02x}" for c in text)
    text = text.replace("\\", "\\\\").replace('"', '\\"')
    if len(text) > WARNING_TEXT_LIMIT:
        text = text[: WARNING_TEXT_LIMIT - 3].rstrip("\\") + "..."
    return text


def warning_header(host: str, messages: list[str]) -> dict[str, str]:
    """PS3.18 8.3.4.1 / 8.3.4.4 Warning header (299)."""
    if not messages:
        return {}
    return {"Warning": ", ".join(f'299 {host} "{_quoted_text(m)}"' for m in messages)}


def bodiless_routes_take_any_content_type(routes: dict[str, dict[str, Any]]) -> None:
    """Chalice answers a request whose Content-Type is not among the route's ``content_types``
    (default: application/json) with its own 415 body, before any middleware or view runs. A
    GET or DELETE has no body, so its Content-Type says nothing: accept any."""
    for methods in routes.values():
        for method, entry in methods.items():
            if method in ("GET", "HEAD", "DELETE"):
                entry.content_types = ["*/*"]


def principal_of(request: Request) -> Principal:
    principal = request.context.get(PRINCIPAL)
    if not isinstance(principal, Principal):
        raise Unauthorized("an API key is required")
    return principal


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


def path_param(request: Request, name: str) -> str:
    """API Gateway passes path parameters percent-encoded: decode here."""
    return unquote((request.uri_params or {})[name])


def query_lists(request: Request) -> dict[str, list[str]]:
    """Multi-value query parameters (API Gateway has already percent-decoded them)."""
    params = request.query_params
    if not params:
        return {}
    return {name: list(params.getlist(name)) for name in params}


ViewFunc = Callable[..., Response]


def api_view(current_request: Callable[[], Request], scope: str) -> Callable[[ViewFunc], ViewFunc]:
    """Wrap a view: scope check, DicomWebError -> JSON error body, never a bare 500."""

    def decorate(func: ViewFunc) -> ViewFunc:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Response:
            try:
                principal = principal_of(current_request())
                if scope not in principal.scopes:
                    raise Forbidden(f"this API key lacks the '{scope}' scope")
                return func(*args, **kwargs)
            except DicomWebError as err:
                return error_response(err)
            except Exception as exc:
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
                return error_response(
                    DicomWebError("internal error", status=500, code="InternalError")
                )

        wrapper.dicomweb_scope = scope  # type: ignore[attr-defined]
        return wrapper

    return decorate


def edge(
    bp: Any,
) -> tuple[
    Callable[[str], Callable[[ViewFunc], ViewFunc]], Callable[[], str], Callable[[str], str]
]:
    """What every route module uses: the view wrapper for its blueprint, the caller's tenant,
    and a path UID, decoded and validated."""
    from chalicelib.dicomweb.resources import path_uid

    def view(scope: str) -> Callable[[ViewFunc], ViewFunc]:
        return api_view(lambda: bp.current_request, scope)

    def tenant() -> str:
        return principal_of(bp.current_request).tenant

    def uid(name: str) -> str:
        return path_uid(path_param(bp.current_request, name), name)

    return view, tenant, uid
