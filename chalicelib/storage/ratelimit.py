"""Per-tenant rate limits, in the app (API Gateway usage plans only see keys API Gateway
knows, and ours are resolved by the app): a fixed one-second window per tenant, counted with
one atomic ADD on ``pk={tenant}#RATE#{second}`` in the tenants table (items expire by TTL).
Global across Lambda containers; costs one small write a request; a tenant's own hot item
tops out at DynamoDB's 1,000 writes a second, far above any limit set here."""

from __future__ import annotations

import time
from typing import Any

from chalicelib.storage.aws_errors import raises_storage_errors
from chalicelib.storage.dynamo import av
from chalicelib.storage.schema import TENANTS_TTL_ATTRIBUTE


@raises_storage_errors
class RateLimiter:
    def __init__(self, client: Any, table: str, per_second: int) -> None:
        self._db = client
        self._table = table
        self.per_second = per_second

    def allow(self, tenant: str, limit: int | None = None) -> bool:
        allowed = limit or self.per_second
        if allowed <= 0:
            return True
        second = int(time.time())
        got = self._db.update_item(
            TableName=self._table,
            Key={"pk": av(f"{tenant}#RATE#{second}")},
            UpdateExpression="ADD n :one SET #ttl = :ttl",
            ExpressionAttributeNames={"#ttl": TENANTS_TTL_ATTRIBUTE},
            ExpressionAttributeValues={":one": av(1), ":ttl": av(second + 60)},
            ReturnValues="UPDATED_NEW",
        )
        return int(got["Attributes"]["n"]["N"]) <= allowed
