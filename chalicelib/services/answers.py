"""What a service answers: one value, whatever the transaction.

A service never builds HTTP and never decides how an answer travels. It returns

* a ``Body``: one or more parts (bytes, or a byte range of a stored object left unread), a
  media type, a status and the headers of its own (ETag, Warning, Location); or
* a ``Redirect`` to a URL it chose (none does today, the type is the edge's vocabulary); or
* ``Empty``: a status without a body (204 after a DELETE, 304 for a current ETag).

``routes/respond.py`` turns it into HTTP in one place: under the payload limit the body goes in
the response; over it, the body is spilled to S3 once (``services/spill.py``) and the client
gets a 303 to a short-lived signed URL.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from chalicelib.dicomweb.media import DICOM_JSON


@dataclass(frozen=True)
class ObjectSlice:
    """Bytes of a stored object, not read yet: ``length`` bytes from ``offset``. ``whole``
    says the slice is the entire object (a redirect can then name the object itself)."""

    key: str
    offset: int
    length: int
    etag: str = ""
    whole: bool = False

    @classmethod
    def of_object(cls, key: str, size: int, etag: str = "") -> ObjectSlice:
        return cls(key, 0, size, etag, whole=True)


@dataclass(frozen=True)
class ZipArchive:
    """A zip (stored, not deflated) of whole objects, each under its name; written when the
    answer is sent or spilled (``services/zipper.py``)."""

    members: tuple[tuple[str, ObjectSlice], ...]

    #: local header, central directory entry and zip64 extras per member, at most
    OVERHEAD_PER_MEMBER = 200

    @property
    def length(self) -> int:
        return sum(s.length + self.OVERHEAD_PER_MEMBER for _, s in self.members)


Content = bytes | ObjectSlice | ZipArchive


@dataclass(frozen=True)
class BodyPart:
    content: Content
    content_type: str

    @property
    def size(self) -> int:
        content = self.content
        return len(content) if isinstance(content, bytes) else content.length


@dataclass(frozen=True)
class Body:
    """An answer with content.

    ``multipart`` answers are ``multipart/related; type="{media_type}"`` of ``parts``;
    otherwise there is exactly one part and its Content-Type is the response's. ``spill_to``
    is the tenant's derived prefix an oversize body is stored under (deleted with the data it
    was made from); empty means the answer is bounded well under the limit by construction.
    ``compressible`` bodies are gzip-encoded for clients that accept it.
    """

    parts: tuple[BodyPart, ...]
    media_type: str
    multipart: bool = False
    spill_to: str = ""
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    compressible: bool = False

    def __post_init__(self) -> None:
        if not self.multipart and len(self.parts) != 1:
            raise ValueError("a single-part answer has exactly one part")

    @property
    def size(self) -> int:
        return sum(p.size for p in self.parts)

    @classmethod
    def single(
        cls,
        content: Content,
        content_type: str,
        *,
        spill_to: str = "",
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        compressible: bool = False,
    ) -> Body:
        return cls(
            (BodyPart(content, content_type),),
            content_type,
            spill_to=spill_to,
            status=status,
            headers=dict(headers or {}),
            compressible=compressible,
        )

    @classmethod
    def of_parts(
        cls,
        parts: Sequence[BodyPart],
        part_type: str,
        *,
        spill_to: str = "",
        headers: Mapping[str, str] | None = None,
    ) -> Body:
        return cls(
            tuple(parts), part_type, multipart=True, spill_to=spill_to, headers=dict(headers or {})
        )


def json_body(
    value: Any,
    content_type: str = DICOM_JSON,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Body:
    """A JSON answer (compact separators, as every JSON answer of the service)."""
    data = json.dumps(value, separators=(",", ":")).encode()
    return Body.single(data, content_type, status=status, headers=headers)


@dataclass(frozen=True)
class Redirect:
    url: str
    status: int = 303


@dataclass(frozen=True)
class Empty:
    status: int = 204
    headers: Mapping[str, str] = field(default_factory=dict)


Answer = Body | Redirect | Empty
