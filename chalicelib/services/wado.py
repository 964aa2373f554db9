"""WADO-RS (PS3.18 10.4): retrieve study, series and instance from S3.

Instances are found by their canonical keys (a study or series by listing its S3 prefix), so
they are retrievable as soon as STOW answers, before indexing; S3 is the one truth. The stored
bytes are returned unchanged for ``transfer-syntax=*`` or when they already have the syntax
asked for; otherwise they are converted (``transcode.py``) or the answer is 406. A study or
series is also a zip of its Part 10 files when the client prefers ``application/zip``.

Near the limits: the service answers a ``Body`` whatever its size and ``routes/respond.py``
decides how it travels (in the response, or spilled to S3 once and a 303). ``max_inline`` only
chooses how to read: under it the objects are read here (a listing and their GETs in parallel;
an instance in one GET) and the syntax negotiated from their headers; over it, nothing stored as
asked for is read here: the stored syntaxes come from the catalog (or a ranged header read of
an object not indexed yet) and those objects become ``ObjectSlice`` parts, copied server-side
when spilled. Only the instances to convert are read whole.
"""

from __future__ import annotations

from collections.abc import Sequence

from chalicelib.dicomweb.errors import NotAcceptable, NotFound
from chalicelib.dicomweb.file_meta import transfer_syntax
from chalicelib.dicomweb.media import (
    ANY_TRANSFER_SYNTAX,
    APPLICATION_DICOM,
    ZIP,
    DicomChoice,
    MediaType,
    negotiate_dicom,
    prefers_zip,
)
from chalicelib.dicomweb.resources import InstanceRef, SeriesRef, StudyRef
from chalicelib.pools import ContextPool
from chalicelib.services.answers import Body, BodyPart, Content, ObjectSlice
from chalicelib.services.ports import CatalogReader, ListedObject, ObjectStore
from chalicelib.services.transcode import can_write, transcode
from chalicelib.services.zipper import archive_of
from chalicelib.storage import keys

#: GETs in flight while the instances of an answer under ``max_inline`` are read
READERS = 8
#: The first bytes of an object not indexed yet, read for its transfer syntax
HEADER_READ = 1 << 20


def part_type(transfer_syntax: str) -> str:
    return f"{APPLICATION_DICOM}; transfer-syntax={transfer_syntax}"


def _negotiate(
    accept: list[MediaType], syntaxes: Sequence[str], single_part_allowed: bool
) -> DicomChoice:
    choice = negotiate_dicom(accept, set(syntaxes), single_part_allowed, can_write)
    if choice is None:
        raise NotAcceptable(
            f"stored as {', '.join(sorted(set(syntaxes)))}; ask for one of these, "
            "transfer-syntax=*, or a syntax the service converts to"
        )
    return choice


def _keeps(choice: DicomChoice, stored: str) -> bool:
    return choice.transfer_syntax in (ANY_TRANSFER_SYNTAX, stored)


def _answer(parts: list[BodyPart], choice: DicomChoice, spill_to: str) -> Body:
    if choice.multipart:
        return Body.of_parts(parts, APPLICATION_DICOM, spill_to=spill_to)
    (part,) = parts
    return Body.single(part.content, part.content_type, spill_to=spill_to)


class Wado:
    def __init__(self, store: ObjectStore, catalog: CatalogReader, max_inline: int) -> None:
        self._store = store
        self._catalog = catalog
        self._max_inline = max_inline

    # --- transactions -----------------------------------------------------------------------

    def retrieve_study(self, ref: StudyRef, accept: list[MediaType]) -> Body:
        """The study's instances as multipart/related, or one zip (``application/zip``)."""
        return self._retrieve(ref, keys.study_prefix(ref), accept, "study")

    def retrieve_series(self, ref: SeriesRef, accept: list[MediaType]) -> Body:
        """The series' instances as multipart/related, or one zip (``application/zip``)."""
        return self._retrieve(ref, keys.series_prefix(ref), accept, "series")

    def retrieve_instance(self, ref: InstanceRef, accept: list[MediaType]) -> Body:
        """The instance as ``application/dicom`` (its stored object itself when kept as
        stored) or as one part of multipart/related; one GET, its body left unread when the
        object is over ``max_inline``."""
        key = keys.instance_key(ref)
        spill_to = keys.bundles_scope(ref.tenant, [key])
        data, size = self._store.get_bounded(key, self._max_inline)
        if size < 0:
            raise NotFound("instance not found")
        if data is not None:
            stored = _stored_syntax(data)
            choice = _negotiate(accept, [stored], True)
            content = data if _keeps(choice, stored) else transcode(data, choice.transfer_syntax)
            ts = stored if _keeps(choice, stored) else choice.transfer_syntax
            return _answer([BodyPart(content, part_type(ts))], choice, spill_to)
        entry = self._catalog.get_instance(ref)
        header = (entry.transfer_syntax, entry.etag) if entry else self._header_syntax(key, size)
        if header is None:
            raise NotFound("instance not found")
        stored, etag = header
        choice = _negotiate(accept, [stored], True)
        parts = self._unread_parts([(ListedObject(key, size, "", etag), stored)], choice)
        if not parts:
            raise NotFound("instance not found")
        return _answer(parts, choice, spill_to)

    # --- study and series -------------------------------------------------------------------

    def _retrieve(
        self, ref: StudyRef | SeriesRef, prefix: str, accept: list[MediaType], what: str
    ) -> Body:
        listed = [o for o in self._store.list_all(prefix) if o.key.endswith(".dcm")]
        if not listed:
            raise NotFound(f"{what} not found")
        spill_to = keys.bundles_scope(ref.tenant, (o.key for o in listed))
        if prefers_zip(accept):
            members = [ObjectSlice.of_object(o.key, o.size, o.etag) for o in listed]
            return Body.single(archive_of(members), ZIP, spill_to=spill_to)
        if sum(o.size for o in listed) <= self._max_inline:
            return self._read_and_encode(listed, accept, spill_to, what)
        found = self._stored_syntaxes(ref, listed)
        choice = _negotiate(accept, [ts for _, ts in found], False)
        parts = self._unread_parts(found, choice)
        if not parts:
            raise NotFound(f"{what} not found")
        return Body.of_parts(parts, APPLICATION_DICOM, spill_to=spill_to)

    def _read_and_encode(
        self, listed: list[ListedObject], accept: list[MediaType], spill_to: str, what: str
    ) -> Body:
        """Under ``max_inline``: every object read (in parallel), negotiated from its header.
        An object deleted since the listing is left out."""
        with ContextPool(max_workers=min(READERS, len(listed))) as pool:
            blobs = list(pool.map(self._store.get, (o.key for o in listed)))
        present = [b for b in blobs if b is not None]
        if not present:
            raise NotFound(f"{what} not found")
        syntaxes = [_stored_syntax(b) for b in present]
        choice = _negotiate(accept, syntaxes, False)
        parts = []
        for data, stored in zip(present, syntaxes, strict=True):
            if _keeps(choice, stored):
                parts.append(BodyPart(data, part_type(stored)))
            else:
                target = choice.transfer_syntax
                parts.append(BodyPart(transcode(data, target), part_type(target)))
        return Body.of_parts(parts, APPLICATION_DICOM, spill_to=spill_to)

    # --- over max_inline: stored objects left unread ----------------------------------------

    def _unread_parts(
        self, found: list[tuple[ListedObject, str]], choice: DicomChoice
    ) -> list[BodyPart]:
        """An ``ObjectSlice`` of each object kept as stored; the others read and converted
        (one deleted since it was listed is left out)."""
        parts = []
        for obj, stored in found:
            content: Content
            if _keeps(choice, stored):
                content, ts = ObjectSlice.of_object(obj.key, obj.size, obj.etag), stored
            else:
                data = self._store.get(obj.key)
                if data is None:
                    continue
                ts = choice.transfer_syntax
                content = transcode(data, ts)
            parts.append(BodyPart(content, part_type(ts)))
        return parts

    def _stored_syntaxes(
        self, ref: StudyRef | SeriesRef, listed: list[ListedObject]
    ) -> list[tuple[ListedObject, str]]:
        """Each object with its transfer syntax: from the catalog (one paged Query of the
        study or series), else from a ranged read of its header (not indexed yet; one deleted
        since it was listed is left out)."""
        known = {
            keys.instance_key(e.ref): e.transfer_syntax for e in self._catalog.iter_instances(ref)
        }
        out = []
        for obj in listed:
            stored = known.get(obj.key)
            if stored is None:
                header = self._header_syntax(obj.key, obj.size)
                if header is None:
                    continue
                stored = header[0]
            out.append((obj, stored))
        return out

    def _header_syntax(self, key: str, size: int) -> tuple[str, str] | None:
        """(transfer syntax, ETag) from the first bytes of an object; None if it is gone."""
        got = self._store.get_range(key, 0, min(size, HEADER_READ) - 1)
        if got is None:
            return None
        return _stored_syntax(got.data), got.etag


def _stored_syntax(data: bytes) -> str:
    """A stored object's transfer syntax from its first bytes: read from the File Meta
    Information without pydicom, or by pydicom's header reader where that is not plainly well
    formed (imported then: a retrieve of what the service stored never needs it)."""
    found = transfer_syntax(data)
    if found is not None:
        return found
    from chalicelib.dicomweb.instance import read_header

    return read_header(data, len(data)).transfer_syntax
