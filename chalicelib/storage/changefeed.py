"""The change feed: every instance created, replaced or deleted, with a sequence number that
increases per tenant and a timestamp (like Microsoft's server's change feed).

Items live in the catalog table under ``pk={tenant}#FEED``: a counter item (``sk=SEQ``,
incremented atomically with ADD) and one entry per change (``sk`` = the zero-padded
sequence). A sequence number is taken before its entry is written, so a crash between the two
leaves a gap in the numbers, never a reordering; readers page with ``startAfter``. Every change
of a tenant writes that one partition (about 500 changes a second at DynamoDB's 1,000 WCU
per partition; a scale limit to revisit with issue 14).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from chalicelib.dicomweb.resources import InstanceRef
from chalicelib.storage.aws_errors import raises_storage_errors
from chalicelib.storage.dynamo import av, plain, to_item

_DIGITS = 12


def _pk(tenant: str) -> str:
    return f"{tenant}#FEED"


@raises_storage_errors
class ChangeFeed:
    def __init__(self, client: Any, table: str) -> None:
        self._db = client
        self._table = table

    def record(self, ref: InstanceRef, action: str) -> int:
        got = self._db.update_item(
            TableName=self._table,
            Key=to_item({"pk": _pk(ref.tenant), "sk": "SEQ"}),
            UpdateExpression="ADD seq :one",
            ExpressionAttributeValues={":one": av(1)},
            ReturnValues="UPDATED_NEW",
        )
        sequence = int(got["Attributes"]["seq"]["N"])
        self._db.put_item(
            TableName=self._table,
            Item=to_item(
                {
                    "pk": _pk(ref.tenant),
                    "sk": f"{sequence:0{_DIGITS}d}",
                    "tenant": ref.tenant,
                    "action": action,
                    "study": ref.study,
                    "series": ref.series,
                    "sop": ref.sop,
                    "at": datetime.now(UTC).isoformat(),
                }
            ),
        )
        return sequence

    def read(self, tenant: str, start_after: int, limit: int) -> list[dict[str, Any]]:
        got = self._db.query(
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND sk BETWEEN :lo AND :hi",
            ExpressionAttributeValues={
                ":pk": av(_pk(tenant)),
                ":lo": av(f"{start_after + 1:0{_DIGITS}d}"),
                ":hi": av("9" * _DIGITS),
            },
            Limit=limit,
        )
        return [_entry(plain(i)) for i in got.get("Items", [])]

    def latest(self, tenant: str) -> dict[str, Any] | None:
        got = self._db.query(
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND sk BETWEEN :lo AND :hi",
            ExpressionAttributeValues={
                ":pk": av(_pk(tenant)),
                ":lo": av("0" * _DIGITS),
                ":hi": av("9" * _DIGITS),
            },
            ScanIndexForward=False,
            Limit=1,
        )
        items = got.get("Items", [])
        return _entry(plain(items[0])) if items else None


def _entry(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "sequence": int(item["sk"]),
        "timestamp": item["at"],
        "action": item["action"],
        "studyInstanceUid": item["study"],
        "seriesInstanceUid": item["series"],
        "sopInstanceUid": item["sop"],
    }
