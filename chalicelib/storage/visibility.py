"""Index entries confirmed visible: what a STOW waits for before it answers.

DynamoDB's global secondary indexes are eventually consistent (an entry is usually visible well
under a second after its item is written, with no upper bound promised). QIDO finds instances by
UID (``by_uid``), studies by date (``by_date``) and by value (``by_value``) through them, so an
instance is searchable only once each entry its catalog items project is there. This asks each
index for each entry — every distinct entry once per call, up to ``READERS`` queries in flight,
one Query of one exact key each, read units about 0.5 each — and asks again for those still
missing until they all answer or the time is up.

Entries of an instance: its own (by_uid: SOP Instance UID; by_list; by_attr: SOPClassUID), its
series' (by_uid: Series Instance UID; by_list; by_attr: Modality), its study's (by_date) and the
study's value entries (by_value: PatientID, AccessionNumber, StudyDescription, PatientName and
its words, the study's modality).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.clock import SYSTEM, Clock
from chalicelib.dicomweb.resources import InstanceRef
from chalicelib.pools import ContextPool
from chalicelib.services.ports import InstanceRecord
from chalicelib.storage import aws_errors, keys
from chalicelib.storage.aws_errors import raises_storage_errors
from chalicelib.storage.catalog_items import MODALITIES, indexed_values, listing_keys
from chalicelib.storage.dynamo import av
from chalicelib.storage.schema import CATALOG_INDEXES

#: (index, hash value, range value) of one index entry
Entry = tuple[str, str, str]

READERS = 8
#: Pause between rounds while entries are missing.
INTERVAL_S = 0.05


def index_entries(rec: InstanceRecord) -> list[Entry]:
    ref = rec.ref
    entries = [
        ("by_uid", keys.uid_pk(ref.tenant, ref.sop), keys.instance_uid_sk(ref.study, ref.series)),
        ("by_uid", keys.uid_pk(ref.tenant, ref.series), keys.series_uid_sk(ref.study)),
        (
            "by_date",
            keys.date_pk(ref.tenant, "STUDY"),
            keys.date_sk(rec.study_date, rec.study_time, ref.study),
        ),
    ]
    values = indexed_values(rec) + ([(MODALITIES, rec.modality)] if rec.modality else [])
    entries += [
        ("by_value", keys.value_pk(ref.tenant, k), keys.value_index_sk(v, ref.study))
        for k, v in values
    ]
    for level in (keys.SERIES_LEVEL, keys.INSTANCE_LEVEL):
        listed = listing_keys(rec, level)
        entries.append(("by_list", listed["lst_pk"], listed["lst_sk"]))
        if "atr_pk" in listed:
            entries.append(("by_attr", listed["atr_pk"], listed["atr_sk"]))
    return entries


@raises_storage_errors
class DynamoIndexVisibility:
    """Implements ``services.ports.IndexVisibility`` on the catalog table."""

    def __init__(self, client: Any, table: str, clock: Clock = SYSTEM) -> None:
        self._db = client
        self._table = table
        self._clock = clock

    def _visible(self, entry: Entry) -> bool:
        index, hash_value, range_value = entry
        hash_name, range_name = dict(CATALOG_INDEXES)[index]
        try:
            got = self._db.query(
                TableName=self._table,
                IndexName=index,
                KeyConditionExpression=f"{hash_name} = :h AND {range_name} = :r",
                ExpressionAttributeValues={":h": av(hash_value), ":r": av(range_value)},
                Limit=1,
            )
        except ClientError as exc:
            if aws_errors.is_transient(exc):  # throttled: not seen yet, asked again next round
                return False
            raise
        return bool(got.get("Items"))

    def wait_visible(self, records: Sequence[InstanceRecord], timeout: float) -> list[InstanceRef]:
        waiting: dict[Entry, set[InstanceRef]] = {}
        for rec in records:
            for entry in index_entries(rec):
                waiting.setdefault(entry, set()).add(rec.ref)
        deadline = self._clock.now() + timeout
        with ContextPool(max_workers=READERS) as pool:
            while waiting:
                pending = list(waiting)
                for entry, seen in zip(pending, pool.map(self._visible, pending), strict=True):
                    if seen:
                        del waiting[entry]
                if not waiting or self._clock.now() >= deadline:
                    break
                self._clock.sleep(INTERVAL_S)
        late = {ref for refs in waiting.values() for ref in refs}
        return [rec.ref for rec in records if rec.ref in late]
