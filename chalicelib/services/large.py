"""Large retrievals: answers over Lambda's payload limit reach the client through a
``303 See Other`` to a presigned S3 URL (expiring within 5 minutes, naming only the caller's
tenant's objects).

A single instance asked for as ``application/dicom`` is its own S3 object. Anything multipart
(a study, a series, an instance as multipart, frames) is first composed in S3 as one
``multipart/related`` body (``ObjectStore.compose``: stored instances are copied server-side
with UploadPartCopy, only part headers and small objects pass through the function) under
``derived/{tenant}/{study}[/{series}]/bundles/`` (deleted with the data), named by a hash
of what it holds, so a repeated request reuses it. The presigned URL sets the response
Content-Type, boundary included: curl ``-L``, dicomweb-client and browsers follow the
redirect and get the whole body with no parameter of ours. Building runs inside API
Gateway's 29 s; bundles of several GB are beyond it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from chalicelib.dicomweb.media import APPLICATION_DICOM, MULTIPART_RELATED
from chalicelib.services.ports import ObjectStore, Piece


@dataclass(frozen=True)
class BundlePart:
    """One part of a composed multipart body: its Content-Type and its content."""

    content_type: str
    content: Piece  # bytes, or (key, offset, length) copied from a stored object


def bundle_key(scope: str, identity: object) -> tuple[str, str]:
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()
    return f"{scope}{digest[:40]}.multipart", "dicomweb-" + digest[:32]


def _pieces(parts: Sequence[BundlePart], boundary: str) -> Iterator[Piece]:
    for part in parts:
        yield f"--{boundary}\r\nContent-Type: {part.content_type}\r\n\r\n".encode()
        yield part.content
        yield b"\r\n"
    yield f"--{boundary}--\r\n".encode()


#: (key, content type) -> a URL the client can download that object from (presigned)
Link = Callable[[str, str], str]


def redirect_to_bundle(
    store: ObjectStore,
    scope: str,
    identity: object,
    parts: Sequence[BundlePart],
    part_type: str,
    link: Link,
) -> str:
    """Compose (once) and presign a multipart/related body; returns the URL to redirect to."""
    key, boundary = bundle_key(scope, identity)
    if not store.exists(key):
        store.compose(key, _pieces(parts, boundary), "application/octet-stream")
    return link(key, f'{MULTIPART_RELATED}; type="{part_type}"; boundary={boundary}')


def redirect_to_object(link: Link, key: str) -> str:
    return link(key, APPLICATION_DICOM)


def redirect_to_document(
    store: ObjectStore, scope: str, body: bytes, content_type: str, link: Link
) -> str:
    """A computed document (metadata) too large to return: stored once, then presigned."""
    digest = hashlib.sha256(body).hexdigest()[:40]
    key = f"{scope}{digest}.json"
    if not store.exists(key):
        store.put(key, body, content_type)
    return link(key, content_type)
