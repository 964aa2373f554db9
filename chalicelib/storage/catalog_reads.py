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

from collections.abc import Iterator, Sequence

from chalicelib.dicomweb.resources import InstanceRef, SeriesRef, StudyRef
from chalicelib.services.ports import InstanceEntry, SeriesEntry, StudyEntry
from chalicelib.storage import keys
from chalicelib.storage.aws_errors import raises_storage_errors
from chalicelib.storage.catalog_entries import (
    GONE_AT,
    LEFT,
    batch_get_consistent,
    hidden_by,
    instance_entry,
    instance_key,
    is_tombstone,
    series_entry,
    series_key,
    series_of_item,
    study_entry,
    study_key,
    tombstone_key,
)
from chalicelib.storage.catalog_resume import ResumableReads
from chalicelib.storage.dynamo import DynamoTable

#: Named here for the catalog's other modules (``catalog.py``, ``catalog_removal.py``).
__all__ = [
    "GONE_AT",
    "LEFT",
    "CatalogReads",
    "hidden_by",
    "instance_key",
    "series_key",
    "study_key",
    "tombstone_key",
]


@raises_storage_errors
class CatalogReads(ResumableReads):
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
        for _, found, ref in self.valued_studies(
            tenant, keyword, value, exact=exact, page_size=page_size
        ):
            yield found, ref

    def studies_by_date(
        self,
        tenant: str,
        low: str | None = None,
        high: str | None = None,
        page_size: int | None = None,
    ) -> Iterator[StudyRef]:
        for _, ref in self.dated_studies(tenant, low, high, page_size=page_size):
            yield ref

    # --- series -----------------------------------------------------------------------------

    def iter_series(self, ref: StudyRef, consistent: bool = True) -> Iterator[SeriesEntry]:
        """Always read consistently (``consistent`` is kept for the port's signature)."""
        for _, entry in self.series_in_study(ref):
            yield entry

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
        for _, entry in self.instances_in(ref):
            yield entry

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
            and not hidden_by(i, tombstones.get(keys.series_instances_prefix(series_of_item(i))))
        ]

    def find_instances(self, tenant: str, uid: str) -> list[InstanceRef]:
        return [
            keys.instance_of(e["pk"], e["sk"])
            for e in self._table.index(
                "by_uid", keys.uid_pk(tenant, uid), begins_with=keys.INSTANCE_UID_SK_PREFIX
            )
        ]
