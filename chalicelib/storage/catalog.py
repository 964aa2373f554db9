"""The DynamoDB catalog: schema in ``schema.py``, keys in ``keys.py``, access patterns here.

Counts (NumberOfStudyRelatedSeries/Instances, NumberOfSeriesRelatedInstances) and
ModalitiesInStudy are kept exact with transactions and condition expressions, never by
read-modify-write: an instance item is created only if absent, and the counters move in the
same transaction. Item size stays far below DynamoDB's 400 KB: items hold the fixed attribute
lists of ``dicomweb/attributes.py`` with long values left out.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from chalicelib.dicomweb.dicomjson import first_value
from chalicelib.dicomweb.resources import InstanceRef, SeriesRef, StudyRef
from chalicelib.services.ports import InstanceEntry, InstanceRecord, SeriesEntry, StudyEntry
from chalicelib.storage import keys

_ser = TypeSerializer()
_de = TypeDeserializer()
_MAX_ATTEMPTS = 10


class CatalogContention(Exception):
    """The catalog stayed contended after every retry (the message will be redelivered)."""


def _av(value: Any) -> dict[str, Any]:
    serialized: dict[str, Any] = _ser.serialize(value)
    return serialized


def _item(values: dict[str, Any]) -> dict[str, Any]:
    return {k: _av(v) for k, v in values.items() if v is not None}


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _de.deserialize(v) for k, v in item.items()}


def _cancel_codes(exc: ClientError) -> list[str]:
    reasons = exc.response.get("CancellationReasons") or []
    return [r.get("Code", "None") for r in reasons]


def _sort_date(date: str, time_: str) -> str:
    d = (date or "").strip()[:8].ljust(8, "0")
    t = (time_ or "").strip().replace(":", "").split(".")[0][:6].ljust(6, "0")
    return d + t


def normalize_name(name: str) -> str:
    """Person names are matched case-insensitively: upper-case, trailing empty components off."""
    return name.strip().upper().rstrip("^=")


def name_words(name: str) -> list[str]:
    words = {w for w in normalize_name(name).replace("=", "^").replace(" ", "^").split("^") if w}
    return sorted(words)


class DynamoCatalog:
    """Implements ``services.ports.Catalog`` on one DynamoDB table."""

    def __init__(self, client: Any, table: str) -> None:
        self._db = client
        self._table = table

    # --- writes ---------------------------------------------------------------------------

    def _transact(self, items: list[dict[str, Any]]) -> None:
        self._db.transact_write_items(TransactItems=items)

    def _instance_put(self, rec: InstanceRecord, *, new: bool) -> dict[str, Any]:
        ref = rec.ref
        put: dict[str, Any] = {
            "TableName": self._table,
            "Item": _item(
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
                }
            ),
        }
        if new:
            put["ConditionExpression"] = "attribute_not_exists(pk)"
        return {"Put": put}

    def _series_values(self, rec: InstanceRecord) -> dict[str, Any]:
        ref = rec.ref
        return {
            ":dicom": _av(json.dumps(rec.series_attrs, separators=(",", ":"))),
            ":tenant": _av(ref.tenant),
            ":uid_pk": _av(keys.uid_pk(ref.tenant, ref.series)),
            ":uid_sk": _av(f"SERIES#{ref.study}"),
            ":date_pk": _av(keys.date_pk(ref.tenant, "SERIES")),
            ":date_sk": _av(
                f"{_sort_date(rec.study_date, rec.study_time)}#{ref.study}#{ref.series}"
            ),
            ":modality": _av(rec.modality or ""),
        }

    _SERIES_SET = (
        "SET dicom = :dicom, tenant = :tenant, uid_pk = :uid_pk, uid_sk = :uid_sk, "
        "date_pk = :date_pk, date_sk = :date_sk, modality = :modality"
    )

    def _series_update(self, rec: InstanceRecord) -> dict[str, Any]:
        values = self._series_values(rec) | {":one": _av(1)}
        return {
            "Update": {
                "TableName": self._table,
                "Key": _item({"pk": keys.study_pk(rec.ref), "sk": keys.series_sk(rec.ref.series)}),
                "UpdateExpression": self._SERIES_SET + " ADD n_instances :one",
                "ConditionExpression": "attribute_exists(pk)",
                "ExpressionAttributeValues": values,
            }
        }

    def _series_create(self, rec: InstanceRecord) -> dict[str, Any]:
        values = self._series_values(rec)
        item = {k[1:]: v for k, v in values.items()}
        item |= _item(
            {"pk": keys.study_pk(rec.ref), "sk": keys.series_sk(rec.ref.series), "n_instances": 1}
        )
        return {
            "Put": {
                "TableName": self._table,
                "Item": item,
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }

    def _study_update(
        self, rec: InstanceRecord, *, instances: int, series: int, modality: bool
    ) -> dict[str, Any]:
        ref = rec.ref
        values = {
            ":dicom": _av(json.dumps(rec.study_attrs, separators=(",", ":"))),
            ":tenant": _av(ref.tenant),
            ":date_pk": _av(keys.date_pk(ref.tenant, "STUDY")),
            ":date_sk": _av(f"{_sort_date(rec.study_date, rec.study_time)}#{ref.study}"),
        }
        expr = "SET dicom = :dicom, tenant = :tenant, date_pk = :date_pk, date_sk = :date_sk"
        adds = []
        if instances:
            adds.append("n_instances :ni")
            values[":ni"] = _av(instances)
        if series:
            adds.append("n_series :ns")
            values[":ns"] = _av(series)
        if modality and rec.modality:
            adds.append("modalities :mod")
            values[":mod"] = {"SS": [rec.modality]}
        if adds:
            expr += " ADD " + ", ".join(adds)
        return {
            "Update": {
                "TableName": self._table,
                "Key": _item({"pk": keys.study_pk(ref), "sk": keys.STUDY_SK}),
                "UpdateExpression": expr,
                "ExpressionAttributeValues": values,
            }
        }

    def _value_entries(self, rec: InstanceRecord) -> list[dict[str, Any]]:
        ref = rec.ref
        sort = f"{_sort_date(rec.study_date, rec.study_time)}#{ref.study}"
        entries: list[tuple[str, str, str, str]] = []  # keyword, value, val_pk, val_sk
        for keyword, value in (
            ("PatientID", rec.patient_id),
            ("AccessionNumber", rec.accession),
            ("ModalitiesInStudy", rec.modality),
        ):
            if value:
                entries.append((keyword, value, keys.value_pk(ref.tenant, keyword, value), sort))
        if rec.patient_name:
            name = normalize_name(rec.patient_name)
            entries.append(("PN", name, f"{ref.tenant}#STUDY#PN", f"{name}#{ref.study}"))
            for word in name_words(rec.patient_name):
                entries.append(("PNW", word, f"{ref.tenant}#STUDY#PNW", f"{word}#{ref.study}"))
        return [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": _item(
                        {
                            "pk": keys.study_pk(ref),
                            "sk": keys.value_sk(keyword, value),
                            "tenant": ref.tenant,
                            "val_pk": val_pk,
                            "val_sk": val_sk,
                        }
                    ),
                }
            }
            for keyword, value, val_pk, val_sk in entries
        ]

    def index_instance(self, record: InstanceRecord) -> str:
        """Make the catalog hold ``record``: 'created' or 'replaced'. Idempotent."""
        for attempt in range(_MAX_ATTEMPTS):
            try:
                self._transact(
                    [
                        self._instance_put(record, new=True),
                        self._series_update(record),
                        self._study_update(record, instances=1, series=0, modality=False),
                    ]
                )
                return "created"
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "TransactionCanceledException":
                    raise
                codes = _cancel_codes(exc)
            if codes and codes[0] == "ConditionalCheckFailed":
                self._transact(
                    [
                        self._instance_put(record, new=False),
                        {
                            "Update": {
                                "TableName": self._table,
                                "Key": _item(
                                    {
                                        "pk": keys.study_pk(record.ref),
                                        "sk": keys.series_sk(record.ref.series),
                                    }
                                ),
                                "UpdateExpression": self._SERIES_SET,
                                "ExpressionAttributeValues": self._series_values(record),
                            }
                        },
                        self._study_update(record, instances=0, series=0, modality=False),
                    ]
                )
                return "replaced"
            if len(codes) > 1 and codes[1] == "ConditionalCheckFailed":
                try:
                    self._transact(
                        [
                            self._instance_put(record, new=True),
                            self._series_create(record),
                            self._study_update(record, instances=1, series=1, modality=True),
                            *self._value_entries(record),
                        ]
                    )
                    return "created"
                except ClientError as exc:
                    if exc.response["Error"]["Code"] != "TransactionCanceledException":
                        raise
            _backoff(attempt)
        raise CatalogContention(f"instance {record.ref.sop} not indexed after retries")

    def remove_instance(self, ref: InstanceRef) -> bool:
        """Remove an instance and keep the counts exact; False when it was not catalogued."""
        pk = keys.study_pk(ref)
        try:
            self._transact(
                [
                    {
                        "Delete": {
                            "TableName": self._table,
                            "Key": _item({"pk": pk, "sk": keys.instance_sk(ref.series, ref.sop)}),
                            "ConditionExpression": "attribute_exists(pk)",
                        }
                    },
                    self._counter(pk, keys.series_sk(ref.series), "n_instances", -1),
                    self._counter(pk, keys.STUDY_SK, "n_instances", -1),
                ]
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            if _cancel_codes(exc)[:1] == ["ConditionalCheckFailed"]:
                return False
            raise
        self._drop_empty_series(ref.series_ref)
        self._drop_empty_study(ref.study_ref)
        return True

    def _counter(self, pk: str, sk: str, name: str, delta: int) -> dict[str, Any]:
        return {
            "Update": {
                "TableName": self._table,
                "Key": _item({"pk": pk, "sk": sk}),
                "UpdateExpression": f"ADD {name} :d",
                "ConditionExpression": "attribute_exists(pk)",
                "ExpressionAttributeValues": {":d": _av(delta)},
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
                            "Key": _item({"pk": pk, "sk": keys.series_sk(ref.series)}),
                            "ConditionExpression": "n_instances <= :zero",
                            "ExpressionAttributeValues": {":zero": _av(0)},
                        }
                    },
                    self._counter(pk, keys.STUDY_SK, "n_series", -1),
                ]
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "TransactionCanceledException":
                return  # the series still has instances (or is gone already)
            raise
        self._refresh_modalities(ref.study_ref)

    def _refresh_modalities(self, ref: StudyRef) -> None:
        """After a series is removed: ModalitiesInStudy from the series that remain."""
        remaining = {
            str(m) for s in self.study_series(ref) if (m := first_value(s.attrs, "Modality"))
        }
        pk = keys.study_pk(ref)
        entries = self._query_all(pk, keys.value_sk("ModalitiesInStudy", ""))
        for entry in entries:
            value = entry["sk"].split("#", 2)[2]
            if value not in remaining:
                self._db.delete_item(
                    TableName=self._table, Key=_item({"pk": pk, "sk": entry["sk"]})
                )
        if remaining:
            self._db.update_item(
                TableName=self._table,
                Key=_item({"pk": pk, "sk": keys.STUDY_SK}),
                UpdateExpression="SET modalities = :m",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":m": {"SS": sorted(remaining)}},
            )
        else:
            try:
                self._db.update_item(
                    TableName=self._table,
                    Key=_item({"pk": pk, "sk": keys.STUDY_SK}),
                    UpdateExpression="REMOVE modalities",
                    ConditionExpression="attribute_exists(pk)",
                )
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise

    def _drop_empty_study(self, ref: StudyRef) -> None:
        pk = keys.study_pk(ref)
        try:
            self._db.delete_item(
                TableName=self._table,
                Key=_item({"pk": pk, "sk": keys.STUDY_SK}),
                ConditionExpression="n_instances <= :zero",
                ExpressionAttributeValues={":zero": _av(0)},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return
            raise
        for entry in self._query_all(pk, keys.VALUE_SK_PREFIX):
            self._db.delete_item(TableName=self._table, Key=_item({"pk": pk, "sk": entry["sk"]}))

    # --- reads ----------------------------------------------------------------------------

    def _query_all(self, pk: str, sk_prefix: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :p)",
            "ExpressionAttributeValues": {":pk": _av(pk), ":p": _av(sk_prefix)},
            "ConsistentRead": True,
        }
        while True:
            page = self._db.query(**kwargs)
            items.extend(_plain(i) for i in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _batch_get(self, key_pairs: Iterable[tuple[str, str]]) -> list[dict[str, Any]]:
        wanted = list(dict.fromkeys(key_pairs))
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for start in range(0, len(wanted), 100):
            request = {
                self._table: {
                    "Keys": [_item({"pk": pk, "sk": sk}) for pk, sk in wanted[start : start + 100]]
                }
            }
            attempt = 0
            while request:
                page = self._db.batch_get_item(RequestItems=request)
                for raw in page.get("Responses", {}).get(self._table, []):
                    item = _plain(raw)
                    found[(item["pk"], item["sk"])] = item
                request = page.get("UnprocessedKeys") or {}
                if request:
                    _backoff(attempt)
                    attempt += 1
        return [found[k] for k in wanted if k in found]

    def get_studies(self, tenant: str, study_uids: Sequence[str]) -> list[StudyEntry]:
        pairs = [(keys.study_pk(StudyRef(tenant, uid)), keys.STUDY_SK) for uid in study_uids]
        return [_study_entry(i) for i in self._batch_get(pairs)]

    def _index_page(
        self, index: str, hash_name: str, hash_value: str, limit: int, forward: bool = False
    ) -> tuple[list[dict[str, Any]], bool]:
        page = self._db.query(
            TableName=self._table,
            IndexName=index,
            KeyConditionExpression=f"{hash_name} = :h",
            ExpressionAttributeValues={":h": _av(hash_value)},
            ScanIndexForward=forward,
            Limit=limit,
        )
        return [_plain(i) for i in page.get("Items", [])], "LastEvaluatedKey" in page

    def studies_by_value(
        self, tenant: str, keyword: str, value: str, limit: int
    ) -> tuple[list[StudyEntry], bool]:
        entries, more = self._index_page(
            "by_value", "val_pk", keys.value_pk(tenant, keyword, value), limit
        )
        studies = self._batch_get((e["pk"], keys.STUDY_SK) for e in entries)
        return [_study_entry(i) for i in studies], more

    def recent_studies(self, tenant: str, limit: int) -> tuple[list[StudyEntry], bool]:
        entries, more = self._index_page("by_date", "date_pk", keys.date_pk(tenant, "STUDY"), limit)
        studies = self._batch_get((e["pk"], e["sk"]) for e in entries)
        return [_study_entry(i) for i in studies], more

    def study_series(self, ref: StudyRef) -> list[SeriesEntry]:
        return [
            _series_entry(i) for i in self._query_all(keys.study_pk(ref), keys.SERIES_SK_PREFIX)
        ]

    def series_instances(self, ref: SeriesRef) -> list[InstanceEntry]:
        items = self._query_all(keys.study_pk(ref), keys.series_instances_prefix(ref.series))
        return [_instance_entry(i) for i in items]

    def study_instances(self, ref: StudyRef) -> list[InstanceEntry]:
        items = self._query_all(keys.study_pk(ref), keys.INSTANCE_SK_PREFIX)
        return [_instance_entry(i) for i in items]

    def get_instance(self, ref: InstanceRef) -> InstanceEntry | None:
        got = self._db.get_item(
            TableName=self._table,
            Key=_item({"pk": keys.study_pk(ref), "sk": keys.instance_sk(ref.series, ref.sop)}),
        )
        return _instance_entry(_plain(got["Item"])) if "Item" in got else None


def _backoff(attempt: int) -> None:
    time.sleep(min(0.5, 0.01 * (2**attempt)) * random.uniform(0.5, 1.5))


def _tenant_and_uid(pk: str) -> tuple[str, str]:
    tenant, _, uid = pk.partition("#")
    return tenant, uid


def _study_entry(item: dict[str, Any]) -> StudyEntry:
    tenant, study = _tenant_and_uid(item["pk"])
    return StudyEntry(
        ref=StudyRef(tenant, study),
        attrs=json.loads(item.get("dicom", "{}")),
        series_count=int(item.get("n_series", 0)),
        instance_count=int(item.get("n_instances", 0)),
        modalities=tuple(sorted(item.get("modalities", set()))),
    )


def _series_entry(item: dict[str, Any]) -> SeriesEntry:
    tenant, study = _tenant_and_uid(item["pk"])
    series = item["sk"][len(keys.SERIES_SK_PREFIX) :]
    return SeriesEntry(
        ref=SeriesRef(tenant, study, series),
        attrs=json.loads(item.get("dicom", "{}")),
        instance_count=int(item.get("n_instances", 0)),
    )


def _instance_entry(item: dict[str, Any]) -> InstanceEntry:
    tenant, study = _tenant_and_uid(item["pk"])
    series, _, sop = item["sk"][len(keys.INSTANCE_SK_PREFIX) :].partition("#")
    return InstanceEntry(
        ref=InstanceRef(tenant, study, series, sop),
        attrs=json.loads(item.get("dicom", "{}")),
        transfer_syntax=str(item.get("ts", "")),
        size=int(item.get("size", 0)),
        etag=str(item.get("etag", "")),
    )
