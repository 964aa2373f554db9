"""Streaming multipart/related reader (RFC 2046 / RFC 2387): parts one at a time, as bytes arrive.

The streaming STOW receiver (issue 22) reads a request of any size with it: it checks each
part's headers before its content, streams the content to S3 and refuses a part (aborting its
upload) when the reader raises inside it. It accepts and refuses exactly what the whole-body
``read_multipart`` of ``multipart.py`` does, with the same ``BadRequest(code="InvalidMultipart")``,
and adds bounds: header block size, part count, part size.

Memory bound: while it streams a part's content the reader holds at most ``len(boundary) + 3``
bytes plus one chunk (a chunk is what the iterable yields, or what ``read(chunk_size)`` returns);
while it reads a header block, at most ``max_header_bytes + len(boundary) + 6`` plus one chunk.
The content chunks it yields are the caller's to keep or drop. Nothing past the close
delimiter (the epilogue) is read: the caller drains or drops the rest of the request.

An error raised from a part's content iterator means that part is not whole (truncated, too
large); one raised from the parts iterator comes after the previous part ended with its
``CRLF--boundary`` (that part's content is whole, the request is still refused).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol

from chalicelib.dicomweb.errors import BadRequest
from chalicelib.dicomweb.multipart import CRLF, parse_headers

MAX_HEADER_BYTES = 8192
CHUNK_SIZE = 64 * 1024


class Readable(Protocol):
    def read(self, n: int, /) -> bytes: ...


def _bad(message: str) -> BadRequest:
    return BadRequest(message, code="InvalidMultipart")


class StreamPart:
    """One part: its headers (lower-cased names) and, iterated once, its content chunks.

    ``size`` counts the content bytes read so far; it is the part's length once the content
    iterator is exhausted. Leaving the iterator midway is allowed: the next part is still found.
    """

    def __init__(self, headers: dict[str, str], index: int, reader: _Reader) -> None:
        self.headers = headers
        self.index = index
        self.size = 0
        self.complete = False  # True once the content ended with CRLF--boundary
        self._content = reader.content(self)

    @property
    def content_type(self) -> str | None:
        return self.headers.get("content-type")

    def __iter__(self) -> Iterator[bytes]:
        return self._content

    def read_all(self) -> bytes:
        """The whole content (tests, small parts): holds the part in memory."""
        return b"".join(self._content)


class _Reader:
    def __init__(
        self,
        body: Iterable[bytes] | Readable,
        boundary: str,
        max_parts: int,
        max_part_bytes: int,
        max_header_bytes: int,
        chunk_size: int,
    ) -> None:
        if not boundary or len(boundary) > 200:
            raise _bad("multipart body without a valid boundary")
        self.delim = b"--" + boundary.encode("latin-1")
        self.crlf_delim = CRLF + self.delim
        self.max_parts, self.max_part_bytes = max_parts, max_part_bytes
        self.max_header_bytes = max_header_bytes
        self.buf = bytearray()
        self.eof = False
        self.error: Exception | None = None  # once raised, raised again: the reader is done
        if isinstance(body, (bytes, bytearray, memoryview)):
            self.chunks: Iterator[bytes] = iter([bytes(body)])
        elif hasattr(body, "read"):
            reader = body
            self.chunks = iter(lambda: reader.read(chunk_size), b"")
        else:
            self.chunks = iter(body)

    def fail(self, message: str) -> BadRequest:
        self.error = error = _bad(message)
        return error

    def more(self) -> bool:
        """Append the next non-empty chunk to the buffer; False at the end of the body."""
        if self.eof:
            return False
        try:
            for chunk in self.chunks:
                if chunk:
                    self.buf += chunk
                    return True
        except Exception as exc:  # the source failed (a client gone): so does every later read
            self.error = exc
            raise
        self.eof = True
        return False

    def fill(self, n: int) -> None:
        while len(self.buf) < n and self.more():
            pass

    def parts(self) -> Iterator[StreamPart]:
        self.skip_preamble()
        index = 0
        current: StreamPart | None = None
        while True:
            if current is not None:
                for _ in current:  # the consumer left the part midway: skip the rest
                    pass
            if self.error:
                raise self.error
            if self.delimiter_line_closes():
                if index == 0:
                    raise self.fail("multipart body has no parts")
                return
            if index >= self.max_parts:
                raise self.fail(f"multipart body has more than {self.max_parts} parts")
            headers = self.read_headers()
            current = StreamPart(headers, index, self)
            index += 1
            yield current

    def skip_preamble(self) -> None:
        keep = len(self.delim) - 1
        while (pos := self.buf.find(self.delim)) < 0:
            del self.buf[: max(0, len(self.buf) - keep)]
            if not self.more():
                raise self.fail("multipart boundary not found in body")
        del self.buf[:pos]

    def delimiter_line_closes(self) -> bool:
        """Consume a delimiter at the buffer's start and its line; True for the close delimiter."""
        del self.buf[: len(self.delim)]
        self.fill(2)
        if self.buf[:2] == b"--":
            return True
        while (eol := self.buf.find(CRLF)) < 0:
            if len(self.buf) > self.max_header_bytes or not self.more():
                raise self.fail("malformed multipart delimiter line")
        if eol > self.max_header_bytes or self.buf[:eol].strip(b" \t"):
            raise self.fail("malformed multipart delimiter line")
        del self.buf[: eol + 2]
        return False

    def read_headers(self) -> dict[str, str]:
        self.fill(len(self.crlf_delim))
        if self.buf.startswith(self.crlf_delim):
            return {}  # an entirely empty body part
        if self.buf.startswith(CRLF):
            del self.buf[:2]
            return {}
        while (end := self.buf.find(CRLF + CRLF)) < 0:
            if self.buf.find(self.crlf_delim) >= 0:
                raise self.fail("multipart part without header end")
            if len(self.buf) >= self.max_header_bytes + 4:
                raise self.fail(f"multipart part headers over {self.max_header_bytes} bytes")
            if not self.more():
                raise self.fail("multipart body ends inside a part")
        if end > self.max_header_bytes:
            raise self.fail(f"multipart part headers over {self.max_header_bytes} bytes")
        self.fill(end + 2 + len(self.crlf_delim))  # a delimiter may follow the header block's CRLF
        nxt = self.buf.find(self.crlf_delim)
        if 0 <= nxt < end + 4:
            raise self.fail("multipart part without header end")
        try:
            headers = parse_headers(bytes(self.buf[:end]))
        except BadRequest as exc:
            self.error = exc
            raise
        del self.buf[: end + 4]
        return headers

    def content(self, part: StreamPart) -> Iterator[bytes]:
        """The part's content up to ``CRLF--boundary``; leaves the delimiter in the buffer."""
        keep = len(self.crlf_delim) - 1  # a delimiter may begin in the last ``keep`` bytes
        while True:
            nxt = self.buf.find(self.crlf_delim)
            cut = nxt if nxt >= 0 else max(0, len(self.buf) - keep)
            if cut:
                if part.size + cut > self.max_part_bytes:
                    raise self.fail(f"multipart part over {self.max_part_bytes} bytes")
                piece = bytes(self.buf[:cut])
                del self.buf[:cut]
                part.size += cut
                yield piece
            if nxt >= 0:
                del self.buf[:2]
                part.complete = True
                return
            if not self.more():
                raise self.fail("multipart body ends inside a part")


def iter_parts(
    body: Iterable[bytes] | Readable,
    boundary: str,
    *,
    max_parts: int,
    max_part_bytes: int,
    max_header_bytes: int = MAX_HEADER_BYTES,
    chunk_size: int = CHUNK_SIZE,
) -> Iterator[StreamPart]:
    """The parts of a multipart body read from ``body`` (byte chunks of any size, or a file-like
    ``read(n)``), one at a time; reading the next part skips what is left of the current one.

    Raises ``BadRequest(code="InvalidMultipart")`` where ``read_multipart`` does (no boundary,
    malformed delimiter line or headers, a body ending before the close delimiter, no parts),
    and for a header block over ``max_header_bytes``, more than ``max_parts`` parts, or a part
    whose content is over ``max_part_bytes``. An invalid boundary is refused at once.
    """
    return _Reader(body, boundary, max_parts, max_part_bytes, max_header_bytes, chunk_size).parts()
