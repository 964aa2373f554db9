"""The catalog's items as the reads see them: their keys, the typed entries they become, and
what a series or study DELETE leaves behind (a tombstone ``sk=INSTANCE#{series}#`` holding
``gone_at``, when, and ``n_left``, how many instance items of the series it leaves for the
indexer to remove: an instance item indexed at or before it is hidden).

Shared by ``catalog_reads.py``, ``catalog_resume.py`` and ``catalog_removal.py``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from chalicelib.dicomweb.resources import InstanceRef, SeriesRef, StudyRef
from chalicelib.services.ports import InstanceEntry, SeriesEntry, StudyEntry
from chalicelib.storage import keys
from chalicelib.storage.dynamo import DynamoTable, Item, Key

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


def series_of_item(item: Item) -> str:
    """The series UID of an instance item."""
    return keys.instance_of(item["pk"], item["sk"]).series
