"""Catalog reads: every access pattern of ``schema.py`` as a GetItem, a BatchGetItem or a lazy
Query over a designed key, answered as the typed entries and references of
``services.ports.CatalogReader``. Nothing here scans; every Query pages with LastEvaluatedKey
(1 MB pages), and iterators stop reading as soon as the caller stops consuming."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence

from chalicelib.dicomweb.resources import InstanceRef, SeriesRef, StudyRef
from chalicelib.services.ports import InstanceEntry, SeriesEntry, StudyEntry
from chalicelib.storage import keys
from chalicelib.storage.aws_errors import raises_storage_errors
from chalicelib.storage.dynamo import DynamoTable, Item, Key


def study_key(ref: StudyRef | SeriesRef | InstanceRef) -> Key:
    return keys.study_pk(ref), keys.STUDY_SK


def series_key(ref: SeriesRef | InstanceRef) -> Key:
    return keys.study_pk(ref), keys.series_sk(ref.series)


def instance_key(ref: InstanceRef) -> Key:
    return keys.study_pk(ref), keys.instance_sk(ref.series, ref.sop)


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
        return [study_entry(i) for i in self._table.batch_get(map(study_key, refs))]

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

    def iter_series(self, ref: StudyRef, consistent: bool = False) -> Iterator[SeriesEntry]:
        for item in self._table.partition(keys.study_pk(ref), keys.SERIES_SK_PREFIX, consistent):
            yield series_entry(item)

    def get_series(self, ref: SeriesRef) -> SeriesEntry | None:
        item = self._table.get(series_key(ref))
        return series_entry(item) if item is not None else None

    def get_series_many(self, refs: Sequence[SeriesRef]) -> list[SeriesEntry]:
        return [series_entry(i) for i in self._table.batch_get(map(series_key, refs))]

    def find_series(self, tenant: str, uid: str) -> list[SeriesRef]:
        return [
            keys.series_of(e["pk"], e["sk"])
            for e in self._table.index(
                "by_uid", keys.uid_pk(tenant, uid), begins_with=keys.SERIES_UID_SK_PREFIX
            )
        ]

    # --- instances --------------------------------------------------------------------------

    def iter_instances(self, ref: StudyRef | SeriesRef) -> Iterator[InstanceEntry]:
        prefix = (
            keys.series_instances_prefix(ref.series)
            if isinstance(ref, SeriesRef)
            else keys.INSTANCE_SK_PREFIX
        )
        for item in self._table.partition(keys.study_pk(ref), prefix):
            yield instance_entry(item)

    def get_instance(self, ref: InstanceRef) -> InstanceEntry | None:
        item = self._table.get(instance_key(ref))
        return instance_entry(item) if item is not None else None

    def get_instances(self, refs: Sequence[InstanceRef]) -> list[InstanceEntry]:
        return [instance_entry(i) for i in self._table.batch_get(map(instance_key, refs))]

    def find_instances(self, tenant: str, uid: str) -> list[InstanceRef]:
        return [
            keys.instance_of(e["pk"], e["sk"])
            for e in self._table.index(
                "by_uid", keys.uid_pk(tenant, uid), begins_with=keys.INSTANCE_UID_SK_PREFIX
            )
        ]
