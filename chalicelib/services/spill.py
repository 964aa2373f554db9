"""Answers over the payload limit, and the unread parts of answers under it.

``Spill.redirect`` stores an oversize answer once in S3 and returns a short-lived signed URL to
it (the edge answers ``303 See Other``). A single stored object asked for as itself is not
copied: the URL names the object. Anything else is composed under the answer's ``spill_to``
prefix (``derived/{tenant}/{study}[/{series}]/bundles/``, deleted with the data), named by a
hash of what it holds, so a repeated request reuses it:

* a multipart body is composed with an S3 multipart upload (``ObjectStore.compose``): stored
  byte ranges are copied server-side (UploadPartCopy), only part headers and small pieces pass
  through the function;
* a zip is written through a spooled temporary file and uploaded;
* bytes (a large metadata document, a converted instance) are put as they are.

The presigned URL sets the response Content-Type, boundary included: curl ``-L``,
dicomweb-client and browsers follow the redirect and get the whole body with no parameter of
ours. Composing runs inside API Gateway's 29 s: bundles of several GB are beyond it.

``Spill.read`` reads the parts an answer under the limit left unread (up to 8 at a time).
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Callable, Iterator
from io import BytesIO

from chalicelib.dicomweb.errors import NotFound, PayloadTooLarge
from chalicelib.dicomweb.media import MULTIPART_RELATED
from chalicelib.pools import ContextPool
from chalicelib.services.answers import Body, BodyPart, Content, ObjectSlice, ZipArchive
from chalicelib.services.ports import ObjectStore, Piece
from chalicelib.services.zipper import write_zip

#: (key, content type) -> a URL the client can download that object from (presigned)
Link = Callable[[str, str], str]

READERS = 8
_SPOOL_IN_MEMORY = 32 * 1024 * 1024


def boundary_of(digest: str) -> str:
    return "dicomweb-" + digest[:32]


def multipart_type(part_type: str, boundary: str) -> str:
    return f'{MULTIPART_RELATED}; type="{part_type}"; boundary={boundary}'


def _identity(content: Content) -> object:
    if isinstance(content, bytes):
        return hashlib.sha256(content).hexdigest()
    if isinstance(content, ObjectSlice):
        return [content.key, content.offset, content.length, content.etag]
    return [[name, _identity(obj)] for name, obj in content.members]


def digest_of(body: Body) -> str:
    """Names a body by what it holds (stored objects by key, range and ETag)."""
    identity = [
        body.media_type,
        body.multipart,
        [[p.content_type, _identity(p.content)] for p in body.parts],
    ]
    return hashlib.sha256(json.dumps(identity).encode()).hexdigest()


class Spill:
    def __init__(self, store: ObjectStore, link: Link) -> None:
        self._store = store
        self._link = link

    # --- under the limit: the parts' bytes ---------------------------------------------------

    def _read(self, content: Content) -> bytes | None:
        if isinstance(content, bytes):
            return content
        if isinstance(content, ZipArchive):
            buf = BytesIO()
            write_zip(self._store, content, buf)
            return buf.getvalue()
        if content.whole:
            return self._store.get(content.key)
        got = self._store.get_range(
            content.key, content.offset, content.offset + content.length - 1
        )
        return got.data if got is not None else None

    def read(self, body: Body) -> list[tuple[BodyPart, bytes]]:
        """Each part with its bytes. A stored object deleted since the answer was made is left
        out of a multipart answer; with nothing left, 404."""
        unread = [p for p in body.parts if not isinstance(p.content, bytes)]
        if len(unread) > 1:
            with ContextPool(max_workers=min(READERS, len(unread))) as pool:
                data = list(pool.map(lambda p: self._read(p.content), body.parts))
        else:
            data = [self._read(p.content) for p in body.parts]
        out = [(p, d) for p, d in zip(body.parts, data, strict=True) if d is not None]
        if not out:
            raise NotFound("the resource was deleted while it was being read")
        return out

    # --- over the limit: stored once, a URL to it --------------------------------------------

    def redirect(self, body: Body) -> str:
        first = body.parts[0].content
        if not body.multipart and isinstance(first, ObjectSlice) and first.whole:
            return self._link(first.key, body.media_type)
        if not body.spill_to:
            raise PayloadTooLarge(
                f"the answer ({body.size} bytes) exceeds the response payload limit"
            )
        digest = digest_of(body)
        key = f"{body.spill_to}{digest[:40]}"
        if body.multipart:
            boundary = boundary_of(digest)
            if not self._store.exists(key):
                self._store.compose(key, self._pieces(body, boundary), "application/octet-stream")
            return self._link(key, multipart_type(body.media_type, boundary))
        if not self._store.exists(key):
            if isinstance(first, ZipArchive):
                with tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY) as spool:
                    write_zip(self._store, first, spool)
                    spool.seek(0)
                    self._store.put_file(key, spool, body.media_type)
            else:
                data = first if isinstance(first, bytes) else self._read(first)
                if data is None:
                    raise NotFound("the resource was deleted while it was being read")
                self._store.put(key, data, body.media_type)
        return self._link(key, body.media_type)

    @staticmethod
    def _pieces(body: Body, boundary: str) -> Iterator[Piece]:
        for part in body.parts:
            yield f"--{boundary}\r\nContent-Type: {part.content_type}\r\n\r\n".encode()
            content = part.content
            if isinstance(content, ObjectSlice):
                yield (content.key, content.offset, content.length)
            elif isinstance(content, bytes):
                yield content
            else:
                raise ValueError("a zip is not a part of a multipart answer")
            yield b"\r\n"
        yield f"--{boundary}--\r\n".encode()
