"""Catalog reads that resume: each yields (position, result), and reads ``after=`` a position
it gave, at the cost of what it then returns, whatever came before. A position is a sort key
of the read (an index's or the study partition's), opaque to the caller, tenant-free (the
tenant is the caller's, and every key is built from it); a position that does not belong to
the read yields nothing. QIDO's paging cursors are made of them (``services/qido_cursor.py``).

The tenant-wide listings (``listed_series``, ``listed_instances``) read the write shards of
by_list or by_attr (``keys.LIST_SHARDS``) each newest first and merge them: a page of n costs
each shard a Query of about n / shards + ``SHARD_SLACK`` entries (keys only, ~0.3 KB each),
and a shard that runs short one more.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterator
from typing import Any

from chalicelib.dicomweb.resources import InstanceRef, SeriesRef, StudyRef
from chalicelib.services.ports import InstanceEntry, SeriesEntry
from chalicelib.storage import keys
from chalicelib.storage.aws_errors import raises_storage_errors
from chalicelib.storage.catalog_entries import (
    hidden_by,
    instance_entry,
    is_tombstone,
    series_entry,
    tombstone_key,
)
from chalicelib.storage.dynamo import DynamoTable, Item, av
from chalicelib.storage.schema import CATALOG_INDEXES

#: The longest position a read resumes after (a sort key: DynamoDB's limit is 1,024 bytes).
MAX_POSITION = 1024
#: Entries a shard of a merged listing reads beyond its share of the page: the shards of a
#: page are unequal (a hash spreads them), and a shard that runs short reads one more page.
SHARD_SLACK = 8


@raises_storage_errors
class ResumableReads:
    """The resumable access patterns on the catalog table (``CatalogReads`` has them)."""

    _table: DynamoTable

    def dated_studies(
        self,
        tenant: str,
        low: str | None = None,
        high: str | None = None,
        *,
        after: str | None = None,
        page_size: int | None = None,
    ) -> Iterator[tuple[str, StudyRef]]:
        """``studies_by_date`` with positions (by_date sort keys)."""
        bounds = keys.date_sk_range(low, high) if (low or high) else (None, None)
        for entry in self._descending(
            "by_date", keys.date_pk(tenant, "STUDY"), bounds, after, page_size
        ):
            yield entry["date_sk"], keys.study_of(entry["pk"])

    def valued_studies(
        self,
        tenant: str,
        keyword: str,
        value: str,
        *,
        exact: bool,
        after: str | None = None,
        page_size: int | None = None,
    ) -> Iterator[tuple[str, str, StudyRef]]:
        """``studies_with_value`` with positions (by_value sort keys): (position, value,
        study)."""
        prefix = keys.value_index_prefix(value, exact) if value or exact else ""
        hash_value = keys.value_pk(tenant, keyword)
        query = self._key_condition("by_value", hash_value, prefix=prefix)
        if after is not None:
            escaped, _, study = after.rpartition("#")
            if not _fits(after) or not after.startswith(prefix) or not escaped:
                return
            query["ExclusiveStartKey"] = {
                "val_pk": av(hash_value),
                "val_sk": av(after),
                "pk": av(keys.study_pk(StudyRef(tenant, study))),
                "sk": av(keys.value_sk(keyword, keys.unescape_value(escaped))),
            }
        if page_size:
            query["Limit"] = page_size
        for page in self._table.pages(**query):
            for entry in page:
                sk = entry["val_sk"]
                yield sk, keys.value_of_index_sk(sk), keys.study_of(entry["pk"])

    def listed_series(
        self,
        tenant: str,
        *,
        modality: str | None = None,
        low: str | None = None,
        high: str | None = None,
        after: str | None = None,
        page_size: int | None = None,
    ) -> Iterator[tuple[str, SeriesRef]]:
        """A tenant's series newest first (by SeriesDate, or their study's date without one),
        of one Modality if given, within a date range [low, high] (DA, either end open) if
        given: the write shards of by_list (or by_attr) merged."""
        level = keys.SERIES_LEVEL
        for sort_key, entry in self._merged(
            tenant, level, "Modality", modality, low, high, after, page_size
        ):
            yield sort_key, keys.series_of(entry["pk"], entry["sk"])

    def listed_instances(
        self,
        tenant: str,
        *,
        sop_class: str | None = None,
        after: str | None = None,
        page_size: int | None = None,
    ) -> Iterator[tuple[str, InstanceRef]]:
        """A tenant's instances newest first (by their series' date; a series' instances
        together), of one SOPClassUID if given."""
        level = keys.INSTANCE_LEVEL
        for sort_key, entry in self._merged(
            tenant, level, "SOPClassUID", sop_class, None, None, after, page_size
        ):
            yield sort_key, keys.instance_of(entry["pk"], entry["sk"])

    def series_in_study(
        self, ref: StudyRef, *, after: str | None = None, page_size: int | None = None
    ) -> Iterator[tuple[str, SeriesEntry]]:
        """``iter_series`` with positions (the series' sort keys)."""
        for item in self._partition(ref, keys.SERIES_SK_PREFIX, after, page_size):
            yield item["sk"], series_entry(item)

    def instances_in(
        self,
        ref: StudyRef | SeriesRef,
        *,
        after: str | None = None,
        page_size: int | None = None,
    ) -> Iterator[tuple[str, InstanceEntry]]:
        """``iter_instances`` with positions (the instances' sort keys), what a DELETE left
        behind left out: resuming inside a series reads its tombstone first (one GetItem)."""
        prefix = (
            keys.series_instances_prefix(ref.series)
            if isinstance(ref, SeriesRef)
            else keys.INSTANCE_SK_PREFIX
        )
        tombstone: Item | None = None
        if after is not None and _fits(after) and after.startswith(prefix):
            series = after.removeprefix(keys.INSTANCE_SK_PREFIX).partition("#")[0]
            tombstone = self._table.get(
                tombstone_key(SeriesRef(ref.tenant, ref.study, series)), consistent=True
            )
        for item in self._partition(ref, prefix, after, page_size):
            if is_tombstone(item):
                tombstone = item
                continue
            if tombstone is not None and not item["sk"].startswith(tombstone["sk"]):
                tombstone = None  # past that series
            if not hidden_by(item, tombstone):
                yield item["sk"], instance_entry(item)

    # --- the queries under them -------------------------------------------------------------

    def _key_condition(
        self,
        index: str | None,
        hash_value: str,
        *,
        prefix: str = "",
        low: str | None = None,
        high: str | None = None,
    ) -> dict[str, Any]:
        hash_name, range_name = CATALOG_INDEXES[index] if index else ("pk", "sk")
        condition = f"{hash_name} = :h"
        values = {":h": av(hash_value)}
        if prefix:
            condition += f" AND begins_with({range_name}, :p)"
            values[":p"] = av(prefix)
        elif low is not None and high is not None:
            condition += f" AND {range_name} BETWEEN :lo AND :hi"
            values[":lo"], values[":hi"] = av(low), av(high)
        elif low is not None:
            condition += f" AND {range_name} >= :lo"
            values[":lo"] = av(low)
        elif high is not None:
            condition += f" AND {range_name} <= :hi"
            values[":hi"] = av(high)
        query: dict[str, Any] = {
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
        }
        if index:
            query["IndexName"] = index
        return query

    def _descending(
        self,
        index: str,
        hash_value: str,
        bounds: tuple[str | None, str | None],
        after: str | None,
        page_size: int | None,
        next_size: int | None = None,
    ) -> Iterator[Item]:
        """One index partition, newest (highest sort key) first, within ``bounds``, after
        ``after`` (sort keys are unique: the one equal to it is the one already read);
        ``page_size`` entries a request, then ``next_size`` (default: the same)."""
        low, high = bounds
        if low is not None and high is not None and low > high:
            return  # an empty range (DynamoDB refuses BETWEEN with its ends reversed)
        if after is not None:
            if not _fits(after) or (low is not None and after < low):
                return
            high = after if high is None else min(high, after)
        query = self._key_condition(index, hash_value, low=low, high=high)
        query["ScanIndexForward"] = False
        if page_size:
            query["Limit"] = page_size
        range_name = CATALOG_INDEXES[index][1]
        for page in self._table.pages(next_limit=next_size, **query):
            for entry in page:
                if entry[range_name] != after:
                    yield entry

    def _merged(
        self,
        tenant: str,
        level: str,
        keyword: str,
        value: str | None,
        low: str | None,
        high: str | None,
        after: str | None,
        page_size: int | None,
    ) -> Iterator[tuple[str, Item]]:
        """The write shards of a listing, each read newest first, merged newest first. Each
        shard reads its share of ``page_size`` (and a little more) a request, and reads again
        only when the merge needs more of it."""
        index = "by_attr" if value else "by_list"
        range_name = CATALOG_INDEXES[index][1]
        bounds = keys.list_sk_range(low, high) if (low or high) else (None, None)
        share = math.ceil(page_size / keys.LIST_SHARDS) + SHARD_SLACK if page_size else None
        # a shard that runs short of its share is short by about the spread of a hash over the
        # shards (~sqrt(share)), not by a whole share: it reads on in quarter shares
        more = max(2 * SHARD_SLACK, share // 4) if share else None
        shards = [
            self._descending(
                index,
                keys.attr_pk(tenant, level, keyword, value, k)
                if value
                else keys.list_pk(tenant, level, k),
                bounds,
                after,
                share,
                more,
            )
            for k in range(keys.LIST_SHARDS)
        ]
        for entry in heapq.merge(*shards, key=lambda e: e[range_name], reverse=True):
            yield entry[range_name], entry

    def _partition(
        self, ref: StudyRef | SeriesRef, prefix: str, after: str | None, page_size: int | None
    ) -> Iterator[Item]:
        """A study's items whose sort key starts with ``prefix``, in key order, consistently,
        after ``after``."""
        pk = keys.study_pk(ref)
        query = self._key_condition(None, pk, prefix=prefix)
        query["ConsistentRead"] = True
        if after is not None:
            if not _fits(after) or not after.startswith(prefix):
                return
            query["ExclusiveStartKey"] = {"pk": av(pk), "sk": av(after)}
        if page_size:
            query["Limit"] = page_size
        for page in self._table.pages(**query):
            yield from page


def _fits(position: str) -> bool:
    return 0 < len(position.encode("utf-8")) <= MAX_POSITION
