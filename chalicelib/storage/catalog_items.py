"""The catalog's items as the indexer writes them: what one instance record makes of the
instance, series and study items and of the study's value-index entries, as items of a
DynamoDB transaction (``catalog.py`` decides which, and when).

The study's value-index entries (PatientID, AccessionNumber, StudyDescription, PatientName and
its words, modalities) are rewritten only when the indexed values change: the study item keeps
a signature of them (``idx_sig``), and the per-instance update is conditional on it.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from chalicelib.dicomweb.dicomjson import first_value
from chalicelib.dicomweb.matching import name_words, normalize_name
from chalicelib.dicomweb.resources import StudyRef
from chalicelib.services.ports import InstanceRecord
from chalicelib.storage import keys
from chalicelib.storage.dynamo import Key, av, to_item

MODALITIES = "ModalitiesInStudy"

TransactItem = dict[str, Any]


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


def series_date(rec: InstanceRecord) -> str:
    """The date a series is listed by (14 digits): its SeriesDate, or its study's StudyDate
    without one, then its study's StudyTime. Not SeriesTime: instances of one series often
    disagree on it, and the series' key must be the one every instance of it would write (the
    study's attributes are one per study already: by_date keys on them)."""
    date = str(first_value(rec.series_attrs, "SeriesDate") or "").strip()
    return keys.sort_date(date or rec.study_date, rec.study_time)


def listing_keys(rec: InstanceRecord, level: str) -> dict[str, Any]:
    """The by_list and by_attr keys of the record's series (``keys.SERIES_LEVEL``) or instance
    item, and the keys' version; by_attr only when the value (Modality, SOPClassUID) is there."""
    ref = rec.ref
    date = series_date(rec)
    if level == keys.SERIES_LEVEL:
        sort_key = keys.series_list_sk(date, ref.study, ref.series)
        shard, keyword, value = keys.list_shard(ref.series), "Modality", rec.modality
    else:
        sort_key = keys.instance_list_sk(date, ref.study, ref.series, ref.sop)
        shard, keyword = keys.list_shard(ref.sop), "SOPClassUID"
        value = str(first_value(rec.instance_attrs, "SOPClassUID") or "")
    out: dict[str, Any] = {
        "lst_pk": keys.list_pk(ref.tenant, level, shard),
        "lst_sk": sort_key,
        "kv": keys.LIST_KEYS_VERSION,
    }
    if value:
        out["atr_pk"] = keys.attr_pk(ref.tenant, level, keyword, value, shard)
        out["atr_sk"] = sort_key
    return out


def listing_update(rec: InstanceRecord, level: str) -> tuple[str, str, dict[str, Any]]:
    """What an UpdateExpression writing ``listing_keys`` SETs and REMOVEs, and its values: a
    by_attr key the item no longer has a value for is removed (an index key cannot be
    empty)."""
    wanted = listing_keys(rec, level)
    sets = ", ".join(f"{name} = :{name}" for name in wanted)
    removes = "" if "atr_pk" in wanted else "atr_pk, atr_sk"
    return sets, removes, {f":{name}": av(value) for name, value in wanted.items()}


def _compact(attrs: dict[str, Any]) -> str:
    return json.dumps(attrs, separators=(",", ":"))


class CatalogItems:
    """Transaction items on one table."""

    def __init__(self, table: str) -> None:
        self.table = table

    def instance_put(self, rec: InstanceRecord, *, new: bool) -> TransactItem:
        ref = rec.ref
        put: dict[str, Any] = {
            "TableName": self.table,
            "Item": to_item(
                {
                    "pk": keys.study_pk(ref),
                    "sk": keys.instance_sk(ref.series, ref.sop),
                    "tenant": ref.tenant,
                    "uid_pk": keys.uid_pk(ref.tenant, ref.sop),
                    "uid_sk": keys.instance_uid_sk(ref.study, ref.series),
                    "dicom": _compact(rec.instance_attrs),
                    "ts": rec.transfer_syntax,
                    "size": rec.object.size,
                    "etag": rec.object.etag,
                    "object_key": rec.object.key,
                    "version_id": rec.object.version_id,
                    "indexed_at": datetime.now(UTC).isoformat(),
                    "frames": rec.frames,
                    "frames_enc": rec.frames_encapsulated if rec.frames is not None else None,
                    "px_off": rec.pixel_offset,
                    **listing_keys(rec, keys.INSTANCE_LEVEL),
                }
            ),
        }
        if new:
            put["ConditionExpression"] = "attribute_not_exists(pk)"
        return {"Put": put}

    @staticmethod
    def _series_values(rec: InstanceRecord) -> dict[str, Any]:
        ref = rec.ref
        return {
            ":dicom": av(_compact(rec.series_attrs)),
            ":tenant": av(ref.tenant),
            ":uid_pk": av(keys.uid_pk(ref.tenant, ref.series)),
            ":uid_sk": av(keys.series_uid_sk(ref.study)),
            ":modality": av(rec.modality or ""),
        }

    _SERIES_SET = (
        "SET dicom = :dicom, tenant = :tenant, uid_pk = :uid_pk, uid_sk = :uid_sk, "
        "modality = :modality"
    )

    def series_update(self, rec: InstanceRecord, *, count: int) -> TransactItem:
        """The series' attributes and listing keys, a new metadata version, and ``count`` more
        instances; fails when the series does not exist."""
        sets, removes, listed = listing_update(rec, keys.SERIES_LEVEL)
        values = self._series_values(rec) | listed | {":one": av(1)}
        expr = f"{self._SERIES_SET}, {sets}"
        if removes:
            expr += f" REMOVE {removes}"
        expr += " ADD meta_v :one"
        if count:
            expr += ", n_instances :n"
            values[":n"] = av(count)
        return {
            "Update": {
                "TableName": self.table,
                "Key": to_item(
                    {"pk": keys.study_pk(rec.ref), "sk": keys.series_sk(rec.ref.series)}
                ),
                "UpdateExpression": expr,
                "ConditionExpression": "attribute_exists(pk)",
                "ExpressionAttributeValues": values,
            }
        }

    def series_create(self, rec: InstanceRecord) -> TransactItem:
        item = {k[1:]: v for k, v in self._series_values(rec).items()}
        item |= to_item(
            {
                "pk": keys.study_pk(rec.ref),
                "sk": keys.series_sk(rec.ref.series),
                "n_instances": 1,
                "meta_v": 1,
                **listing_keys(rec, keys.SERIES_LEVEL),
            }
        )
        return {
            "Put": {
                "TableName": self.table,
                "Item": item,
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }

    def study_update(
        self,
        rec: InstanceRecord,
        *,
        instances: int = 0,
        series: int = 0,
        new_series: bool = False,
        entry_sks: list[str] | None = None,
    ) -> TransactItem:
        """SET the study's attributes and ADD to its counters. Unless ``entry_sks`` is given
        (the value entries are rewritten in the same transaction), it is conditional on the
        value signature: a study whose indexed values changed fails it."""
        ref = rec.ref
        values = {
            ":dicom": av(_compact(rec.study_attrs)),
            ":tenant": av(ref.tenant),
            ":date_pk": av(keys.date_pk(ref.tenant, "STUDY")),
            ":date_sk": av(keys.date_sk(rec.study_date, rec.study_time, ref.study)),
            ":sig": av(value_signature(rec)),
        }
        expr = "SET dicom = :dicom, tenant = :tenant, date_pk = :date_pk, date_sk = :date_sk"
        update: dict[str, Any] = {
            "TableName": self.table,
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

    def entry_put(self, ref: StudyRef, keyword: str, value: str) -> TransactItem:
        """A value-index entry: an item in the study's partition, found by the by_value
        index."""
        return {
            "Put": {
                "TableName": self.table,
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

    def delete(self, key: Key, condition: str | None = None, **values: Any) -> TransactItem:
        """Delete an item, if ``condition`` (with ``values`` named ':name') holds."""
        pk, sk = key
        delete: dict[str, Any] = {"TableName": self.table, "Key": to_item({"pk": pk, "sk": sk})}
        if condition:
            delete["ConditionExpression"] = condition
        if values:
            delete["ExpressionAttributeValues"] = {f":{k}": av(v) for k, v in values.items()}
        return {"Delete": delete}

    def counter(self, key: Key, name: str, delta: int, bump: bool = False) -> TransactItem:
        """ADD ``delta`` to a counter of an existing item (and, if ``bump``, move the series'
        metadata version: its document is stale)."""
        pk, sk = key
        values = {":d": av(delta)}
        expression = f"ADD {name} :d"
        if bump:
            expression += ", meta_v :one"
            values[":one"] = av(1)
        return {
            "Update": {
                "TableName": self.table,
                "Key": to_item({"pk": pk, "sk": sk}),
                "UpdateExpression": expression,
                "ConditionExpression": "attribute_exists(pk)",
                "ExpressionAttributeValues": values,
            }
        }
