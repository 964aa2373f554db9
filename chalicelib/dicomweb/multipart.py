"""multipart/related reader and writer (RFC 2046 / RFC 2387), keeping each part's headers.

The reader takes the whole body (a Lambda event is buffered: at most 6 MB) and slices parts out
of it with ``bytes.find``; it never decodes part content.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field

from chalicelib.dicomweb.errors import BadRequest

CRLF = b"\r\n"


@dataclass(frozen=True)
class Part:
    content: bytes
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def content_type(self) -> str | None:
        return self.headers.get("content-type")


def parse_headers(block: bytes) -> dict[str, str]:
    """A part's header lines: lower-cased names, stripped values (400 when malformed)."""
    headers: dict[str, str] = {}
    for line in block.split(CRLF):
        if not line.strip():
            continue
        name, sep, value = line.partition(b":")
        if not sep:
            raise BadRequest("malformed multipart part header", code="InvalidMultipart")
        headers[name.decode("latin-1").strip().lower()] = value.decode("latin-1").strip()
    return headers


def read_multipart(body: bytes, boundary: str) -> list[Part]:
    """Split a multipart body into parts. 400 when the boundary is never found or no part is."""
    if not boundary or len(boundary) > 200:
        raise BadRequest("multipart body without a valid boundary", code="InvalidMultipart")
    delim = b"--" + boundary.encode("latin-1")
    pos = body.find(delim)
    if pos < 0:
        raise BadRequest("multipart boundary not found in body", code="InvalidMultipart")
    parts: list[Part] = []
    while True:
        pos += len(delim)
        if body[pos : pos + 2] == b"--":
            break  # close delimiter
        eol = body.find(CRLF, pos)
        if eol < 0 or body[pos:eol].strip(b" \t"):
            raise BadRequest("malformed multipart delimiter line", code="InvalidMultipart")
        start = eol + 2
        nxt = body.find(CRLF + delim, start)
        if nxt < 0:
            raise BadRequest("multipart body ends inside a part", code="InvalidMultipart")
        chunk = body[start:nxt]
        headers: dict[str, str]
        if not chunk:  # an entirely empty body part (RFC 2046 allows it)
            headers, content = {}, b""
        elif chunk.startswith(CRLF):
            headers, content = {}, chunk[2:]
        else:
            head_end = chunk.find(CRLF + CRLF)
            if head_end < 0:
                raise BadRequest("multipart part without header end", code="InvalidMultipart")
            headers, content = parse_headers(chunk[:head_end]), chunk[head_end + 4 :]
        parts.append(Part(content=content, headers=headers))
        pos = nxt + 2
    if not parts:
        raise BadRequest("multipart body has no parts", code="InvalidMultipart")
    return parts


def new_boundary() -> str:
    return "dicomweb-" + secrets.token_hex(16)


def write_multipart(parts: Iterable[Part], boundary: str) -> bytes:
    """Encode parts as a multipart/related body."""
    delim = b"--" + boundary.encode("latin-1")
    out: list[bytes] = []
    for part in parts:
        out.append(delim + CRLF)
        for name, value in part.headers.items():
            out.append(f"{name}: {value}".encode("latin-1") + CRLF)
        out.append(CRLF)
        out.append(part.content)
        out.append(CRLF)
    out.append(delim + b"--" + CRLF)
    return b"".join(out)
