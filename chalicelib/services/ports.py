"""What the services need from storage, as Protocols, and the values that cross them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from chalicelib.dicomweb.resources import InstanceRef, SeriesRef, StudyRef

JsonDict = dict[str, Any]


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
    ) -> tuple[list[ListedObject], str | None]: ...

    def get_bounded(self, key: str, limit: int) -> tuple[bytes | None, int]: ...

    def exists(self, key: str) -> bool: ...

    def put_file(self, key: str, fileobj: Any, content_type: str) -> None: ...

    def list_versions(self, prefix: str) -> Sequence[tuple[str, str]]: ...

    def delete_versions(self, versions: Sequence[tuple[str, str]]) -> None: ...

    def compose(self, dest: str, pieces: Iterable[Piece], content_type: str) -> int: ...

    def presign_get(self, key: str, expires: int, content_type: str | None = None) -> str: ...


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


class Catalog(Protocol):
    """What the indexer needs of the catalog. (QIDO reads through the DynamoDB catalog's read
    API directly: its plans are shaped by the designed keys, see ``services/qido_plan.py``.)"""

    def index_instance(self, record: InstanceRecord) -> str: ...

    def remove_instance(self, ref: InstanceRef) -> bool: ...


class Feed(Protocol):
    """The change feed: the indexer records every instance created, replaced or deleted."""

    def record(self, ref: InstanceRef, action: str) -> int: ...


@dataclass(frozen=True)
class Principal:
    """Who is calling: the tenant an API key belongs to and what it may do."""

    tenant: str
    key_id: str
    scopes: frozenset[str]


class TenantStore(Protocol):
    def principal_for_key_hash(self, key_hash: str) -> Principal | None: ...
