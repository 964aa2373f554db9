"""Catalog reads: every access pattern of ``schema.py`` as a GetItem, a BatchGetItem or a lazy
Query over a designed key. Nothing here scans; every Query pages with LastEvaluatedKey (1 MB
pages), and iterators stop reading as soon as the caller stops consuming."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from chalicelib.dicomweb.resources import InstanceRef, SeriesRef, StudyRef
from chalicelib.services.ports import InstanceEntry, SeriesEntry, StudyEntry
from chalicelib.storage import keys

_ser = TypeSerializer()
_de = TypeDeserializer()

Key = tuple[str, str]  # (pk, sk)


def av(value: Any) -> dict[str, Any]:
    """A Python value as a DynamoDB attribute value."""
    serialized: dict[str, Any] = _ser.serialize(value)
    return serialized


def to_item(values: dict[str, Any]) -> dict[str, Any]:
    return {k: av(v) for k, v in values.items() if v is not None}


def plain(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _de.deserialize(v) for k, v in item.items()}


def backoff(attempt: int) -> None:
    time.sleep(min(0.5, 0.01 * (2**attempt)) * random.uniform(0.5, 1.5))


def _tenant_and_uid(pk: str) -> tuple[str, str]:
    tenant, _, uid = pk.partition("#")
    return tenant, uid


def study_entry(item: dict[str, Any]) -> StudyEntry:
    tenant, study = _tenant_and_uid(item["pk"])
    return StudyEntry(
        ref=StudyRef(tenant, study),
        attrs=json.loads(item.get("dicom", "{}")),
        series_count=int(item.get("n_series", 0)),
        instance_count=int(item.get("n_instances", 0)),
        modalities=tuple(sorted(item.get("modalities", set()))),
    )


def meta_version(item: dict[str, Any]) -> int:
    """The catalog version of a series' metadata: it moves with every change of the series."""
    return int(item.get("meta_v", 0))


def series_entry(item: dict[str, Any]) -> SeriesEntry:
    tenant, study = _tenant_and_uid(item["pk"])
    return SeriesEntry(
        ref=SeriesRef(tenant, study, item["sk"][len(keys.SERIES_SK_PREFIX) :]),
        attrs=json.loads(item.get("dicom", "{}")),
        instance_count=int(item.get("n_instances", 0)),
    )


def instance_entry(item: dict[str, Any]) -> InstanceEntry:
    tenant, study = _tenant_and_uid(item["pk"])
    series, _, sop = item["sk"][len(keys.INSTANCE_SK_PREFIX) :].partition("#")
    return InstanceEntry(
        ref=InstanceRef(tenant, study, series, sop),
        attrs=json.loads(item.get("dicom", "{}")),
        transfer_syntax=str(item.get("ts", "")),
        size=int(item.get("size", 0)),
        etag=str(item.get("etag", "")),
        frames=bytes(item["frames"]) if "frames" in item else None,
        frames_encapsulated=bool(item.get("frames_enc", False)),
        pixel_offset=int(item["px_off"]) if "px_off" in item else None,
    )


class CatalogReads:
    """The read side of ``DynamoCatalog``."""

    _db: Any
    _table: str

    # --- primitives -----------------------------------------------------------------------

    def _pages(self, **kwargs: Any) -> Iterator[list[dict[str, Any]]]:
        kwargs = {"TableName": self._table, **kwargs}
        while True:
            page = self._db.query(**kwargs)
            yield [plain(i) for i in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def iter_partition(
        self, pk: str, sk_prefix: str, consistent: bool = False
    ) -> Iterator[dict[str, Any]]:
        """Items of one partition whose sort key starts with ``sk_prefix``, in key order."""
        for page in self._pages(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :p)",
            ExpressionAttributeValues={":pk": av(pk), ":p": av(sk_prefix)},
            ConsistentRead=consistent,
        ):
            yield from page

    def iter_index(
        self,
        index: str,
        hash_value: str,
        *,
        begins_with: str | None = None,
        between: tuple[str, str] | None = None,
        forward: bool = True,
        page_size: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Keys from a keys-only index, lazily, in index order (``page_size`` bounds what one
        request reads when the caller needs only a few)."""
        hash_name, range_name = _INDEX_KEYS[index]
        condition = f"{hash_name} = :h"
        values = {":h": av(hash_value)}
        if begins_with:
            condition += f" AND begins_with({range_name}, :b)"
            values[":b"] = av(begins_with)
        elif between:
            condition += f" AND {range_name} BETWEEN :lo AND :hi"
            values[":lo"], values[":hi"] = av(between[0]), av(between[1])
        extra = {"Limit": page_size} if page_size else {}
        for page in self._pages(
            IndexName=index,
            KeyConditionExpression=condition,
            ExpressionAttributeValues=values,
            ScanIndexForward=forward,
            **extra,
        ):
            yield from page

    def batch_get(self, wanted: Iterable[Key]) -> list[dict[str, Any]]:
        """BatchGetItem in chunks of 100, retrying unprocessed keys; results in input order."""
        ordered = list(dict.fromkeys(wanted))
        found: dict[Key, dict[str, Any]] = {}
        for start in range(0, len(ordered), 100):
            chunk = ordered[start : start + 100]
            request: dict[str, Any] = {
                self._table: {"Keys": [to_item({"pk": pk, "sk": sk}) for pk, sk in chunk]}
            }
            attempt = 0
            while request:
                page = self._db.batch_get_item(RequestItems=request)
                for raw in page.get("Responses", {}).get(self._table, []):
                    item = plain(raw)
                    found[(item["pk"], item["sk"])] = item
                request = page.get("UnprocessedKeys") or {}
                if request:
                    backoff(attempt)
                    attempt += 1
        return [found[k] for k in ordered if k in found]

    def get_item(self, pk: str, sk: str, consistent: bool = False) -> dict[str, Any] | None:
        got = self._db.get_item(
            TableName=self._table, Key=to_item({"pk": pk, "sk": sk}), ConsistentRead=consistent
        )
        return plain(got["Item"]) if "Item" in got else None

    # --- access patterns --------------------------------------------------------------------

    def get_studies(self, tenant: str, study_uids: Sequence[str]) -> list[StudyEntry]:
        pairs = [(keys.study_pk(StudyRef(tenant, uid)), keys.STUDY_SK) for uid in study_uids]
        return [study_entry(i) for i in self.batch_get(pairs)]

    def study_series(self, ref: StudyRef) -> list[SeriesEntry]:
        return [series_entry(i) for i in self.iter_series(ref)]

    def iter_series(self, ref: StudyRef, consistent: bool = False) -> Iterator[dict[str, Any]]:
        return self.iter_partition(keys.study_pk(ref), keys.SERIES_SK_PREFIX, consistent)

    def iter_instances(self, ref: StudyRef | SeriesRef) -> Iterator[dict[str, Any]]:
        prefix = (
            keys.series_instances_prefix(ref.series)
            if isinstance(ref, SeriesRef)
            else keys.INSTANCE_SK_PREFIX
        )
        return self.iter_partition(keys.study_pk(ref), prefix)

    def series_instances(self, ref: SeriesRef) -> list[InstanceEntry]:
        return [instance_entry(i) for i in self.iter_instances(ref)]

    def study_instances(self, ref: StudyRef) -> list[InstanceEntry]:
        return [instance_entry(i) for i in self.iter_instances(ref)]

    def get_instance(self, ref: InstanceRef) -> InstanceEntry | None:
        item = self.get_item(keys.study_pk(ref), keys.instance_sk(ref.series, ref.sop))
        return instance_entry(item) if item else None

    def value_entries(
        self, tenant: str, keyword: str, prefix: str = "", page_size: int | None = None
    ) -> Iterator[tuple[str, Key]]:
        """(value, study key) of a tenant's studies whose ``keyword`` value starts with
        ``prefix`` (already escaped), in value order."""
        for entry in self.iter_index(
            "by_value",
            keys.value_pk(tenant, keyword),
            begins_with=prefix or None,
            page_size=page_size,
        ):
            escaped, _, _study = entry["val_sk"].rpartition("#")
            yield keys.unescape_value(escaped), (entry["pk"], keys.STUDY_SK)

    def study_keys_by_date(
        self,
        tenant: str,
        low: str | None = None,
        high: str | None = None,
        page_size: int | None = None,
    ) -> Iterator[Key]:
        """A tenant's studies newest first, optionally within [low, high] (date_sk bounds)."""
        between = (low or "0", high or "~") if (low or high) else None
        for entry in self.iter_index(
            "by_date",
            keys.date_pk(tenant, "STUDY"),
            between=between,
            forward=False,
            page_size=page_size,
        ):
            yield entry["pk"], entry["sk"]

    def keys_by_uid(self, tenant: str, uid: str) -> list[Key]:
        """Items (series or instances) with this UID, from the by_uid index."""
        return [(e["pk"], e["sk"]) for e in self.iter_index("by_uid", keys.uid_pk(tenant, uid))]


_INDEX_KEYS = {
    "by_uid": ("uid_pk", "uid_sk"),
    "by_date": ("date_pk", "date_sk"),
    "by_value": ("val_pk", "val_sk"),
}
