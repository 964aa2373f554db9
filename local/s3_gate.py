"""The local S3 endpoint that presigned URLs point at: it checks each request as S3 checks a
presigned URL (``local/s3_presigned.py``) and only then passes it, method, path, query, headers
and body, to moto, which checks no signature at all. A refused request never reaches moto:
nothing is written. SDK calls do not come here; they go to moto directly.

S3 answers a CORS preflight from the bucket's CORS rules without any signature, so OPTIONS goes
to moto unchecked. A body is streamed to moto as it arrives, never held: S3's bounds apply (a
PUT needs a Content-Length, at most 5 GiB).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import escape

import boto3
import requests
from a2wsgi import WSGIMiddleware
from botocore.credentials import ReadOnlyCredentials

from local.front import ThreadedAsgiServer, front_config
from local.s3_presigned import Presigned, S3Refusal, verify

#: S3's largest single PUT (an object, or one part of a multipart upload).
MAX_PUT_BYTES = 5 * 1024**3
#: Not passed on either way: they describe one connection, not the request.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "expect",
        "server",
        "date",
    }
)
_CHUNK = 1024 * 1024

StartResponse = Callable[..., Any]


def request_headers(environ: dict[str, Any]) -> dict[str, str]:
    """The request's headers from a WSGI environ: lower-case names, repeated ones joined with
    commas (a2wsgi and WSGI servers join them so)."""
    headers = {
        key[5:].lower().replace("_", "-"): value
        for key, value in environ.items()
        if key.startswith("HTTP_")
    }
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers[key.lower().replace("_", "-")] = environ[key]
    return headers


def _body_length(method: str, headers: dict[str, str]) -> int:
    """The body's length, refused as S3 refuses it: a PUT without Content-Length, or one
    over S3's largest."""
    given = headers.get("content-length")
    if given is None:
        if method == "PUT" or "transfer-encoding" in headers:
            raise S3Refusal(
                411, "MissingContentLength", "You must provide the Content-Length HTTP header."
            )
        return 0
    length = int(given)  # the HTTP server accepted it: digits
    if length > MAX_PUT_BYTES:
        raise S3Refusal(
            400,
            "EntityTooLarge",
            "Your proposed upload exceeds the maximum allowed size",
            (("ProposedSize", str(length)), ("MaxSizeAllowed", str(MAX_PUT_BYTES))),
        )
    return length


def error_body(refusal: S3Refusal, request_id: str) -> bytes:
    """S3's XML error document."""
    elements = [("Code", refusal.code), ("Message", refusal.message), *refusal.details]
    elements += [("RequestId", request_id), ("HostId", "local-s3-gate")]
    inner = "".join(f"<{name}>{escape(value)}</{name}>" for name, value in elements)
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<Error>{inner}</Error>'.encode()


class IncompleteBody(OSError):
    """The client sent fewer bytes than its Content-Length said."""


class _Body:
    """The first ``length`` bytes of a WSGI input, read as the upstream connection asks:
    requests sends Content-Length from ``len()`` and streams ``read()``."""

    def __init__(self, stream: Any, length: int) -> None:
        self._stream = stream
        self._length = length
        self._left = length

    def __len__(self) -> int:
        return self._length

    def read(self, size: int | None = -1) -> bytes:
        """Up to ``size`` bytes (all the rest when negative, as a file's ``read()``)."""
        if size is None or size < 0:
            return b"".join(iter(lambda: self.read(_CHUNK), b""))
        if self._left <= 0:
            return b""
        chunk: bytes = self._stream.read(min(size, self._left))
        if not chunk:  # the client went away: moto must not wait for, or keep, a part
            raise IncompleteBody(f"{self._left} of {self._length} bytes never came")
        self._left -= len(chunk)
        return chunk


class S3Gate:
    """WSGI: presigned requests checked with ``credentials`` in ``region``, then forwarded to
    ``upstream`` (moto's URL, or S3's own under ``mock_aws``, which intercepts requests)."""

    def __init__(
        self,
        upstream: str,
        credentials: ReadOnlyCredentials,
        region: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._upstream = upstream.rstrip("/")
        self._credentials = credentials
        self._region = region
        self._clock = clock
        self._http = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_maxsize=32)
        self._http.mount("http://", adapter)
        self._http.mount("https://", adapter)

    def __call__(self, environ: dict[str, Any], start: StartResponse) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"]
        # PATH_INFO is the decoded path as latin-1 code points (WSGI): encoded once again
        path = quote(environ.get("PATH_INFO", "/").encode("latin-1"), safe="/~")
        query = environ.get("QUERY_STRING", "")
        headers = request_headers(environ)
        length = 0
        if method != "OPTIONS":
            try:
                verify(
                    Presigned(method, path, query, headers),
                    self._credentials,
                    self._region,
                    self._clock(),
                )
                length = _body_length(method, headers)
            except S3Refusal as refusal:
                return self._refuse(start, refusal, method)
        return self._forward(start, method, path, query, headers, environ["wsgi.input"], length)

    def _refuse(self, start: StartResponse, refusal: S3Refusal, method: str) -> Iterable[bytes]:
        request_id = secrets.token_hex(8).upper()
        body = b"" if method == "HEAD" else error_body(refusal, request_id)
        reason = {
            400: "Bad Request",
            403: "Forbidden",
            411: "Length Required",
            503: "Service Unavailable",
        }
        start(
            f"{refusal.status} {reason.get(refusal.status, 'Error')}",
            [
                ("Content-Type", "application/xml"),
                ("Content-Length", str(len(body))),
                ("x-amz-request-id", request_id),
            ],
        )
        return [body]

    def _forward(
        self,
        start: StartResponse,
        method: str,
        path: str,
        query: str,
        headers: dict[str, str],
        stream: Any,
        length: int,
    ) -> Iterable[bytes]:
        url = self._upstream + path + (f"?{query}" if query else "")
        # requests sets Host and Content-Length itself
        sent = {k: v for k, v in headers.items() if k not in _HOP_BY_HOP | {"content-length"}}
        try:
            got = self._http.request(
                method,
                url,
                headers=sent,
                data=_Body(stream, length) if length else None,
                stream=True,
                allow_redirects=False,
                timeout=(5, 300),
            )
        except (requests.RequestException, OSError) as exc:
            refusal = S3Refusal(503, "ServiceUnavailable", "the local S3 (moto) did not answer")
            if _caused_by(exc, IncompleteBody):
                refusal = S3Refusal(
                    400,
                    "IncompleteBody",
                    "You did not provide the number of bytes specified by the Content-Length "
                    "HTTP header",
                )
            return self._refuse(start, refusal, method)
        answer = [(k, v) for k, v in got.raw.headers.items() if k.lower() not in _HOP_BY_HOP]
        start(f"{got.status_code} {got.reason}", answer)
        return _relay(got)


def _caused_by(exc: BaseException | None, kind: type[BaseException]) -> bool:
    """Whether ``kind`` is ``exc`` or in its chain (urllib3 and requests wrap what a body's
    read raised)."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, kind) or any(isinstance(a, kind) for a in exc.args):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def _relay(got: requests.Response) -> Iterator[bytes]:
    try:
        yield from got.raw.stream(_CHUNK, decode_content=False)
    finally:
        got.close()


def local_credentials() -> ReadOnlyCredentials:
    """The credentials the local stack's clients sign with (boto3's own lookup)."""
    found = boto3.session.Session().get_credentials()
    if found is None:
        raise RuntimeError("no AWS credentials: the local stack sets AWS_ACCESS_KEY_ID")
    frozen: ReadOnlyCredentials = found.get_frozen_credentials()
    return frozen


def serve_gate(upstream: str, region: str, port: int = 0) -> ThreadedAsgiServer:
    """The gate on a loopback port (0: any free one), in a daemon thread."""
    app = WSGIMiddleware(S3Gate(upstream, local_credentials(), region), workers=16)  # type: ignore[arg-type]
    return ThreadedAsgiServer(app, port, front_config)  # type: ignore[arg-type]
