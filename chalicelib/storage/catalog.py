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

from typing import Any

from botocore.exceptions import ClientError

from chalicelib.clock import SYSTEM, Clock
from chalicelib.dicomweb.dicomjson import first_value
from chalicelib.dicomweb.resources import InstanceRef, SeriesRef, StudyRef
from chalicelib.services.ports import (
    CatalogContention,
    InstanceRecord,
)
from chalicelib.storage import aws_errors, keys
from chalicelib.storage.aws_errors import raises_storage_errors
from chalicelib.storage.catalog_items import MODALITIES, CatalogItems, indexed_values
from chalicelib.storage.catalog_reads import CatalogReads, instance_key, series_key, study_key
from chalicelib.storage.dynamo import DynamoTable, av, backoff
from chalicelib.storage.schema import CATALOG_INDEXES

_MAX_ATTEMPTS = 10
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
                        items.series_update(record, count=True),
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
            return "unchanged"
        ops, sks = self._value_entries(rec)
        self._table.transact(
            [
                self._items.instance_put(rec, new=False),
                self._items.series_update(rec, count=False),
                self._items.study_update(rec, entry_sks=sks),
                *ops,
            ]
        )
        return "replaced"

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

    # --- removal ----------------------------------------------------------------------------

    def remove_instance(self, ref: InstanceRef) -> bool:
        """Remove an instance and keep the counts exact; False when it was not catalogued."""
        items = self._items
        try:
            self._table.transact(
                [
                    items.delete(instance_key(ref), "attribute_exists(pk)"),
                    items.counter(series_key(ref), "n_instances", -1, bump=True),
                    items.counter(study_key(ref), "n_instances", -1),
                ]
            )
        except ClientError as exc:
            if aws_errors.cancellation_codes(exc)[:1] == [CONDITION_FAILED]:
                return False
            raise
        self._drop_empty_series(ref.series_ref)
        self._drop_empty_study(ref.study_ref)
        return True

    def _drop_empty_series(self, ref: SeriesRef) -> None:
        items = self._items
        try:
            self._table.transact(
                [
                    items.delete(series_key(ref), "n_instances <= :zero", zero=0),
                    items.counter(study_key(ref), "n_series", -1),
                ]
            )
        except ClientError as exc:
            if aws_errors.is_canceled(exc):
                return  # the series still has instances (or is gone already)
            raise
        self._refresh_modalities(ref.study_ref)

    def _refresh_modalities(self, ref: StudyRef) -> None:
        """After a series is removed: ModalitiesInStudy from the series that remain."""
        pk = keys.study_pk(ref)
        remaining = {
            str(m)
            for s in self.reads.iter_series(ref, consistent=True)
            if (m := first_value(s.attrs, "Modality"))
        }
        prefix = keys.value_sk(MODALITIES, "")
        for entry in self._table.partition(pk, prefix, consistent=True):
            if keys.unescape_value(entry["sk"][len(prefix) :]) not in remaining:
                self._table.delete((pk, entry["sk"]))
        kwargs: dict[str, Any] = {"ConditionExpression": "attribute_exists(pk)"}
        if remaining:
            kwargs["ExpressionAttributeValues"] = {":m": {"SS": sorted(remaining)}}
        expression = "SET modalities = :m" if remaining else "REMOVE modalities"
        try:
            self._table.update(study_key(ref), expression, **kwargs)
        except ClientError as exc:
            if not aws_errors.is_condition_failed(exc):
                raise

    def _drop_empty_study(self, ref: StudyRef) -> None:
        try:
            self._table.delete(
                study_key(ref),
                ConditionExpression="n_instances <= :zero",
                ExpressionAttributeValues={":zero": av(0)},
            )
        except ClientError as exc:
            if aws_errors.is_condition_failed(exc):
                return
            raise
        pk = keys.study_pk(ref)
        for entry in list(self._table.partition(pk, keys.VALUE_SK_PREFIX, consistent=True)):
            self._table.delete((pk, entry["sk"]))
