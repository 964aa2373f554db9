"""The metadata-extraction indexer: S3 events in, a catalog that matches S3 out.

An event is only a hint. For every record the indexer re-reads the object's current state
(a ranged GET of its header: pixel data is never downloaded to index) and makes the catalog
match it: present -> indexed, absent -> removed. Duplicates and reordering therefore converge.

Imports (``import/{tenant}/<any name>``) are validated from their header, copied server-side
to their canonical key, indexed there at once (a presigned upload reports a file stored only
once it is searchable; the copy's own event then finds it unchanged) and removed; an object
that is not valid DICOM is moved to ``rejected/{tenant}/{reason}/<name>`` with its reason.

STOW calls the same reconcile inline for what it stored (``handle_key``), then
``wait_searchable``: one code path writes the catalog, whoever calls it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus

from pydicom.uid import UID

from chalicelib.config import Settings
from chalicelib.dicomweb.errors import FailureReason, InstanceRejected
from chalicelib.dicomweb.instance import (
    InstanceHeader,
    NeedMoreBytes,
    expected_native_pixel_bytes,
    read_header,
)
from chalicelib.dicomweb.media import DICOM_JSON
from chalicelib.dicomweb.metadata import dumps, instance_metadata
from chalicelib.dicomweb.pixels import FrameTable, frame_table
from chalicelib.dicomweb.resources import InstanceRef, SeriesRef
from chalicelib.pools import ContextPool
from chalicelib.services.ports import (
    Catalog,
    Feed,
    IndexVisibility,
    InstanceRecord,
    ObjectRange,
    ObjectStore,
    StorageUnavailable,
    StoredObject,
)
from chalicelib.services.records import build_record
from chalicelib.services.uploads import declared_size, result_marker
from chalicelib.storage.keys import (
    ObjectKey,
    instance_key,
    instance_metadata_key,
    parse_object_key,
    parse_upload_name,
    rejected_key,
)
from chalicelib.storage.schema import IMPORT_ROOT

#: Objects of one ``index_batch`` read and described at once (I/O: a ranged GET, a PUT).
PREPARERS = 4


def key_hash(key: str) -> str:
    """Names an object in logs without its key (import keys may hold patient data)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class Outcome:
    action: str  # indexed | replaced | unchanged | removed | absent | imported | rejected | ignored
    key_hash: str
    sop: str | None = None
    #: what the catalog holds for the instance now (indexed, replaced or unchanged)
    record: InstanceRecord | None = field(default=None, repr=False, compare=False)


class Indexer:
    def __init__(
        self,
        store: ObjectStore,
        catalog: Catalog,
        settings: Settings,
        feed: Feed | None = None,
        visibility: IndexVisibility | None = None,
    ) -> None:
        self._store = store
        self._catalog = catalog
        self._settings = settings
        self._feed = feed
        self._visibility = visibility

    def wait_searchable(self, records: Sequence[InstanceRecord]) -> list[InstanceRef]:
        """Wait (``Settings.index_visible_timeout`` in all) until every read finds these
        instances, through the catalog's eventually consistent indexes too; the ones still not
        found by then."""
        if self._visibility is None or not records:
            return []
        return self._visibility.wait_visible(records, self._settings.index_visible_timeout)

    def handle_message(self, body: dict[str, Any]) -> list[Outcome]:
        """One SQS message body: an S3 event notification (or S3's test event)."""
        if body.get("Event") == "s3:TestEvent":
            return []
        return [self.handle_s3_record(r) for r in body.get("Records", [])]

    def handle_s3_record(self, record: dict[str, Any]) -> Outcome:
        removed = str(record.get("eventName", "")).startswith("ObjectRemoved")
        return self.handle_key(unquote_plus(record["s3"]["object"]["key"]), refresh=removed)

    def handle_key(self, key: str, refresh: bool = False) -> Outcome:
        """Make the catalog match the object at ``key`` as S3 holds it now. ``refresh``: even
        when the catalog already holds the object, write its metadata fragment again (after a
        version was removed, the fragment may describe that version: it is written first)."""
        parsed = parse_object_key(key)
        if parsed is None:
            return Outcome("ignored", key_hash(key))
        if parsed.root == IMPORT_ROOT or parsed.instance is None:
            return self._import(key, parsed)
        return self._reconcile(key, parsed.instance, refresh)

    def _read_header(self, key: str) -> tuple[InstanceHeader, ObjectRange] | None:
        """Ranged reads of the header, widened only when the header is longer."""
        size = self._settings.header_read_bytes
        while True:
            got = self._store.get_range(key, 0, size - 1)
            if got is None:
                return None
            try:
                return read_header(got.data, got.total_size), got
            except NeedMoreBytes:
                if size >= got.total_size or size >= self._settings.header_read_max:
                    raise InstanceRejected(
                        FailureReason.CANNOT_UNDERSTAND, "DICOM header could not be read"
                    ) from None
                size = min(size * 4, self._settings.header_read_max, got.total_size)

    def _reconcile(self, key: str, ref: InstanceRef, refresh: bool = False) -> Outcome:
        prepared = self._prepare(key, ref, refresh)
        if isinstance(prepared, Outcome):
            return prepared
        return self._index_one(prepared)

    def index_batch(self, keys: Sequence[str]) -> list[Outcome]:
        """``handle_key(key, refresh=True)`` for objects a STOW has just written, their catalog
        writes grouped: the new instances of one series are created in one transaction that
        moves the series' and study's counters once (``index_new_batch``), not one per
        instance contending for the same two items. Whatever does not fit a batch (a new
        series, a re-store, an import) takes ``handle_key``'s own path."""
        outcomes: dict[str, Outcome] = {}
        ready: dict[SeriesRef, list[InstanceRecord]] = {}
        unique = list(dict.fromkeys(keys))
        with ContextPool(max_workers=min(PREPARERS, len(unique))) as pool:
            # the header reads and fragment writes are I/O: a few at once
            for key, prepared in zip(unique, pool.map(self._prepare_key, unique), strict=True):
                if isinstance(prepared, Outcome):
                    outcomes[key] = prepared
                else:
                    ready.setdefault(prepared.ref.series_ref, []).append(prepared)
        for records in ready.values():
            batched = len(records) > 1 and self._catalog.index_new_batch(records)
            if len(records) > 1 and not batched:
                # most often a new series: its first instance creates it, then the rest
                outcomes[records[0].object.key] = self._index_one(records[0])
                records = records[1:]
                batched = len(records) > 1 and self._catalog.index_new_batch(records)
            for record in records:  # not batched: a re-store, a conflict... one by one
                done = self._commit(record, "created") if batched else self._index_one(record)
                outcomes[record.object.key] = done
        return [outcomes[key] for key in keys]

    def _prepare_key(self, key: str) -> InstanceRecord | Outcome:
        parsed = parse_object_key(key)
        if parsed is None or parsed.root == IMPORT_ROOT or parsed.instance is None:
            return self.handle_key(key, refresh=True)
        return self._prepare(key, parsed.instance, refresh=True)

    def _index_one(self, record: InstanceRecord) -> Outcome:
        return self._commit(record, self._catalog.index_instance(record))

    def _prepare(self, key: str, ref: InstanceRef, refresh: bool) -> InstanceRecord | Outcome:
        """Everything of indexing but the catalog write: the header read, the metadata
        fragment (written first: once the catalog lists an instance, its fragment exists)."""
        try:
            got = self._read_header(key)
        except InstanceRejected as exc:
            return self._reject(key, ref.tenant, key.split("/", 2)[2], exc)
        if got is None:
            # the fragment first: once the catalog's version moves, no document may list it
            self._store.delete(instance_metadata_key(ref))
            removed = self._catalog.remove_instance(ref)
            if removed and self._feed is not None:
                self._feed.record(ref, "deleted")
            return Outcome("removed" if removed else "absent", key_hash(key), ref.sop)
        header, rng = got
        if (header.study, header.series, header.sop) != (ref.study, ref.series, ref.sop):
            # A file dropped under dicom/ at a key that does not match its UIDs: move it.
            return self._import(key, parse_object_key(key))  # type: ignore[arg-type]
        stored = StoredObject(key, rng.total_size, rng.etag, rng.version_id)
        max_value = self._settings.max_indexed_value_bytes
        if not refresh and self._catalog.holds(ref, rng.etag, rng.version_id):
            # indexed already (a STOW did it inline; this is its S3 event): one consistent
            # GetItem instead of the fragment and a transaction that would change nothing
            record = build_record(ref.tenant, header, stored, max_value, None)
            return Outcome("unchanged", key_hash(key), ref.sop, record)
        table, pixel_vr = self._pixels(key, header, rng)
        doc = instance_metadata(header.dataset, ref.study, ref.series, ref.sop, pixel_vr)
        self._store.put(instance_metadata_key(ref), dumps(doc), DICOM_JSON)
        return build_record(ref.tenant, header, stored, max_value, table)

    def _commit(self, record: InstanceRecord, action: str) -> Outcome:
        """After the catalog write: undo it if the object went meanwhile; the change feed."""
        ref, key = record.ref, record.object.key
        if action != "unchanged" and not self._store.exists(key):
            # deleted while we indexed it, its remove event possibly handled already: undo,
            # so the catalog converges to what S3 holds whatever the order (one HEAD)
            self._catalog.remove_instance(ref)
            return Outcome("removed", key_hash(key), ref.sop)
        if action in ("created", "replaced") and self._feed is not None:
            self._feed.record(ref, action)
        done = "indexed" if action == "created" else action
        return Outcome(done, key_hash(key), ref.sop, record)

    def _pixels(
        self, key: str, header: InstanceHeader, rng: ObjectRange
    ) -> tuple[FrameTable | None, str | None]:
        """Where the frames are (ranged reads only past the header buffer) and Pixel Data's VR."""
        offset = header.pixel_data_offset
        if offset is None:
            return None, None
        buf = rng.data

        def read(start: int, length: int) -> bytes:
            if start + length <= len(buf):
                return buf[start : start + length]
            got = self._store.get_range(key, start, start + length - 1)
            return got.data if got is not None else b""

        try:
            table = frame_table(
                header.dataset, header.transfer_syntax, offset, rng.total_size, read
            )
        except Exception:  # a layout we cannot read must not block indexing: frames fall
            table = None  # back to reading the object (frames.py)
        vr = read(offset + 4, 2)
        explicit = vr in (b"OB", b"OW")
        if explicit:
            pixel_vr = vr.decode()
        elif table is not None and table.encapsulated:
            pixel_vr = "OB"
        else:
            pixel_vr = "OW" if int(header.dataset.get("BitsAllocated", 16) or 16) > 8 else "OB"
        return table, pixel_vr

    def _import(self, key: str, parsed: ObjectKey) -> Outcome:
        try:
            got = self._read_header(key)
            if got is None:
                return Outcome("absent", key_hash(key))
            header, rng = got
            _check_import_size(header, rng.total_size)
            upload = parse_upload_name(parsed.name) if parsed.root == IMPORT_ROOT else None
            declared = declared_size(self._store, parsed.tenant, *upload) if upload else None
            if declared is not None and declared != rng.total_size:
                raise InstanceRejected(
                    FailureReason.CANNOT_UNDERSTAND,
                    f"the file is {rng.total_size} bytes; its upload declared {declared}",
                )
        except InstanceRejected as exc:
            return self._reject(key, parsed.tenant, parsed.name, exc)
        ref = InstanceRef(parsed.tenant, header.study, header.series, header.sop)
        dest = instance_key(ref)
        if dest != key:
            self._store.copy(key, dest)
            indexed = self._reconcile(dest, ref)  # searchable before it is reported stored
            if indexed.record is not None and self.wait_searchable([indexed.record]):
                raise StorageUnavailable("IndexNotVisible", "index entries not visible yet")
            self._mark_upload(parsed, (header.sop_class, ref.study, ref.series, ref.sop), None)
            self._store.delete(key)
        return Outcome("imported", key_hash(key), header.sop)

    def _mark_upload(
        self, parsed: ObjectKey, stored: tuple[str, str, str, str] | None, reason: int | None
    ) -> None:
        """A file of a presigned upload: leave its result for GET /uploads/{id}."""
        upload = parse_upload_name(parsed.name) if parsed.root == IMPORT_ROOT else None
        if upload is not None:
            marker = result_marker(parsed.tenant, upload[0], upload[1], stored, reason)
            self._store.put(marker, b"", "application/octet-stream")

    def _reject(self, key: str, tenant: str, name: str, exc: InstanceRejected) -> Outcome:
        dest = rejected_key(tenant, int(exc.reason), name)
        self._store.copy(key, dest, metadata={"failure-reason": exc.message[:1024]})
        parsed = parse_object_key(key)
        if parsed is not None:
            self._mark_upload(parsed, None, int(exc.reason))
        self._store.delete(key)
        return Outcome("rejected", key_hash(key))


def _check_import_size(header: InstanceHeader, total_size: int) -> None:
    """Imports are checked from the header and the object's size (never downloaded whole):
    native Pixel Data must fit between its tag and the end of the object."""
    if header.pixel_data_offset is None:
        return
    try:
        encapsulated = UID(header.transfer_syntax).is_encapsulated
    except ValueError:
        return
    if encapsulated:
        return
    expected = expected_native_pixel_bytes(header.dataset)
    available = total_size - header.pixel_data_offset - 12
    if expected is not None and available < expected:
        raise InstanceRejected(
            FailureReason.CANNOT_UNDERSTAND,
            f"Pixel Data holds at most {max(available, 0)} bytes, the image needs {expected}",
        )
