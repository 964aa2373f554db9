"""The DynamoDB catalog: schema in ``schema.py``, keys in ``keys.py``, items in
``catalog_items.py``, reads in ``catalog_reads.py``, writes here; one ``DynamoTable`` under
both.

Counts (NumberOfStudyRelatedSeries/Instances, NumberOfSeriesRelatedInstances) and
ModalitiesInStudy are kept exact with transactions and condition expressions, never by
read-modify-write: an instance item is created only if absent, and the counters move in the
same transaction. The study's value-index entries are rewritten only when the indexed values
change (``catalog_items.py``). Item size stays far below DynamoDB's 400 KB: items hold the
fixed attribute lists of ``dicomweb/attributes.py`` with long values left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.clock import SYSTEM, Clock
from chalicelib.dicomweb.resources import InstanceRef, SeriesRef, StudyRef
from chalicelib.services.ports import (
    CatalogContention,
    InstanceRecord,
)
from chalicelib.storage import aws_errors, keys
from chalicelib.storage.aws_errors import raises_storage_errors
from chalicelib.storage.catalog_items import (
    MODALITIES,
    CatalogItems,
    indexed_values,
    listing_update,
    value_signature,
)
from chalicelib.storage.catalog_reads import (
    CatalogReads,
    instance_key,
    series_key,
    study_key,
)
from chalicelib.storage.catalog_removal import CatalogRemoval
from chalicelib.storage.dynamo import DynamoTable, av, backoff
from chalicelib.storage.schema import CATALOG_INDEXES

_MAX_ATTEMPTS = 10
#: Instances created in one transaction (DynamoDB: 100 items and 4 MB a transaction; an
#: instance item is a few KB, its frame table included for up to ~1,000 frames).
MAX_BATCH = 25
#: Attempts of a batch that conflicts with other writers before its instances go one by one.
BATCH_ATTEMPTS = 3
CONDITION_FAILED = aws_errors.CONDITION_FAILED_REASON


@raises_storage_errors
class DynamoCatalog:
    """Implements ``services.ports.CatalogWriter`` on one DynamoDB table; ``reads`` is the
    ``CatalogReader`` over the same table (one object for each side, composed)."""

    def __init__(self, client: Any, table: str, clock: Clock = SYSTEM) -> None:
        self._table = DynamoTable(client, table, dict(CATALOG_INDEXES))
        self._items = CatalogItems(table)
        self._clock = clock  # retry backoff waits on it (tests: without sleeping)
        self.reads = CatalogReads(self._table)
        self._removal = CatalogRemoval(self._table, self._items, self.reads, clock)

    def holds(self, ref: InstanceRef, etag: str, version_id: str | None) -> bool:
        """The catalog holds this version of the object, keyed as this code keys it (an item
        indexed before the listing keys is not held: reconciling it re-keys it)."""
        item = self._table.get(instance_key(ref), consistent=True)
        if item is None or item.get("etag") != etag:
            return False
        if item.get("kv") != keys.LIST_KEYS_VERSION:
            return False
        return version_id is None or item.get("version_id") == version_id

    def _value_entries(self, rec: InstanceRecord) -> tuple[list[dict[str, Any]], list[str]]:
        """Puts for the value entries, and their sort keys; stale entries (values the study no
        longer has) are deleted in the same transaction."""
        ref = rec.ref.study_ref
        wanted = indexed_values(rec)
        sks = [keys.value_sk(k, v) for k, v in wanted]
        current = self._table.get(study_key(ref), consistent=True) or {}
        stale = [sk for sk in current.get("idx_sks", []) if sk not in sks]
        ops = [self._items.entry_put(ref, k, v) for k, v in wanted]
        ops += [self._items.delete((keys.study_pk(ref), sk)) for sk in stale]
        return ops, sks

    # --- indexing ---------------------------------------------------------------------------

    def index_instance(self, record: InstanceRecord) -> str:
        """Make the catalog hold ``record``: 'created', 'replaced' or 'unchanged'.
        Idempotent."""
        items = self._items
        for attempt in range(_MAX_ATTEMPTS):
            try:
                self._table.transact(
                    [
                        items.instance_put(record, new=True),
                        items.series_update(record, count=1),
                        items.study_update(record, instances=1),
                    ]
                )
                return "created"
            except ClientError as exc:
                if not aws_errors.is_canceled(exc):
                    raise
                codes = aws_errors.cancellation_codes(exc) + ["None"] * 3
            try:
                if codes[0] == CONDITION_FAILED:
                    # stored again before the indexer cleaned up after a series or study
                    # DELETE: the item left behind goes, and the instance is created anew
                    if self.drop_left_behind(record.ref):
                        continue
                    return self._replace(record)
                if codes[1] == CONDITION_FAILED:
                    return self._create_series(record)
                if codes[2] == CONDITION_FAILED:
                    self._reindex_values(record)
                    continue
            except ClientError as exc:
                if not aws_errors.is_canceled(exc):
                    raise
            # a concurrent writer got there first, or a TransactionConflict
            backoff(attempt, self._clock)
        raise CatalogContention(
            aws_errors.TRANSACTION_CANCELED,
            f"instance {record.ref.sop} not indexed after retries",
        )

    def index_new_batch(self, records: Sequence[InstanceRecord]) -> bool:
        """Create instances of one series at once, in one transaction: their items, the
        series' and the study's counters moved once by ``len(records)``. True when done; False
        (nothing written) when it does not apply: a series or study not yet there, an instance
        already there, the study's indexed values changed, a conflict. The caller then indexes
        each with ``index_instance``, which handles every case."""
        series, signature = records[0].ref.series_ref, value_signature(records[0])
        if len(records) > MAX_BATCH or any(
            r.ref.series_ref != series or value_signature(r) != signature for r in records
        ):
            return False
        items = self._items
        last = records[-1]
        writes = [
            *(items.instance_put(r, new=True) for r in records),
            items.series_update(last, count=len(records)),
            items.study_update(last, instances=len(records)),
        ]
        for attempt in range(BATCH_ATTEMPTS):
            try:
                self._table.transact(writes)
                return True
            except ClientError as exc:
                if not aws_errors.is_canceled(exc):
                    raise
                if CONDITION_FAILED in aws_errors.cancellation_codes(exc):
                    return False  # it does not fit: retrying cannot change that
            backoff(attempt, self._clock)  # a conflict with another writer: again
        return False

    def _replace(self, rec: InstanceRecord) -> str:
        """The instance exists: a re-store ('replaced', attributes, not counts), or the same
        object again, a repeated event ('unchanged': nothing is written)."""
        current = self._table.get(instance_key(rec.ref), consistent=True)
        if current is not None and current.get("etag") == rec.object.etag:
            if rec.object.version_id and current.get("version_id") != rec.object.version_id:
                # the same bytes written again (a redelivered import copies them anew): keep
                # the catalog naming S3's current version, without a change to report
                try:
                    self._table.update(
                        (current["pk"], current["sk"]),
                        "SET version_id = :v",
                        ConditionExpression="etag = :e",
                        ExpressionAttributeValues={
                            ":v": av(rec.object.version_id),
                            ":e": av(rec.object.etag),
                        },
                    )
                except ClientError as exc:  # replaced meanwhile: that write's event follows
                    if not aws_errors.is_condition_failed(exc):
                        raise
            if current.get("kv") != keys.LIST_KEYS_VERSION:
                self._rekey(rec)
            return "unchanged"
        ops, sks = self._value_entries(rec)
        self._table.transact(
            [
                self._items.instance_put(rec, new=False),
                self._items.series_update(rec, count=0),
                self._items.study_update(rec, entry_sks=sks),
                *ops,
            ]
        )
        return "replaced"

    def _rekey(self, rec: InstanceRecord) -> None:
        """Write the listing keys on an instance item (and its series item) indexed before
        them: the backfill ``cli reindex`` runs (issue 24). Conditional on the instance being
        the one read (a re-store meanwhile writes its own keys), and on the series existing
        without the keys (its other instances find it re-keyed: no write to its indexes)."""
        stale = "attribute_exists(pk) AND (attribute_not_exists(kv) OR kv <> :kv)"
        for key, level, condition, values in (
            (instance_key(rec.ref), keys.INSTANCE_LEVEL, "etag = :e", {":e": av(rec.object.etag)}),
            (series_key(rec.ref), keys.SERIES_LEVEL, stale, {}),
        ):
            sets, removes, listed = listing_update(rec, level)
            try:
                self._table.update(
                    key,
                    f"SET {sets}" + (f" REMOVE {removes}" if removes else ""),
                    ConditionExpression=condition,
                    ExpressionAttributeValues=listed | values,
                )
            except ClientError as exc:
                if not aws_errors.is_condition_failed(exc):
                    raise

    def _create_series(self, rec: InstanceRecord) -> str:
        items = self._items
        ops, sks = self._value_entries(rec)
        modality = (
            [items.entry_put(rec.ref.study_ref, MODALITIES, rec.modality)] if rec.modality else []
        )
        self._table.transact(
            [
                items.instance_put(rec, new=True),
                items.series_create(rec),
                items.study_update(rec, instances=1, series=1, new_series=True, entry_sks=sks),
                *ops,
                *modality,
            ]
        )
        return "created"

    def _reindex_values(self, rec: InstanceRecord) -> None:
        """The study's indexed values changed (or the study is new): rewrite its entries."""
        ops, sks = self._value_entries(rec)
        self._table.transact([self._items.study_update(rec, entry_sks=sks), *ops])

    # --- removal (``catalog_removal.py``) ---------------------------------------------------

    def remove_instance(self, ref: InstanceRef) -> bool:
        return self._removal.remove_instance(ref)

    def remove_series(self, ref: SeriesRef) -> bool:
        return self._removal.remove_series(ref)

    def remove_study(self, ref: StudyRef) -> bool:
        return self._removal.remove_study(ref)

    def drop_left_behind(self, ref: InstanceRef) -> bool:
        return self._removal.drop_left_behind(ref)
