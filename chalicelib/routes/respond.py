"""The one place an answer becomes HTTP.

Every route's answer passes here (``routes/table.py``): a ``Body`` under the response payload
limit goes in the response (its unread parts read now, a compressible one gzipped for a client
that accepts it); over the limit it is spilled to S3 once and the client gets ``303 See Other``
to a short-lived signed URL (``services/spill.py``). The limit is Lambda's 6 MB payload once
API Gateway base64-encodes the body (``Settings.max_binary_response``, about 4.4 MB). Every
answer carries the CORS headers; the answer's own (ETag, Warning, Location) are added as given.

Every answer carries ``X-Content-Type-Options: nosniff`` and a ``Cache-Control``: answers with
patient data and a 303 (its Location is a signed URL) ``no-store``: no cache keeps them, not
even the browser's own (issue 23); the answers to the public routes
(scope None in the route table: the authentication middleware sets no principal for them, so
the call has none), ``/openapi.json`` and ``/health``, ``public, max-age=300``. Errors are
``no-store`` (``routes/http.py``).
"""

from __future__ import annotations

import gzip
from typing import Any

from chalice.app import Response

from chalicelib.dicomweb.multipart import Part, new_boundary, write_multipart
from chalicelib.routes.http import CORS_HEADERS
from chalicelib.routes.route import Call
from chalicelib.routes.wire import NO_STORE
from chalicelib.services.answers import Answer, Body, Empty, Redirect
from chalicelib.services.spill import Spill, multipart_type

GZIP_LEVEL = 6

#: What the public routes' answers (no patient data, no principal) may be cached for.
PUBLIC_CACHE = {"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"}


def _edge_headers(call: Call) -> dict[str, Any]:
    """The headers every answer to ``call`` carries: CORS, and how it may be cached."""
    return {**CORS_HEADERS, **(PUBLIC_CACHE if call.principal is None else NO_STORE)}


def _framing(body: Body, boundary: str) -> int:
    """The bytes a multipart encoding adds to the parts' content."""
    per_part = len(f"--{boundary}\r\nContent-Type: \r\n\r\n\r\n")
    return sum(per_part + len(p.content_type) for p in body.parts) + len(f"--{boundary}--\r\n")


def see_other(url: str) -> Response:
    """A 303 to ``url``, a signed URL: never stored by a cache (``no-store``)."""
    return Response(
        body=b"", status_code=303, headers={"Location": url, **CORS_HEADERS, **NO_STORE}
    )


def _accepts_gzip(call: Call) -> bool:
    return "gzip" in (call.header("accept-encoding") or "")


def _body(body: Body, call: Call, spill: Spill, limit: int) -> Response:
    headers: dict[str, Any] = {**_edge_headers(call), **body.headers}
    if body.multipart:
        boundary = new_boundary()
        if body.size + _framing(body, boundary) > limit:
            return see_other(spill.redirect(body))
        parts = [Part(data, {"Content-Type": p.content_type}) for p, data in spill.read(body)]
        headers["Content-Type"] = multipart_type(body.media_type, boundary)
        return Response(write_multipart(parts, boundary), headers=headers, status_code=body.status)
    if body.size > limit and not body.compressible:
        return see_other(spill.redirect(body))
    ((_, data),) = spill.read(body)
    headers["Content-Type"] = body.parts[0].content_type
    if body.compressible:
        headers["Vary"] = "Accept-Encoding"
        if _accepts_gzip(call):
            data = gzip.compress(data, GZIP_LEVEL)
            headers["Content-Encoding"] = "gzip"
        if len(data) > limit:  # even compressed: stored once (uncompressed), presigned
            return see_other(spill.redirect(body))
    return Response(data, headers=headers, status_code=body.status)


def respond(answer: Answer, call: Call, spill: Spill, limit: int) -> Response:
    """``answer`` as the HTTP response to ``call``; bodies over ``limit`` bytes go by 303."""
    if isinstance(answer, Redirect):
        return see_other(answer.url)
    if isinstance(answer, Empty):
        headers = {**_edge_headers(call), **answer.headers}
        return Response(b"", headers=headers, status_code=answer.status)
    return _body(answer, call, spill, limit)
