"""Removal from the catalog: an instance the indexer finds absent in S3, and a DELETE's one
change at series or study level.

A series or study DELETE removes the series item (or the study item and its series items) in
one TransactWriteItems, leaving per series a tombstone item that counts the instance items the
indexer has still to remove; reads hide what a tombstone covers (``catalog_reads.hidden_by``).
The indexer's removals then take those items away one by one, the last with its tombstone,
without touching counts the DELETE already moved: the catalog converges to a rebuild from S3.
Counts stay exact with transactions and condition expressions, as in ``catalog.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.clock import Clock
from chalicelib.dicomweb.dicomjson import first_value
from chalicelib.dicomweb.resources import InstanceRef, SeriesRef, StudyRef
from chalicelib.services.ports import CatalogContention
from chalicelib.storage import aws_errors, keys
from chalicelib.storage.aws_errors import raises_storage_errors
from chalicelib.storage.catalog_items import MODALITIES, CatalogItems, TransactItem
from chalicelib.storage.catalog_reads import (
    GONE_AT,
    LEFT,
    CatalogReads,
    hidden_by,
    instance_key,
    series_key,
    study_key,
    tombstone_key,
)
from chalicelib.storage.dynamo import DynamoTable, Key, av, backoff, to_item

_MAX_ATTEMPTS = 10
CONDITION_FAILED = aws_errors.CONDITION_FAILED_REASON


@raises_storage_errors
class CatalogRemoval:
    """The removal side of ``DynamoCatalog`` (which delegates to it)."""

    def __init__(
        self, table: DynamoTable, items: CatalogItems, reads: CatalogReads, clock: Clock
    ) -> None:
        self._table = table
        self._items = items
        self.reads = reads
        self._clock = clock

    # --- removal ----------------------------------------------------------------------------

    def remove_instance(self, ref: InstanceRef) -> bool:
        """Remove an instance and keep the counts exact; False when it was not catalogued.

        An instance item a series or study DELETE left behind (its series item gone, or its
        series' tombstone newer than it) was already subtracted from the counts by that
        DELETE: it goes with one less on its tombstone, the counts untouched. The transaction
        of a counted instance checks that no tombstone exists, so an item left behind is never
        counted off a series re-created since (one more transaction item: 2 WRU)."""
        guarded = True
        for attempt in range(_MAX_ATTEMPTS):
            ops = [
                self._items.delete(instance_key(ref), "attribute_exists(pk)"),
                self._items.counter(series_key(ref), "n_instances", -1, bump=True),
                self._items.counter(study_key(ref), "n_instances", -1),
            ]
            if guarded:
                ops.append(self._check_absent(tombstone_key(ref)))
            try:
                self._table.transact(ops)
            except ClientError as exc:
                if not aws_errors.is_canceled(exc):
                    raise
                codes = aws_errors.cancellation_codes(exc) + ["None"] * 4
                if codes[0] == CONDITION_FAILED:
                    return False
                series_gone = codes[1] == CONDITION_FAILED
                if series_gone or codes[3] == CONDITION_FAILED:  # or a tombstone exists
                    outcome = self._remove_left_behind(ref, series_gone)
                    if outcome in ("removed", "absent"):
                        return outcome == "removed"
                    if outcome == "counted":  # indexed into its series re-created since
                        guarded = False
                        continue
                backoff(attempt, self._clock)  # a concurrent writer, a TransactionConflict
                continue
            self._drop_empty_series(ref.series_ref)
            self._drop_empty_study(ref.study_ref)
            return True
        raise CatalogContention(
            aws_errors.TRANSACTION_CANCELED, f"instance {ref.sop} not removed after retries"
        )

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
            if not aws_errors.is_canceled(exc):
                raise
            if aws_errors.cancellation_codes(exc)[:2] != ["None", CONDITION_FAILED]:
                return  # the series still has instances (or is gone already)
            try:  # an empty series whose study is gone: it goes too
                self._table.delete(
                    series_key(ref),
                    ConditionExpression="n_instances <= :zero",
                    ExpressionAttributeValues={":zero": av(0)},
                )
            except ClientError as missing:
                if not aws_errors.is_condition_failed(missing):
                    raise
            return
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
        self._drop_value_entries(ref)

    # --- what a DELETE left behind, and the DELETE of a series or a study -------------------

    def _remove_left_behind(self, ref: InstanceRef, series_gone: bool) -> str:
        """Remove an instance item a series or study DELETE left behind, one less on its
        tombstone (the tombstone goes with the last): 'removed', 'absent' (gone already),
        'counted' (indexed into its series re-created after the DELETE: not left behind) or
        'retry' (it changed meanwhile)."""
        item = self._table.get(instance_key(ref), consistent=True)
        if item is None:
            return "absent"
        tombstone = self._table.get(tombstone_key(ref), consistent=True)
        covered = hidden_by(item, tombstone)
        if not (covered or series_gone):
            return "counted"
        condition = "indexed_at = :t" if "indexed_at" in item else "attribute_exists(pk)"
        values = {"t": item["indexed_at"]} if "indexed_at" in item else {}
        same = self._items.delete(instance_key(ref), condition, **values)
        # not hidden but its series gone: it cannot be newer than the DELETE (creating it would
        # have created the series), so it is one the tombstone counts; say the series is gone
        checks = [] if covered else [self._check_absent(series_key(ref))]
        try:
            if tombstone is None:
                self._table.transact([same, *checks])
                return "removed"
            try:
                self._table.transact([same, self._one_less(ref), *checks])
            except ClientError as exc:
                if aws_errors.cancellation_codes(exc)[1:2] != [CONDITION_FAILED]:
                    raise
                last = self._items.delete(tombstone_key(ref), f"{LEFT} <= :one", one=1)
                self._table.transact([same, last, *checks])
        except ClientError as exc:
            if aws_errors.is_canceled(exc):
                return "retry"
            raise
        return "removed"

    def remove_series(self, ref: SeriesRef) -> bool:
        """A series DELETE as one transaction that every read honours at once: the series item
        goes, the study's counts drop by the series' own (exact: the transaction is conditional
        on the series as it was read), and the series' tombstone hides its instance items until
        the indexer, following S3's ObjectRemoved events, removes them (``remove_instance``).
        Then ModalitiesInStudy, and the study itself if it was its last series. False when the
        series is not catalogued."""
        for attempt in range(_MAX_ATTEMPTS):
            item = self._table.get(series_key(ref), consistent=True)
            if item is None:
                return False
            gone = self._series_gone(ref, item, _now())
            counts = self._study_counts(ref.study_ref, -1, -int(item.get("n_instances", 0)))
            try:
                self._table.transact([*gone, counts])
            except ClientError as exc:
                if not aws_errors.is_canceled(exc):
                    raise
                backoff(attempt, self._clock)  # the series changed since it was read
                continue
            self._refresh_modalities(ref.study_ref)
            self._drop_empty_study(ref.study_ref)
            return True
        raise CatalogContention(aws_errors.TRANSACTION_CANCELED, "series not removed")

    def remove_study(self, ref: StudyRef) -> bool:
        """A study DELETE: its study item and series items go in one transaction (with the
        series' tombstones) when it has at most ``SERIES_PER_TRANSACTION`` series; a larger
        study loses them in several, each leaving a consistent catalog (the study's counts
        drop by the series removed, as if they were deleted one by one), the study item with
        the last. Then its value-index entries. False when the study is not catalogued."""
        removed = False
        failures = 0
        while True:
            study = self._table.get(study_key(ref), consistent=True)
            series = list(
                self._table.partition(keys.study_pk(ref), keys.SERIES_SK_PREFIX, consistent=True)
            )
            if study is None and not series:
                break
            chunk, at = series[:SERIES_PER_TRANSACTION], _now()
            ops = [
                op
                for s in chunk
                for op in self._series_gone(keys.series_of(s["pk"], s["sk"]), s, at)
            ]
            last = len(series) <= SERIES_PER_TRANSACTION
            if study is not None and last:  # no other series: checked by the study's count
                ops.append(self._items.delete(study_key(ref), "n_series = :k", k=len(chunk)))
            elif study is not None:
                gone_instances = sum(int(s.get("n_instances", 0)) for s in chunk)
                ops.append(self._study_counts(ref, -len(chunk), -gone_instances))
            try:
                self._table.transact(ops)
            except ClientError as exc:
                if not aws_errors.is_canceled(exc):
                    raise
                failures += 1
                if failures >= _MAX_ATTEMPTS:
                    raise CatalogContention(
                        aws_errors.TRANSACTION_CANCELED, "study not removed"
                    ) from exc
                backoff(failures, self._clock)  # it changed since it was read
                continue
            removed = True
            if last:
                break
        return self._drop_value_entries(ref) or removed

    def _series_gone(self, ref: SeriesRef, item: dict[str, Any], at: str) -> list[TransactItem]:
        """Delete a series item as it was read (its count and metadata version unchanged) and
        leave its tombstone: ``gone_at`` and how many instance items are left to remove."""
        count = int(item.get("n_instances", 0))
        version = (
            ("meta_v = :v", {"v": item["meta_v"]})
            if "meta_v" in item
            else ("attribute_not_exists(meta_v)", {})
        )
        ops = [
            self._items.delete(
                series_key(ref), f"n_instances = :n AND {version[0]}", n=count, **version[1]
            )
        ]
        if count > 0:
            pk, sk = tombstone_key(ref)
            ops.append(
                {
                    "Update": {
                        "TableName": self._table.name,
                        "Key": to_item({"pk": pk, "sk": sk}),
                        "UpdateExpression": f"SET {GONE_AT} = :at ADD {LEFT} :n",
                        "ExpressionAttributeValues": {":at": av(at), ":n": av(count)},
                    }
                }
            )
        return ops

    def _study_counts(self, ref: StudyRef, series: int, instances: int) -> TransactItem:
        pk, sk = study_key(ref)
        return {
            "Update": {
                "TableName": self._table.name,
                "Key": to_item({"pk": pk, "sk": sk}),
                "UpdateExpression": "ADD n_series :s, n_instances :i",
                "ConditionExpression": "attribute_exists(pk)",
                "ExpressionAttributeValues": {":s": av(series), ":i": av(instances)},
            }
        }

    def _one_less(self, ref: InstanceRef) -> TransactItem:
        """One instance item fewer left behind, while others remain."""
        pk, sk = tombstone_key(ref)
        return {
            "Update": {
                "TableName": self._table.name,
                "Key": to_item({"pk": pk, "sk": sk}),
                "UpdateExpression": f"ADD {LEFT} :minus",
                "ConditionExpression": f"{LEFT} > :one",
                "ExpressionAttributeValues": {":minus": av(-1), ":one": av(1)},
            }
        }

    def _check_absent(self, key: Key) -> TransactItem:
        pk, sk = key
        return {
            "ConditionCheck": {
                "TableName": self._table.name,
                "Key": to_item({"pk": pk, "sk": sk}),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }

    def _drop_value_entries(self, ref: StudyRef) -> bool:
        """The value-index entries of a study that is gone; True if there were any."""
        pk = keys.study_pk(ref)
        entries = list(self._table.partition(pk, keys.VALUE_SK_PREFIX, consistent=True))
        for entry in entries:
            self._table.delete((pk, entry["sk"]))
        return bool(entries)

    def drop_left_behind(self, ref: InstanceRef) -> bool:
        """If the instance's item is one a series or study DELETE left behind (its series gone,
        or hidden by its series' tombstone: counted nowhere), remove it; True when it did.
        For the indexing of an instance stored again before the clean-up reached it: its item
        exists, but it must be created anew and counted, not replaced."""
        for attempt in range(_MAX_ATTEMPTS):
            series_gone = self._table.get(series_key(ref), consistent=True) is None
            outcome = self._remove_left_behind(ref, series_gone)
            if outcome != "retry":
                return outcome == "removed"
            backoff(attempt, self._clock)
        raise CatalogContention(aws_errors.TRANSACTION_CANCELED, "instance not dropped")


#: Series removed per transaction by a study DELETE: two items each (the series and its
#: tombstone) and the study's, within TransactWriteItems' 100 items.
SERIES_PER_TRANSACTION = 49


def _now() -> str:
    """When a DELETE happened, as the catalog writes ``indexed_at`` (compared with it)."""
    return datetime.now(UTC).isoformat()
