"""Catalog reads: every access pattern of ``schema.py`` as a GetItem, a BatchGetItem or a lazy
Query over a designed key, answered as the typed entries and references of
``services.ports.CatalogReader``. Nothing here scans; every Query pages with LastEvaluatedKey
(1 MB pages), and iterators stop reading as soon as the caller stops consuming.

Read after write: every base-table read is strongly consistent (GetItem, Query and
BatchGetItem with ConsistentRead, which costs twice the read units), so what a STOW or a
DELETE wrote is what the next read finds. The secondary indexes (by_uid, by_date, by_value)
cannot be read consistently: they only name candidates, and the items are then read from the
base table, which decides (a deleted item an index still lists is not found).

What a series or study DELETE leaves behind: it removes the series (or study and series) items
in one transaction and writes, per series, a tombstone ``sk=INSTANCE#{series}#`` holding
``gone_at`` (when) and ``n_left`` (how many instance items of the series it leaves for the
indexer to remove). The tombstone sorts first among its series' instance items, so the Queries
that read instances meet it before them: an instance item indexed at or before its series'
``gone_at`` is not returned by any read here (``iter_instances``, ``get_instances``), whatever
state its clean-up is in.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from chalicelib.dicomweb.resources import InstanceRef, SeriesRef, StudyRef
from chalicelib.services.ports import InstanceEntry, SeriesEntry, StudyEntry
from chalicelib.storage import keys
from chalicelib.storage.aws_errors import raises_storage_errors
from chalicelib.storage.dynamo import (
    DynamoTable,
    Item,
    Key,
)

#: a series' tombstone: when its DELETE happened, and how many instance items it left
GONE_AT = "gone_at"
LEFT = "n_left"


def study_key(ref: StudyRef | SeriesRef | InstanceRef) -> Key:
    return keys.study_pk(ref), keys.STUDY_SK


def series_key(ref: SeriesRef | InstanceRef) -> Key:
    return keys.study_pk(ref), keys.series_sk(ref.series)


def instance_key(ref: InstanceRef) -> Key:
    return keys.study_pk(ref), keys.instance_sk(ref.series, ref.sop)


def tombstone_key(ref: SeriesRef | InstanceRef) -> Key:
    """The tombstone of a deleted series: first in the range of its instance items."""
    return keys.study_pk(ref), keys.series_instances_prefix(ref.series)


def is_tombstone(item: Item) -> bool:
    return GONE_AT in item


def _time(value: Any) -> datetime:
    return datetime.fromisoformat(str(value))


def hidden_by(item: Item, tombstone: Item | None) -> bool:
    """An instance item left behind by a DELETE of its series or study: indexed at or before
    the tombstone's time (an item without that time predates tombstones: hidden too)."""
    if tombstone is None:
        return False
    indexed = item.get("indexed_at")
    return indexed is None or _time(indexed) <= _time(tombstone[GONE_AT])


def batch_get_consistent(table: DynamoTable, wanted: Iterable[Key]) -> list[Item]:
    """BatchGetItem with ConsistentRead: the items found, in input order."""
    return table.batch_get(wanted, consistent=True)


def study_entry(item: Item) -> StudyEntry:
    return StudyEntry(
        ref=keys.study_of(item["pk"]),
        attrs=json.loads(item.get("dicom", "{}")),
        series_count=int(item.get("n_series", 0)),
        instance_count=int(item.get("n_instances", 0)),
        modalities=tuple(sorted(item.get("modalities", set()))),
    )


def series_entry(item: Item) -> SeriesEntry:
    return SeriesEntry(
        ref=keys.series_of(item["pk"], item["sk"]),
        attrs=json.loads(item.get("dicom", "{}")),
        instance_count=int(item.get("n_instances", 0)),
        meta_version=int(item.get("meta_v", 0)),
    )


def instance_entry(item: Item) -> InstanceEntry:
    return InstanceEntry(
        ref=keys.instance_of(item["pk"], item["sk"]),
        attrs=json.loads(item.get("dicom", "{}")),
        transfer_syntax=str(item.get("ts", "")),
        size=int(item.get("size", 0)),
        etag=str(item.get("etag", "")),
        frames=bytes(item["frames"]) if "frames" in item else None,
        frames_encapsulated=bool(item.get("frames_enc", False)),
        pixel_offset=int(item["px_off"]) if "px_off" in item else None,
    )


@raises_storage_errors
class CatalogReads:
    """Implements ``services.ports.CatalogReader`` on the catalog table."""

    def __init__(self, table: DynamoTable) -> None:
        self._table = table

    # --- studies ----------------------------------------------------------------------------

    def get_studies(self, refs: Sequence[StudyRef]) -> list[StudyEntry]:
        return [study_entry(i) for i in batch_get_consistent(self._table, map(study_key, refs))]

    def studies_with_value(
        self,
        tenant: str,
        keyword: str,
        value: str,
        *,
        exact: bool,
        page_size: int | None = None,
    ) -> Iterator[tuple[str, StudyRef]]:
        for entry in self._table.index(
            "by_value",
            keys.value_pk(tenant, keyword),
            begins_with=keys.value_index_prefix(value, exact) if value or exact else None,
            page_size=page_size,
        ):
            yield keys.value_of_index_sk(entry["val_sk"]), keys.study_of(entry["pk"])

    def studies_by_date(
        self,
        tenant: str,
        low: str | None = None,
        high: str | None = None,
        page_size: int | None = None,
    ) -> Iterator[StudyRef]:
        for entry in self._table.index(
            "by_date",
            keys.date_pk(tenant, "STUDY"),
            between=keys.date_sk_range(low, high) if (low or high) else None,
            forward=False,
            page_size=page_size,
        ):
            yield keys.study_of(entry["pk"])

    # --- series -----------------------------------------------------------------------------

    def iter_series(self, ref: StudyRef, consistent: bool = True) -> Iterator[SeriesEntry]:
        """Always read consistently (``consistent`` is kept for the port's signature)."""
        for item in self._table.partition(keys.study_pk(ref), keys.SERIES_SK_PREFIX, True):
            yield series_entry(item)

    def get_series(self, ref: SeriesRef) -> SeriesEntry | None:
        item = self._table.get(series_key(ref), consistent=True)
        return series_entry(item) if item is not None else None

    def get_series_many(self, refs: Sequence[SeriesRef]) -> list[SeriesEntry]:
        found = batch_get_consistent(self._table, map(series_key, refs))
        return [series_entry(i) for i in found]

    def find_series(self, tenant: str, uid: str) -> list[SeriesRef]:
        return [
            keys.series_of(e["pk"], e["sk"])
            for e in self._table.index(
                "by_uid", keys.uid_pk(tenant, uid), begins_with=keys.SERIES_UID_SK_PREFIX
            )
        ]

    # --- instances --------------------------------------------------------------------------

    def iter_instances(self, ref: StudyRef | SeriesRef) -> Iterator[InstanceEntry]:
        """Without what a DELETE of their series or study left behind: each series' tombstone
        comes first in the Query, before the instance items it hides."""
        prefix = (
            keys.series_instances_prefix(ref.series)
            if isinstance(ref, SeriesRef)
            else keys.INSTANCE_SK_PREFIX
        )
        tombstone: Item | None = None
        for item in self._table.partition(keys.study_pk(ref), prefix, consistent=True):
            if is_tombstone(item):
                tombstone = item
                continue
            if tombstone is not None and not item["sk"].startswith(tombstone["sk"]):
                tombstone = None  # past that series
            if not hidden_by(item, tombstone):
                yield instance_entry(item)

    def get_instance(self, ref: InstanceRef) -> InstanceEntry | None:
        """The instance item as the catalog holds it (tombstones are not read here: the
        callers read the object next, and S3 answers for a deleted one)."""
        item = self._table.get(instance_key(ref), consistent=True)
        return instance_entry(item) if item is not None else None

    def get_instances(self, refs: Sequence[InstanceRef]) -> list[InstanceEntry]:
        """The instances with their series' tombstones, in one BatchGetItem (per 100 keys):
        what a DELETE left behind is not returned."""
        wanted = [*map(instance_key, refs), *map(tombstone_key, refs)]
        found = batch_get_consistent(self._table, wanted)
        tombstones = {i["sk"]: i for i in found if is_tombstone(i)}
        return [
            instance_entry(i)
            for i in found
            if not is_tombstone(i)
            and not hidden_by(i, tombstones.get(keys.series_instances_prefix(_series_of(i))))
        ]

    def find_instances(self, tenant: str, uid: str) -> list[InstanceRef]:
        return [
            keys.instance_of(e["pk"], e["sk"])
            for e in self._table.index(
                "by_uid", keys.uid_pk(tenant, uid), begins_with=keys.INSTANCE_UID_SK_PREFIX
            )
        ]


def _series_of(item: Item) -> str:
    return keys.instance_of(item["pk"], item["sk"]).series
