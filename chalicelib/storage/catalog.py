"""The DynamoDB catalog: schema in ``schema.py``, keys in ``keys.py``, writes here, reads in
``catalog_reads.py``.

Counts (NumberOfStudyRelatedSeries/Instances, NumberOfSeriesRelatedInstances) and
ModalitiesInStudy are kept exact with transactions and condition expressions, never by
read-modify-write: an instance item is created only if absent, and the counters move in the
same transaction. The study's value-index entries (PatientID, AccessionNumber,
StudyDescription, PatientName and its words, modalities) are rewritten only when the indexed
values change: the study item keeps a signature of them, and the per-instance transaction is
conditional on it. Item size stays far below DynamoDB's 400 KB: items hold the fixed attribute
lists of ``dicomweb/attributes.py`` with long values left out.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.dicomweb.dicomjson import first_value
from chalicelib.dicomweb.resources import InstanceRef, SeriesRef, StudyRef
from chalicelib.services.ports import InstanceRecord
from chalicelib.storage import keys
from chalicelib.storage.catalog_reads import CatalogReads, av, backoff, to_item

_MAX_ATTEMPTS = 10
MODALITIES = "ModalitiesInStudy"


class CatalogContention(Exception):
    """The catalog stayed contended after every retry (the message will be redelivered)."""


def _cancel_codes(exc: ClientError) -> list[str]:
    reasons = exc.response.get("CancellationReasons") or []
    return [r.get("Code", "None") for r in reasons]


def _canceled(exc: ClientError) -> bool:
    return bool(exc.response["Error"]["Code"] == "TransactionCanceledException")


def sort_date(date: str, time_: str) -> str:
    d = (date or "").strip()[:8].ljust(8, "0")
    t = (time_ or "").strip().replace(":", "").split(".")[0][:6].ljust(6, "0")
    return d + t


def normalize_name(name: str) -> str:
    """Person names are matched case-insensitively: upper-case, trailing empty components off."""
    return name.strip().upper().rstrip("^=")


def name_words(name: str) -> list[str]:
    words = {w for w in normalize_name(name).replace("=", "^").replace(" ", "^").split("^") if w}
    return sorted(words)


def indexed_values(rec: InstanceRecord) -> list[tuple[str, str]]:
    """(keyword, value) pairs of the study's value index, modalities excluded."""
    pairs = [
        ("PatientID", rec.patient_id),
        ("AccessionNumber", rec.accession),
        ("StudyDescription", rec.study_description),
    ]
    if rec.patient_name:
        pairs.append(("PatientName", normalize_name(rec.patient_name)))
        pairs.extend(("PatientNameWord", w) for w in name_words(rec.patient_name))
    return [(k, v) for k, v in pairs if v]


def value_signature(rec: InstanceRecord) -> str:
    return hashlib.sha256(json.dumps(indexed_values(rec)).encode()).hexdigest()[:16]


class DynamoCatalog(CatalogReads):
    """Implements ``services.ports.Catalog`` on one DynamoDB table."""

    def __init__(self, client: Any, table: str) -> None:
        self._db = client
        self._table = table

    def _transact(self, items: list[dict[str, Any]]) -> None:
        self._db.transact_write_items(TransactItems=items)

    # --- transaction items ------------------------------------------------------------------

    def _instance_put(self, rec: InstanceRecord, *, new: bool) -> dict[str, Any]:
        ref = rec.ref
        put: dict[str, Any] = {
            "TableName": self._table,
            "Item": to_item(
                {
                    "pk": keys.study_pk(ref),
                    "sk": keys.instance_sk(ref.series, ref.sop),
                    "tenant": ref.tenant,
                    "uid_pk": keys.uid_pk(ref.tenant, ref.sop),
                    "uid_sk": f"INSTANCE#{ref.study}#{ref.series}",
                    "dicom": json.dumps(rec.instance_attrs, separators=(",", ":")),
                    "ts": rec.transfer_syntax,
                    "size": rec.object.size,
                    "etag": rec.object.etag,
                    "object_key": rec.object.key,
                    "version_id": rec.object.version_id,
                    "indexed_at": datetime.now(UTC).isoformat(),
                    "frames": rec.frames,
                    "frames_enc": rec.frames_encapsulated if rec.frames is not None else None,
                    "px_off": rec.pixel_offset,
                }
            ),
        }
        if new:
            put["ConditionExpression"] = "attribute_not_exists(pk)"
        return {"Put": put}

    def _series_values(self, rec: InstanceRecord) -> dict[str, Any]:
        ref = rec.ref
        return {
            ":dicom": av(json.dumps(rec.series_attrs, separators=(",", ":"))),
            ":tenant": av(ref.tenant),
            ":uid_pk": av(keys.uid_pk(ref.tenant, ref.series)),
            ":uid_sk": av(f"SERIES#{ref.study}"),
            ":modality": av(rec.modality or ""),
        }

    _SERIES_SET = (
        "SET dicom = :dicom, tenant = :tenant, uid_pk = :uid_pk, uid_sk = :uid_sk, "
        "modality = :modality"
    )

    def _series_update(self, rec: InstanceRecord, *, count: bool) -> dict[str, Any]:
        values = self._series_values(rec) | {":one": av(1)}
        expr = self._SERIES_SET + " ADD meta_v :one"
        if count:
            expr += ", n_instances :one"
        return {
            "Update": {
                "TableName": self._table,
                "Key": to_item(
                    {"pk": keys.study_pk(rec.ref), "sk": keys.series_sk(rec.ref.series)}
                ),
                "UpdateExpression": expr,
                "ConditionExpression": "attribute_exists(pk)",
                "ExpressionAttributeValues": values,
            }
        }

    def _series_create(self, rec: InstanceRecord) -> dict[str, Any]:
        item = {k[1:]: v for k, v in self._series_values(rec).items()}
        item |= to_item(
            {
                "pk": keys.study_pk(rec.ref),
                "sk": keys.series_sk(rec.ref.series),
                "n_instances": 1,
                "meta_v": 1,
            }
        )
        return {
            "Put": {
                "TableName": self._table,
                "Item": item,
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }

    def _study_update(
        self,
        rec: InstanceRecord,
        *,
        instances: int = 0,
        series: int = 0,
        new_series: bool = False,
        entry_sks: list[str] | None = None,
    ) -> dict[str, Any]:
        """SET the study's attributes and ADD to its counters. Unless ``entry_sks`` is given
        (the value entries are rewritten in the same transaction), it is conditional on the
        value signature: a study whose indexed values changed fails it (see index_instance)."""
        ref = rec.ref
        values = {
            ":dicom": av(json.dumps(rec.study_attrs, separators=(",", ":"))),
            ":tenant": av(ref.tenant),
            ":date_pk": av(keys.date_pk(ref.tenant, "STUDY")),
            ":date_sk": av(f"{sort_date(rec.study_date, rec.study_time)}#{ref.study}"),
            ":sig": av(value_signature(rec)),
        }
        expr = "SET dicom = :dicom, tenant = :tenant, date_pk = :date_pk, date_sk = :date_sk"
        update: dict[str, Any] = {
            "TableName": self._table,
            "Key": to_item({"pk": keys.study_pk(ref), "sk": keys.STUDY_SK}),
            "ExpressionAttributeValues": values,
        }
        if entry_sks is None:
            update["ConditionExpression"] = "idx_sig = :sig"
        else:
            expr += ", idx_sig = :sig, idx_sks = :sks"
            values[":sks"] = {"L": [av(sk) for sk in entry_sks]}
        adds = []
        if instances:
            adds.append("n_instances :ni")
            values[":ni"] = av(instances)
        if series:
            adds.append("n_series :ns")
            values[":ns"] = av(series)
        if new_series and rec.modality:
            adds.append("modalities :mod")
            values[":mod"] = {"SS": [rec.modality]}
        if adds:
            expr += " ADD " + ", ".join(adds)
        update["UpdateExpression"] = expr
        return {"Update": update}

    def _entry_put(self, ref: StudyRef, keyword: str, value: str) -> dict[str, Any]:
        return {
            "Put": {
                "TableName": self._table,
                "Item": to_item(
                    {
                        "pk": keys.study_pk(ref),
                        "sk": keys.value_sk(keyword, value),
                        "tenant": ref.tenant,
                        "val_pk": keys.value_pk(ref.tenant, keyword),
                        "val_sk": keys.value_index_sk(value, ref.study),
                    }
                ),
            }
        }

    def _delete(self, pk: str, sk: str) -> dict[str, Any]:
        return {"Delete": {"TableName": self._table, "Key": to_item({"pk": pk, "sk": sk})}}

    def _value_entries(self, rec: InstanceRecord) -> tuple[list[dict[str, Any]], list[str]]:
        """Puts for the value entries, and their sort keys; stale entries (values the study no
        longer has) are deleted in the same transaction."""
        ref = rec.ref.study_ref
        wanted = indexed_values(rec)
        sks = [keys.value_sk(k, v) for k, v in wanted]
        current = self.get_item(keys.study_pk(ref), keys.STUDY_SK, consistent=True) or {}
        stale = [sk for sk in current.get("idx_sks", []) if sk not in sks]
        ops = [self._entry_put(ref, k, v) for k, v in wanted]
        ops += [self._delete(keys.study_pk(ref), sk) for sk in stale]
        return ops, sks

    # --- indexing ---------------------------------------------------------------------------

    def index_instance(self, record: InstanceRecord) -> str:
        """Make the catalog hold ``record``: 'created' or 'replaced'. Idempotent."""
        for attempt in range(_MAX_ATTEMPTS):
            try:
                self._transact(
                    [
                        self._instance_put(record, new=True),
                        self._series_update(record, count=True),
                        self._study_update(record, instances=1),
                    ]
                )
                return "created"
            except ClientError as exc:
                if not _canceled(exc):
                    raise
                codes = _cancel_codes(exc) + ["None"] * 3
            try:
                if codes[0] == "ConditionalCheckFailed":
                    return self._replace(record)
                if codes[1] == "ConditionalCheckFailed":
                    return self._create_series(record)
                if codes[2] == "ConditionalCheckFailed":
                    self._reindex_values(record)
                    continue
            except ClientError as exc:
                if not _canceled(exc):
                    raise
            backoff(attempt)  # a concurrent writer got there first, or a TransactionConflict
        raise CatalogContention(f"instance {record.ref.sop} not indexed after retries")

    def _replace(self, rec: InstanceRecord) -> str:
        """The instance exists: a re-store ('replaced', attributes, not counts), or the same
        object again, a repeated event ('unchanged': nothing is written)."""
        current = self.get_item(
            keys.study_pk(rec.ref), keys.instance_sk(rec.ref.series, rec.ref.sop), consistent=True
        )
        if current is not None and current.get("etag") == rec.object.etag:
            if rec.object.version_id and current.get("version_id") != rec.object.version_id:
                # the same bytes written again (a redelivered import copies them anew): keep
                # the catalog naming S3's current version, without a change to report
                try:
                    self._db.update_item(
                        TableName=self._table,
                        Key=to_item({"pk": current["pk"], "sk": current["sk"]}),
                        UpdateExpression="SET version_id = :v",
                        ConditionExpression="etag = :e",
                        ExpressionAttributeValues={
                            ":v": av(rec.object.version_id),
                            ":e": av(rec.object.etag),
                        },
                    )
                except ClientError as exc:  # replaced meanwhile: that write's event follows
                    if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                        raise
            return "unchanged"
        ops, sks = self._value_entries(rec)
        self._transact(
            [
                self._instance_put(rec, new=False),
                self._series_update(rec, count=False),
                self._study_update(rec, entry_sks=sks),
                *ops,
            ]
        )
        return "replaced"

    def _create_series(self, rec: InstanceRecord) -> str:
        ops, sks = self._value_entries(rec)
        modality = (
            [self._entry_put(rec.ref.study_ref, MODALITIES, rec.modality)] if rec.modality else []
        )
        self._transact(
            [
                self._instance_put(rec, new=True),
                self._series_create(rec),
                self._study_update(rec, instances=1, series=1, new_series=True, entry_sks=sks),
                *ops,
                *modality,
            ]
        )
        return "created"

    def _reindex_values(self, rec: InstanceRecord) -> None:
        """The study's indexed values changed (or the study is new): rewrite its entries."""
        ops, sks = self._value_entries(rec)
        self._transact([self._study_update(rec, entry_sks=sks), *ops])

    # --- removal ----------------------------------------------------------------------------

    def remove_instance(self, ref: InstanceRef) -> bool:
        """Remove an instance and keep the counts exact; False when it was not catalogued."""
        pk = keys.study_pk(ref)
        try:
            self._transact(
                [
                    {
                        "Delete": {
                            "TableName": self._table,
                            "Key": to_item({"pk": pk, "sk": keys.instance_sk(ref.series, ref.sop)}),
                            "ConditionExpression": "attribute_exists(pk)",
                        }
                    },
                    self._counter(pk, keys.series_sk(ref.series), "n_instances", -1, bump=True),
                    self._counter(pk, keys.STUDY_SK, "n_instances", -1),
                ]
            )
        except ClientError as exc:
            if _canceled(exc) and _cancel_codes(exc)[:1] == ["ConditionalCheckFailed"]:
                return False
            raise
        self._drop_empty_series(ref.series_ref)
        self._drop_empty_study(ref.study_ref)
        return True

    def _counter(
        self, pk: str, sk: str, name: str, delta: int, bump: bool = False
    ) -> dict[str, Any]:
        values = {":d": av(delta)}
        expression = f"ADD {name} :d"
        if bump:  # a series changed: its metadata document is stale
            expression += ", meta_v :one"
            values[":one"] = av(1)
        return {
            "Update": {
                "TableName": self._table,
                "Key": to_item({"pk": pk, "sk": sk}),
                "UpdateExpression": expression,
                "ConditionExpression": "attribute_exists(pk)",
                "ExpressionAttributeValues": values,
            }
        }

    def _drop_empty_series(self, ref: SeriesRef) -> None:
        pk = keys.study_pk(ref)
        try:
            self._transact(
                [
                    {
                        "Delete": {
                            "TableName": self._table,
                            "Key": to_item({"pk": pk, "sk": keys.series_sk(ref.series)}),
                            "ConditionExpression": "n_instances <= :zero",
                            "ExpressionAttributeValues": {":zero": av(0)},
                        }
                    },
                    self._counter(pk, keys.STUDY_SK, "n_series", -1),
                ]
            )
        except ClientError as exc:
            if _canceled(exc):
                return  # the series still has instances (or is gone already)
            raise
        self._refresh_modalities(ref.study_ref)

    def _refresh_modalities(self, ref: StudyRef) -> None:
        """After a series is removed: ModalitiesInStudy from the series that remain."""
        pk = keys.study_pk(ref)
        remaining = {
            str(m)
            for s in self.iter_series(ref, consistent=True)
            if (m := first_value(json.loads(s.get("dicom", "{}")), "Modality"))
        }
        prefix = keys.value_sk(MODALITIES, "")
        for entry in self.iter_partition(pk, prefix, consistent=True):
            if keys.unescape_value(entry["sk"][len(prefix) :]) not in remaining:
                self._db.delete_item(
                    TableName=self._table, Key=to_item({"pk": pk, "sk": entry["sk"]})
                )
        expression = "SET modalities = :m" if remaining else "REMOVE modalities"
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "Key": to_item({"pk": pk, "sk": keys.STUDY_SK}),
            "UpdateExpression": expression,
            "ConditionExpression": "attribute_exists(pk)",
        }
        if remaining:
            kwargs["ExpressionAttributeValues"] = {":m": {"SS": sorted(remaining)}}
        try:
            self._db.update_item(**kwargs)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def _drop_empty_study(self, ref: StudyRef) -> None:
        pk = keys.study_pk(ref)
        try:
            self._db.delete_item(
                TableName=self._table,
                Key=to_item({"pk": pk, "sk": keys.STUDY_SK}),
                ConditionExpression="n_instances <= :zero",
                ExpressionAttributeValues={":zero": av(0)},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return
            raise
        for entry in list(self.iter_partition(pk, keys.VALUE_SK_PREFIX, consistent=True)):
            self._db.delete_item(TableName=self._table, Key=to_item({"pk": pk, "sk": entry["sk"]}))
