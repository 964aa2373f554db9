"""A local API Gateway (REST API, Lambda proxy integration) in front of the Chalice app.

It does what API Gateway does, so the app runs locally exactly as in AWS:

* routes by the app's route table and builds the Lambda proxy event: ``resource``,
  ``pathParameters`` left percent-encoded (the app decodes them), multi-value query
  parameters (decoded), a ``requestContext`` with domain, stage and request id, and the body
  base64-encoded (binary media types are ``*/*``);
* reads chunked request bodies whole (``chalice local`` delivers them empty);
* enforces API Gateway's 10 MB request body and Lambda's 6 MB payload, answering 413 with the
  service's JSON error body (in AWS: a GatewayResponse, see infra/), and a response over the
  payload limit with 502;
* answers CORS preflights itself (in AWS: the OPTIONS mock integration Chalice generates),
  and unknown routes or methods with 404 (the MISSING_AUTHENTICATION_TOKEN GatewayResponse).

It runs behind the local front (``local/front.py``: uvicorn, the WSGI app through a2wsgi).
"""

from __future__ import annotations

import base64
import binascii
import json
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

try:  # SIMD base64, ~10x binascii's speed (local/requirements.txt, installed by make serve)
    from pybase64 import b64decode as _simd_decode
    from pybase64 import b64encode as _simd_encode
except ImportError:  # pragma: no cover - the same bytes, slower
    _simd_decode = _simd_encode = None

from chalicelib.routes.http import CORS_HEADERS, error_body
from chalicelib.storage.downloads import DOWNLOADS_PATH
from local.lambda_runtime import LambdaContext

StartResponse = Callable[..., Any]

#: What a 413 says, here and in the deployed GatewayResponse (infra/).
LARGE_UPLOAD_HINT = (
    "store large files through presigned S3 uploads: POST /uploads (see README, Large objects)"
)

_REASONS = {
    200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 206: "Partial Content",
    303: "See Other", 304: "Not Modified", 400: "Bad Request", 401: "Unauthorized",
    403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 406: "Not Acceptable",
    409: "Conflict", 413: "Payload Too Large", 415: "Unsupported Media Type",
    429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Gateway Timeout",
}  # fmt: skip


class Route:
    def __init__(self, path: str, methods: dict[str, Any]) -> None:
        self.path = path
        self.parts = path.strip("/").split("/") if path != "/" else []
        self.methods = methods

    def match(self, segments: list[str]) -> dict[str, str] | None:
        if len(segments) != len(self.parts):
            return None
        captured: dict[str, str] = {}
        for seg, part in zip(segments, self.parts, strict=True):
            if part.startswith("{") and part.endswith("}"):
                if not seg:
                    return None
                captured[part[1:-1]] = seg
            elif seg != part:
                return None
        return captured


class LocalGateway:
    """A WSGI application that invokes a Chalice app the way API Gateway + Lambda do."""

    def __init__(
        self,
        app: Any,
        request_limit: int,
        payload_limit: int,
        stage: str = "local",
        large_upload_hint: str = "",
        downloads: Callable[..., Iterable[bytes]] | None = None,
    ) -> None:
        self._app = app
        self._request_limit = request_limit
        self._payload_limit = payload_limit
        self._stage = stage
        self._hint = large_upload_hint
        #: CloudFront's download path, played locally (local/downloads.py)
        self.downloads = downloads
        # Concrete segments before captures, as API Gateway prefers the most specific path.
        self._routes = sorted(
            (Route(path, methods) for path, methods in app.routes.items()),
            key=lambda r: [p.startswith("{") for p in r.parts],
        )

    # --- helpers ----------------------------------------------------------------------------

    def _json(self, start: StartResponse, status: int, code: str, message: str) -> Iterable[bytes]:
        body = json.dumps(error_body(status, code, message)).encode()
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        headers += list(CORS_HEADERS.items())
        start(f"{status} {_REASONS.get(status, 'Error')}", headers)
        return [body]

    def _find(self, raw_path: str) -> tuple[Route, dict[str, str]] | None:
        path = raw_path if raw_path == "/" else raw_path.rstrip("/")
        segments = path.strip("/").split("/") if path != "/" else []
        for route in self._routes:
            captured = route.match(segments)
            if captured is not None:
                return route, captured
        return None

    @staticmethod
    def _read_body(environ: dict[str, Any], limit: int) -> bytes | None:
        """The whole body, or None when it exceeds ``limit``."""
        stream = environ["wsgi.input"]
        length = environ.get("CONTENT_LENGTH")
        if length:
            if int(length) > limit:
                return None
            return bytes(stream.read(int(length)))
        chunks: list[bytes] = []
        total = 0
        while True:
            chunk = stream.read(1024 * 1024)
            if not chunk:
                break
            total += len(chunk)
            if total > limit:
                return None
            chunks.append(chunk)
        return b"".join(chunks)

    # --- WSGI -------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start: StartResponse) -> Iterable[bytes]:
        environ.setdefault("REQUEST_URI", _raw_uri(environ))  # a2wsgi does not set it
        answer = self._answer(environ, start)
        if environ["REQUEST_METHOD"].upper() == "HEAD":
            # a HEAD answer has no body (RFC 9110 9.3.2); one left on a kept-alive connection
            # was read as the start of the next response (BadStatusLine)
            for _ in answer:  # produced (its headers are sent), not written
                pass
            return []
        return answer

    def _answer(self, environ: dict[str, Any], start: StartResponse) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"].upper()
        raw_uri = environ["REQUEST_URI"]
        raw_path, _, query = raw_uri.partition("?")
        query = query or environ.get("QUERY_STRING", "")
        if self.downloads is not None and raw_path.startswith(DOWNLOADS_PATH):
            return self.downloads(environ, start)
        found = self._find(raw_path or "/")
        if found is None or (method not in found[0].methods and method != "OPTIONS"):
            return self._json(start, 404, "NotFound", "no such resource")
        route, captured = found
        if method == "OPTIONS":
            return self._preflight(route, start)

        body = self._read_body(environ, self._request_limit)
        if body is None:
            return self._too_large(start, f"the request body exceeds {self._request_limit} bytes")

        headers: dict[str, str] = {}
        multi_headers: dict[str, list[str]] = {}
        for key, value in environ.items():
            if key.startswith("HTTP_"):
                name = key[5:].replace("_", "-").title()
            elif key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                name = key.replace("_", "-").title()
            else:
                continue
            if value == "" and name == "Content-Length":
                continue
            headers[name] = value
            multi_headers[name] = [value]
        host = headers.get("Host") or f"{environ.get('SERVER_NAME')}:{environ.get('SERVER_PORT')}"
        headers.setdefault("X-Forwarded-Proto", environ.get("wsgi.url_scheme", "http"))
        multi_headers["X-Forwarded-Proto"] = [headers["X-Forwarded-Proto"]]
        multi_query = parse_qs(query, keep_blank_values=True) if query else None
        request_id = str(uuid.uuid4())
        event = {
            "resource": route.path,
            "path": raw_path,
            "httpMethod": method,
            "headers": headers,
            "multiValueHeaders": multi_headers,
            "queryStringParameters": (
                {k: v[-1] for k, v in multi_query.items()} if multi_query else None
            ),
            "multiValueQueryStringParameters": multi_query or None,
            "pathParameters": captured or None,
            "stageVariables": None,
            "requestContext": {
                "resourcePath": route.path,
                "httpMethod": method,
                "path": f"/{self._stage}{raw_path}",
                "stage": self._stage,
                "domainName": host,
                "requestId": request_id,
                "requestTimeEpoch": int(time.time() * 1000),
                "identity": {"sourceIp": environ.get("REMOTE_ADDR", "127.0.0.1")},
            },
            "body": b64encode(body) if body else None,
            "isBase64Encoded": bool(body),
        }
        if json_size(event, plain_body=True) > self._payload_limit:  # b64encode's characters
            return self._too_large(
                start,
                f"the request exceeds the {self._payload_limit}-byte Lambda payload limit "
                f"(binary bodies are base64-encoded: about {self._payload_limit * 3 // 4} bytes)",
            )
        response = self._app(event, LambdaContext(aws_request_id=request_id))
        body, plain = response_body(response)
        if json_size(response, plain_body=plain) > self._payload_limit:
            return self._json(
                start, 502, "BadGateway", "the response exceeded the Lambda payload limit"
            )
        return self._respond(response, body, start)

    def _too_large(self, start: StartResponse, message: str) -> Iterable[bytes]:
        if self._hint:
            message = f"{message}; {self._hint}"
        return self._json(start, 413, "PayloadTooLarge", message)

    def _preflight(self, route: Route, start: StartResponse) -> Iterable[bytes]:
        methods = sorted(set(route.methods) | {"OPTIONS"})
        entry = next(iter(route.methods.values()))
        cors = getattr(entry, "cors", None)
        if not cors:
            return self._json(start, 404, "NotFound", "no such resource")
        headers = dict(cors.get_access_control_headers())
        headers["Access-Control-Allow-Methods"] = ",".join(methods)
        start("200 OK", [*headers.items(), ("Content-Length", "0")])
        return [b""]

    @staticmethod
    def _respond(response: dict[str, Any], body: bytes, start: StartResponse) -> Iterable[bytes]:
        status = int(response.get("statusCode", 200))
        headers: list[tuple[str, str]] = []
        multi = response.get("multiValueHeaders") or {}
        for name, value in (response.get("headers") or {}).items():
            if name not in multi:
                headers.append((name, str(value)))
        for name, values in multi.items():
            headers.extend((name, str(v)) for v in values)
        headers = [(n, v) for n, v in headers if n.lower() != "content-length"]
        headers.append(("Content-Length", str(len(body))))
        start(f"{status} {_REASONS.get(status, 'Status')}", headers)
        return [body]


def _raw_uri(environ: dict[str, Any]) -> str:
    """The request target as the client sent it, percent-encoding kept (API Gateway routes on
    it): from the ASGI scope under the local front (a2wsgi), else PATH_INFO (decoded)."""
    scope = environ.get("asgi.scope") or {}
    raw = scope.get("raw_path")
    if not raw:
        return str(environ.get("PATH_INFO", "/"))
    query = scope.get("query_string", b"")
    return raw.decode("latin-1") + ("?" + query.decode("latin-1") if query else "")


def response_body(response: dict[str, Any]) -> tuple[bytes, bool]:
    """A Lambda proxy answer's body as bytes (decoded once, as API Gateway decodes it), and
    whether ``json.dumps`` writes its body string as it is: a strict base64 alphabet, as
    ``base64.b64encode`` writes it."""
    raw = response.get("body") or ""
    if response.get("isBase64Encoded"):
        try:
            return strict_b64decode(raw), True
        except (binascii.Error, ValueError):
            return base64.b64decode(raw), False
    return (raw.encode("utf-8") if isinstance(raw, str) else bytes(raw)), False


def strict_b64decode(text: str | bytes) -> bytes:
    """Base64 with nothing but its alphabet and padding (any other character: binascii.Error)."""
    if _simd_decode is not None:
        return bytes(_simd_decode(text, validate=True))
    return binascii.a2b_base64(text, strict_mode=True)


def b64encode(data: bytes) -> str:
    """``base64.b64encode(data).decode()``."""
    if _simd_encode is not None:
        return bytes(_simd_encode(data)).decode("ascii")
    return base64.b64encode(data).decode("ascii")


def json_size(payload: dict[str, Any], plain_body: bool = False) -> int:
    """``len(json.dumps(payload))``, the size Lambda counts. ``plain_body``: the body string is
    known to be written as it is (base64's characters: A-Z a-z 0-9 + / =), so it adds its own
    length and is not written out again (a 0.5 MB instance answer was a 0.7 MB ``json.dumps``
    per request, 13 % of its CPU)."""
    body = payload.get("body")
    if plain_body and isinstance(body, str):
        return len(json.dumps({**payload, "body": ""})) + len(body)
    return len(json.dumps(payload))
