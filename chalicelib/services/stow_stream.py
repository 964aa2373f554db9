"""STOW-RS of any size, read as the bytes arrive (the streaming receiver, ``receiver/``).

The same rules and answer as ``stow.Stow``, one part at a time, never holding more than a
bounded window of the request:

* The Content-Type is checked before any body byte is read (``stow_boundary``: 415 or 400).
* A part up to ``WHOLE_PART`` bytes is held whole and goes through ``InstanceWriter``
  (``check`` then ``write``), exactly as a STOW through the API does.
* A larger part: its header is read from its first bytes (up to ``HEADER_WINDOW``); then its
  bytes stream into an S3 multipart upload at its canonical key, ``S3_PART`` bytes a part,
  ``UPLOADS_IN_FLIGHT`` at a time, while ``PixelDataCheck`` applies read_instance's length
  rules. The upload is completed (the object appears at its key, and only then) when the part
  ended whole and passed; otherwise it is aborted and leaves nothing.
* Every stored instance is indexed as soon as it is stored, ``INDEX_BATCH`` at a time
  (``Searchable.index_keys``, ``INDEXERS`` batches at once, while later parts are still
  arriving), and each batch is confirmed searchable (or withdrawn, 0xA700) as soon as it is
  indexed (``Searchable.confirm``); after the last part the request answers 200, 202 or 409
  with the Store Instances Response Module once every batch is confirmed.

Throughput: whole parts are written ``WRITES_IN_FLIGHT`` at a time while the next parts are
read, and indexing runs beside both; the request thread only parses.

Memory per request: the multipart reader's window (one chunk and a boundary); at most
``WRITES_IN_FLIGHT`` whole parts (each up to ``WHOLE_PART``) being written; a streamed part's
``HEADER_WINDOW`` while its header is read, then ``S3_PART`` being filled plus
``UPLOADS_IN_FLIGHT`` parts being sent: about 100 MiB at worst (parts of 8 MiB), a few MiB for
CT slices, whatever the request's size.

A request cut off midway (the client gone, a read timeout, a malformed multipart) leaves the
whole parts before it stored and indexed, and the part it was in aborted. A malformed body
after at least one part is answered with the parts so far and a failure for the rest (202 or
409), not 400: what was stored stays, and the answer says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass

from chalicelib.dicomweb.errors import BadRequest, FailureReason, InstanceRejected
from chalicelib.dicomweb.instance import NeedMoreBytes, read_header
from chalicelib.dicomweb.media import APPLICATION_DICOM
from chalicelib.dicomweb.multipart_stream import iter_parts
from chalicelib.dicomweb.pixel_stream import PixelDataCheck
from chalicelib.dicomweb.resources import InstanceRef
from chalicelib.observability import logger
from chalicelib.pools import ContextPool
from chalicelib.services.answers import Body
from chalicelib.services.ports import (
    MultipartStore,
    StorageError,
)
from chalicelib.services.searchable import INDEX_BATCH, INDEXERS, Searchable
from chalicelib.services.stow import (
    EMPTY_BODY,
    InstanceWriter,
    best_effort_uids,
    check_part_type,
    storage_failure,
    stow_answer,
    stow_boundary,
)
from chalicelib.services.stow_outcomes import (
    FailedInstance,
    InstancePart,
    StoredInstance,
    StowResult,
    ValidInstance,
)
from chalicelib.storage.keys import instance_key

MIB = 1024 * 1024
#: Parts up to this size are held whole and stored with one PUT, as the API's STOW does.
WHOLE_PART = 8 * MIB
#: The most of a part held while its header (everything before Pixel Data) is read.
HEADER_WINDOW = 16 * MIB
#: S3 multipart part size (S3: at least 5 MiB but the last, at most 10,000 parts: 80 GB).
S3_PART = 8 * MIB
UPLOADS_IN_FLIGHT = 2
#: Whole parts being written to S3 while the next ones are read.
WRITES_IN_FLIGHT = 8


@dataclass(frozen=True)
class StreamLimits:
    """One request's bounds: its bytes (counted by the front), parts and one part's bytes."""

    max_parts: int
    max_part_bytes: int


class _Part:
    """A part as this module reads it: its Content-Type and its content, chunk by chunk."""

    def __init__(self, content_type: str, chunks: Iterable[bytes]) -> None:
        self.content_type = content_type
        self.chunks = chunks


class _Indexing:
    """Stored instances indexed in the background as they come, ``INDEX_BATCH`` at a time
    (one catalog write per series a batch), each batch confirmed searchable (or withdrawn) as
    soon as it is indexed: what a request holds is its outcomes, not every instance's record,
    and the visibility waits overlap the parts still arriving. ``finish`` does the rest."""

    def __init__(self, searchable: Searchable) -> None:
        self._searchable = searchable
        self._pool = ContextPool(max_workers=INDEXERS, thread_name_prefix="index")
        self._pending: list[StoredInstance] = []
        self._sent: set[str] = set()
        self._jobs: list[Future[list[StoredInstance | FailedInstance]]] = []

    def submit(self, stored: StoredInstance) -> None:
        key = instance_key(stored.ref)
        if key in self._sent or any(instance_key(p.ref) == key for p in self._pending):
            self._flush()  # the same instance again: after the earlier one, in order
            for job in self._jobs:
                job.exception()
        self._pending.append(stored)
        if len(self._pending) >= INDEX_BATCH:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            self._jobs.append(self._pool.submit(self._index_and_confirm, self._pending))
            self._sent.update(instance_key(p.ref) for p in self._pending)
            self._pending = []

    def _index_and_confirm(
        self, batch: list[StoredInstance]
    ) -> list[StoredInstance | FailedInstance]:
        indexed = self._searchable.index_keys([instance_key(s.ref) for s in batch])
        return self._searchable.confirm(batch, indexed)

    def finish(self) -> list[StoredInstance | FailedInstance]:
        self._flush()
        try:
            return [outcome for job in self._jobs for outcome in job.result()]
        finally:
            self._pool.shutdown(wait=True)


class _Writes:
    """Whole parts written ``WRITES_IN_FLIGHT`` at a time while the next parts are read (a PUT
    is ~30 ms: one at a time would cap a request at ~30 instances/s); a repeated instance
    waits for its earlier write, so the last part sent is the one stored."""

    def __init__(self, writer: InstanceWriter, pool: ContextPool) -> None:
        self._writer, self._pool = writer, pool
        self._latest: dict[str, Future[StoredInstance | FailedInstance]] = {}
        self._flying: list[Future[StoredInstance | FailedInstance]] = []

    def submit(self, valid: ValidInstance) -> None:
        key = instance_key(valid.ref)
        earlier = self._latest.get(key)
        if earlier is not None:
            earlier.exception()
        while sum(not f.done() for f in self._flying) >= WRITES_IN_FLIGHT:
            next(f for f in self._flying if not f.done()).exception()
        self._latest[key] = written = self._pool.submit(self._writer.write, valid)
        self._flying.append(written)

    def done(self) -> list[StoredInstance | FailedInstance]:
        """The writes finished so far (each once), in the order they were sent."""
        finished = []
        while self._flying and self._flying[0].done():
            finished.append(self._flying.pop(0).result())
        return finished

    def drain(self) -> list[StoredInstance | FailedInstance]:
        finished = [f.result() for f in self._flying]
        self._flying = []
        return finished


class _PartUpload:
    """One instance's S3 multipart upload, ``UPLOADS_IN_FLIGHT`` parts at a time."""

    def __init__(self, store: MultipartStore, key: str, pool: ContextPool) -> None:
        self._store, self._key, self._pool = store, key, pool
        self._id = store.start_multipart(key, APPLICATION_DICOM)
        self._sent: list[Future[tuple[int, str]]] = []

    def send(self, data: bytes) -> None:
        while sum(not f.done() for f in self._sent) >= UPLOADS_IN_FLIGHT:
            next(f for f in self._sent if not f.done()).result()
        number = len(self._sent) + 1
        self._sent.append(self._pool.submit(self._put, number, data))

    def _put(self, number: int, data: bytes) -> tuple[int, str]:
        return number, self._store.upload_part(self._key, self._id, number, data)

    def complete(self) -> str | None:
        parts = [f.result() for f in self._sent]
        return self._store.complete_multipart(self._key, self._id, parts)

    def abort(self) -> None:
        for f in self._sent:  # no part may land after the abort
            f.exception()
        try:
            self._store.abort_multipart(self._key, self._id)
        except StorageError as exc:  # S3's lifecycle rule removes it after a day
            logger.warning("aborting an upload failed", extra={"aws_error": exc.code})


class StreamingStow:
    def __init__(self, store: MultipartStore, searchable: Searchable, limits: StreamLimits) -> None:
        self._store = store
        self._writer = InstanceWriter(store)
        self._searchable = searchable
        self._limits = limits

    def store_stream(
        self,
        tenant: str,
        content_type: str | None,
        body: Iterable[bytes],
        study_in_url: str | None,
        base_url: str,
    ) -> Body:
        """Store the instances of a request whose body is read from ``body`` as it arrives.
        Raises what the body's source raises (a client gone): what was stored before is
        indexed first."""
        boundary = stow_boundary(content_type)
        outcomes: list[StoredInstance | FailedInstance] = []
        indexing = _Indexing(self._searchable)
        pool = ContextPool(max_workers=WRITES_IN_FLIGHT + UPLOADS_IN_FLIGHT)
        writes = _Writes(self._writer, pool)

        def settle(done: list[StoredInstance | FailedInstance]) -> None:
            for outcome in done:
                if isinstance(outcome, StoredInstance):
                    indexing.submit(outcome)
                else:
                    outcomes.append(outcome)

        at = 1  # the position of the part being read, or of the next one
        try:
            for position, part in enumerate(self._parts(boundary, body), start=1):
                at = position
                settle(self._store_part(part, tenant, study_in_url, position, writes, pool))
                at = position + 1
                settle(writes.done())
        except BadRequest as exc:
            settle(writes.drain())
            outcomes += indexing.finish()
            if not outcomes:
                raise
            reason = FailureReason.CANNOT_UNDERSTAND
            outcomes.append(FailedInstance(at, None, None, reason, exc.message))
        except BaseException:
            settle(writes.drain())
            indexing.finish()  # whole instances stored before the cut stay, indexed
            raise
        else:
            settle(writes.drain())
            outcomes += indexing.finish()
        finally:
            pool.shutdown(wait=True)
        result = StowResult()
        for outcome in sorted(outcomes, key=lambda o: o.position):
            result.add(outcome)
        return stow_answer(result, tenant, base_url, study_in_url, "stow-stream")

    def _parts(self, boundary: str | None, body: Iterable[bytes]) -> Iterator[_Part]:
        if boundary is None:  # one application/dicom instance
            chunks = iter(body)
            first = next((c for c in chunks if c), b"")
            if not first:
                raise EMPTY_BODY
            yield _Part(APPLICATION_DICOM, _chain(first, chunks, self._limits.max_part_bytes))
            return
        for part in iter_parts(
            body,
            boundary,
            max_parts=self._limits.max_parts,
            max_part_bytes=self._limits.max_part_bytes,
        ):
            yield _Part(part.content_type or "", part)

    def _store_part(
        self,
        part: _Part,
        tenant: str,
        study_in_url: str | None,
        position: int,
        writes: _Writes,
        pool: ContextPool,
    ) -> list[StoredInstance | FailedInstance]:
        """The part's outcome, or none yet: a whole part's write goes to ``writes``."""
        chunks = iter(part.chunks)
        head = bytearray()
        try:
            check_part_type(part.content_type)
        except InstanceRejected as exc:
            return [self._refuse(head, chunks, position, exc.message, exc.reason)]
        try_at = WHOLE_PART
        for chunk in chunks:
            head += chunk
            if len(head) <= try_at:
                continue
            try:
                header = read_header(bytes(head), len(head) + 1)  # more follows
            except NeedMoreBytes:
                if len(head) < HEADER_WINDOW:
                    try_at = HEADER_WINDOW
                    continue
                too_long = f"the instance's header is over {HEADER_WINDOW} bytes"
                return [self._refuse(head, chunks, position, too_long)]
            except InstanceRejected as exc:
                return [self._refuse(head, chunks, position, exc.message, exc.reason)]
            if study_in_url and header.study != study_in_url:
                other = (
                    f"StudyInstanceUID {header.study} is not the study in the request URL, "
                    f"{study_in_url}"
                )
                mismatch = FailureReason.STUDY_UID_MISMATCH
                return [self._refuse(head, chunks, position, other, mismatch)]
            ref = InstanceRef(tenant, header.study, header.series, header.sop)
            check = PixelDataCheck(header)
            return [self._stream(ref, header.sop_class, check, head, chunks, position, pool)]
        # the whole part is here: the API's STOW path, byte for byte
        checked = self._writer.check(
            InstancePart(bytes(head), part.content_type), tenant, study_in_url, position=position
        )
        if not isinstance(checked, ValidInstance):
            return [checked]
        writes.submit(checked)  # written while the next parts are read
        return []

    @staticmethod
    def _refuse(
        head: bytearray,
        rest: Iterator[bytes],
        position: int,
        message: str,
        reason: FailureReason = FailureReason.CANNOT_UNDERSTAND,
    ) -> FailedInstance:
        sop_class, sop = best_effort_uids(bytes(head))
        _drain(rest)
        return FailedInstance(position, sop_class, sop, reason, message)

    def _stream(
        self,
        ref: InstanceRef,
        sop_class: str,
        check: PixelDataCheck,
        head: bytearray,
        rest: Iterator[bytes],
        position: int,
        pool: ContextPool,
    ) -> StoredInstance | FailedInstance:
        key = instance_key(ref)
        try:
            upload = _PartUpload(self._store, key, pool)
        except StorageError as exc:
            _drain(rest)
            return storage_failure(position, sop_class, ref.sop, exc)
        size = 0
        buffer = head
        try:
            check.feed(buffer)
            size += len(buffer)
            for chunk in rest:
                check.feed(chunk)
                size += len(chunk)
                buffer += chunk
                if len(buffer) >= S3_PART:
                    upload.send(bytes(buffer))
                    buffer = bytearray()
            check.finish()
            if buffer or not size:
                upload.send(bytes(buffer))
            version = upload.complete()
        except InstanceRejected as exc:
            upload.abort()
            return FailedInstance(position, sop_class, ref.sop, exc.reason, exc.message)
        except StorageError as exc:
            upload.abort()
            _drain(rest)
            return storage_failure(position, sop_class, ref.sop, exc)
        except BaseException:
            upload.abort()
            raise
        return StoredInstance(position, ref, sop_class, size, version)


def _chain(first: bytes, rest: Iterator[bytes], limit: int) -> Iterator[bytes]:
    """A single-part body's chunks, refused past ``limit`` bytes."""
    total = len(first)
    yield first
    for chunk in rest:
        total += len(chunk)
        if total > limit:
            raise BadRequest(f"the instance is over {limit} bytes", code="InvalidRequestBody")
        yield chunk


def _drain(chunks: Iterator[bytes]) -> None:
    """Read past the rest of a part, holding none of it."""
    for _ in chunks:
        pass
