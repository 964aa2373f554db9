"""What the services need from storage, as Protocols, and the values that cross them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from chalicelib.dicomweb.resources import InstanceRef, SeriesRef, StudyRef

JsonDict = dict[str, Any]


# --- what storage raises (the adapters translate their SDK's errors into these) --------------


class StorageError(Exception):
    """A storage call failed. ``code`` names the backend's reason (an AWS error code), for
    logs; the message never carries the backend's own text (it may echo request values)."""

    def __init__(self, code: str = "", message: str = "") -> None:
        super().__init__(message or code or type(self).__name__)
        self.code = code


class StorageUnavailable(StorageError):
    """Throttled, conflicting or failing for now: the same call may succeed if retried (the
    HTTP edge answers 503 with Retry-After)."""


class StorageBusy(StorageUnavailable):
    """Throttled or timed out: the backend is out of capacity for now (STOW fails the
    instance with 0xA700, Out of Resources; any other storage failure is 0x0110)."""


class CatalogContention(StorageUnavailable):
    """The catalog stayed contended after every retry (the message will be redelivered)."""


class UploadNotFound(StorageError):
    """The multipart upload is completed, aborted or expired."""


class UploadPartsRefused(StorageError):
    """S3 refused the parts given to complete a multipart upload: the client's mistake."""


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    etag: str
    version_id: str | None = None


@dataclass(frozen=True)
class ObjectRange:
    """Some bytes of an object, with what S3 said of the whole object."""

    data: bytes
    total_size: int
    etag: str
    version_id: str | None = None


@dataclass(frozen=True)
class ListedObject:
    key: str
    size: int
    last_modified: str
    etag: str = ""


#: A piece of a composed object: bytes, or a byte range (key, offset, length) of an object.
Piece = bytes | tuple[str, int, int]


class ObjectStore(Protocol):
    def put(
        self, key: str, data: bytes, content_type: str, metadata: dict[str, str] | None = None
    ) -> StoredObject: ...

    def get(self, key: str) -> bytes | None: ...

    def get_range(self, key: str, start: int, end: int) -> ObjectRange | None: ...

    def copy(self, source: str, dest: str, metadata: dict[str, str] | None = None) -> None: ...

    def delete(self, key: str) -> None: ...

    def list(
        self, prefix: str, start_after: str | None = None, limit: int = 1000
    ) -> tuple[list[ListedObject], str | None]:
        """One page in key order, and the key to start after for the next (None: no more)."""
        ...

    def list_all(self, prefix: str) -> Iterator[ListedObject]:
        """Every object under ``prefix`` in key order, read page by page as consumed."""
        ...

    def get_bounded(self, key: str, limit: int) -> tuple[bytes | None, int]: ...

    def exists(self, key: str) -> bool: ...

    def put_file(self, key: str, fileobj: Any, content_type: str) -> None: ...

    def list_versions(self, prefix: str) -> Sequence[tuple[str, str]]: ...

    def delete_versions(self, versions: Sequence[tuple[str, str]]) -> None: ...

    def compose(self, dest: str, pieces: Iterable[Piece], content_type: str) -> int: ...

    def presign_get(self, key: str, expires: int, content_type: str | None = None) -> str: ...


class MultipartStore(ObjectStore, Protocol):
    """S3's multipart uploads: an object written in parts becomes visible at its key only when
    completed; an aborted one leaves nothing."""

    def start_multipart(self, key: str, content_type: str) -> str: ...

    def upload_part(self, key: str, upload_id: str, number: int, data: bytes) -> str:
        """The part's ETag."""
        ...

    def complete_multipart(
        self, key: str, upload_id: str, parts: Sequence[tuple[int, str]]
    ) -> str | None:
        """The new object's VersionId. Raises ``UploadPartsRefused`` or ``UploadNotFound``
        for the client's mistakes."""
        ...

    def abort_multipart(self, key: str, upload_id: str) -> None: ...


class UploadStore(MultipartStore, Protocol):
    """What presigned uploads need besides objects: S3's presigned PUTs and parts."""

    def presign_put(self, key: str, expires: int, content_type: str) -> str: ...

    def presign_part(self, key: str, upload_id: str, number: int, expires: int) -> str: ...


@dataclass(frozen=True)
class InstanceRecord:
    """Everything the catalog keeps of one instance, read from its header."""

    ref: InstanceRef
    study_attrs: JsonDict
    series_attrs: JsonDict
    instance_attrs: JsonDict
    transfer_syntax: str
    object: StoredObject
    modality: str = ""
    patient_id: str = ""
    accession: str = ""
    patient_name: str = ""
    study_description: str = ""
    study_date: str = ""
    study_time: str = ""
    #: packed (offset, length) of every frame (``dicomweb.pixels.FrameTable``), if locatable
    frames: bytes | None = None
    frames_encapsulated: bool = False
    #: where the header ends (the Pixel Data tag), for bulk data reads
    pixel_offset: int | None = None


@dataclass(frozen=True)
class StudyEntry:
    ref: StudyRef
    attrs: JsonDict
    series_count: int
    instance_count: int
    modalities: tuple[str, ...] = ()


@dataclass(frozen=True)
class SeriesEntry:
    ref: SeriesRef
    attrs: JsonDict
    instance_count: int
    #: the catalog version of the series' metadata: it moves with every change of the series
    meta_version: int = 0


@dataclass(frozen=True)
class InstanceEntry:
    ref: InstanceRef
    attrs: JsonDict
    transfer_syntax: str
    size: int
    etag: str
    frames: bytes | None = None
    frames_encapsulated: bool = False
    pixel_offset: int | None = None


@dataclass(frozen=True)
class Page:
    """One page of catalog results and whether more exist beyond it."""

    items: Sequence[Any]
    more: bool = False
    extra: JsonDict = field(default_factory=dict)


class CatalogWriter(Protocol):
    """What the indexer needs of the catalog: the only writer."""

    def index_instance(self, record: InstanceRecord) -> str:
        """Make the catalog hold ``record``: 'created', 'replaced' or 'unchanged'."""
        ...

    def index_new_batch(self, records: Sequence[InstanceRecord]) -> bool:
        """Create instances of one series in one write (counters moved once); False, with
        nothing written, when that does not apply: ``index_instance`` each then."""
        ...

    def holds(self, ref: InstanceRef, etag: str, version_id: str | None) -> bool:
        """The catalog already holds this object (ETag and version) for the instance: a
        consistent read of its item."""
        ...

    def remove_instance(self, ref: InstanceRef) -> bool:
        """False when the instance was not catalogued."""
        ...

    def remove_series(self, ref: SeriesRef) -> bool:
        """A series DELETE: one change every read honours at once (the series and the counts
        it adds to its study go; its instance items, hidden, are left for ``remove_instance``
        as S3's events arrive). False when the series was not catalogued."""
        ...

    def remove_study(self, ref: StudyRef) -> bool:
        """A study DELETE, the same way for the study and every series of it. False when the
        study was not catalogued."""
        ...


Catalog = CatalogWriter


class CatalogReader(Protocol):
    """The catalog's access patterns, each one GetItem, one BatchGetItem or a lazy Query on a
    designed key (never a Scan), returning entries and references, never raw items or keys.
    Iterators read page by page as they are consumed; batch reads answer in input order and
    leave out what is not catalogued."""

    def get_studies(self, refs: Sequence[StudyRef]) -> list[StudyEntry]: ...

    def iter_series(self, ref: StudyRef, consistent: bool = False) -> Iterator[SeriesEntry]:
        """A study's series in UID order."""
        ...

    def get_series(self, ref: SeriesRef) -> SeriesEntry | None: ...

    def get_series_many(self, refs: Sequence[SeriesRef]) -> list[SeriesEntry]: ...

    def iter_instances(self, ref: StudyRef | SeriesRef) -> Iterator[InstanceEntry]:
        """A study's or a series' instances in (series, SOP) UID order."""
        ...

    def get_instance(self, ref: InstanceRef) -> InstanceEntry | None: ...

    def get_instances(self, refs: Sequence[InstanceRef]) -> list[InstanceEntry]: ...

    def find_series(self, tenant: str, uid: str) -> list[SeriesRef]:
        """The series with this UID, whatever their study."""
        ...

    def find_instances(self, tenant: str, uid: str) -> list[InstanceRef]:
        """The instances with this SOP Instance UID, whatever their study and series."""
        ...

    def studies_with_value(
        self,
        tenant: str,
        keyword: str,
        value: str,
        *,
        exact: bool,
        page_size: int | None = None,
    ) -> Iterator[tuple[str, StudyRef]]:
        """(value, study) of the studies whose indexed ``keyword`` value equals ``value``
        (``exact``) or starts with it, in value order (a prefix '' walks every value).
        ``page_size`` bounds what one request reads when the caller needs only a few."""
        ...

    def studies_by_date(
        self,
        tenant: str,
        low: str | None = None,
        high: str | None = None,
        page_size: int | None = None,
    ) -> Iterator[StudyRef]:
        """A tenant's studies newest first, within the StudyDate range [low, high] (DA
        values, either end open) when either is given."""
        ...


class Feed(Protocol):
    """The change feed: the indexer records every instance created, replaced or deleted."""

    def record(self, ref: InstanceRef, action: str) -> int: ...


class FeedReader(Protocol):
    """The change feed as clients read it: JSON-ready entries in sequence order."""

    def read(self, tenant: str, start_after: int, limit: int) -> list[JsonDict]: ...

    def latest(self, tenant: str) -> JsonDict | None: ...


@dataclass(frozen=True)
class Principal:
    """Who is calling: the tenant an API key belongs to and what it may do."""

    tenant: str
    key_id: str
    scopes: frozenset[str]


class TenantStore(Protocol):
    def principal_for_key_hash(self, key_hash: str) -> Principal | None: ...


class IndexVisibility(Protocol):
    """What makes a stored instance findable by every read at once: the catalog's base-table
    items are read consistently, its secondary indexes (by UID, date, value) are not; this
    waits until the index entries the catalog holds for these instances answer queries."""

    def wait_visible(self, records: Sequence[InstanceRecord], timeout: float) -> list[InstanceRef]:
        """The instances whose index entries are still not visible after ``timeout`` seconds
        (empty: every one is searchable)."""
        ...
