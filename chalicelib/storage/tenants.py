"""Tenants and hashed API keys in DynamoDB.

Keys carry 128+ bits of randomness, so a fast hash (SHA-256) is right and lookup stays one
GetItem on ``KEY#{sha256}``. The plain key is shown once, at creation, and never stored.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime
from typing import Any

from chalicelib.services.ports import Principal
from chalicelib.storage.aws_errors import raises_storage_errors

ALL_SCOPES = frozenset({"read", "write", "delete"})


def hash_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()


def new_api_key() -> str:
    """A new random API key: 32 bytes (256 bits), URL-safe."""
    return "dwk_" + secrets.token_urlsafe(32)


@raises_storage_errors
class DynamoTenantStore:
    def __init__(self, client: Any, table: str) -> None:
        self._db = client
        self._table = table

    def principal_for_key_hash(self, key_hash: str) -> Principal | None:
        got = self._db.get_item(TableName=self._table, Key={"pk": {"S": f"KEY#{key_hash}"}})
        item = got.get("Item")
        if not item or item.get("revoked", {}).get("BOOL"):
            return None
        expires = item.get("expires_at", {}).get("S")
        if expires and datetime.fromisoformat(expires) <= datetime.now(UTC):
            return None
        return Principal(
            tenant=item["tenant"]["S"],
            key_id=item["key_id"]["S"],
            scopes=frozenset(item.get("scopes", {}).get("SS", [])),
        )

    def create_tenant(self, tenant: str, name: str | None = None) -> None:
        self._db.put_item(
            TableName=self._table,
            Item={
                "pk": {"S": f"TENANT#{tenant}"},
                "tenant": {"S": tenant},
                "name": {"S": name or tenant},
                "created_at": {"S": datetime.now(UTC).isoformat()},
            },
        )

    def create_key(
        self,
        tenant: str,
        scopes: frozenset[str] = ALL_SCOPES,
        name: str = "",
        api_key: str | None = None,
        expires_at: datetime | None = None,
    ) -> tuple[str, str]:
        """Store a new key's hash; return (key_id, plain key). The plain key is not kept."""
        plain = api_key or new_api_key()
        key_hash = hash_key(plain)
        key_id = key_hash[:16]
        item: dict[str, Any] = {
            "pk": {"S": f"KEY#{key_hash}"},
            "tenant": {"S": tenant},
            "key_id": {"S": key_id},
            "name": {"S": name or key_id},
            "scopes": {"SS": sorted(scopes)},
            "created_at": {"S": datetime.now(UTC).isoformat()},
        }
        if expires_at is not None:
            item["expires_at"] = {"S": expires_at.isoformat()}
        self._db.put_item(TableName=self._table, Item=item)
        return key_id, plain

    # --- administration (the CLI; small tables, so listing scans them) ------------------------

    def all_items(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"TableName": self._table}
        while True:
            page = self._db.scan(**kwargs)
            items += page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def restore(self, items: list[dict[str, Any]]) -> None:
        for item in items:
            self._db.put_item(TableName=self._table, Item=item)

    def tenants(self) -> list[dict[str, str]]:
        return sorted(
            (
                {"tenant": i["tenant"]["S"], "name": i.get("name", {}).get("S", "")}
                for i in self.all_items()
                if i["pk"]["S"].startswith("TENANT#")
            ),
            key=lambda t: t["tenant"],
        )

    def tenant_exists(self, tenant: str) -> bool:
        got = self._db.get_item(TableName=self._table, Key={"pk": {"S": f"TENANT#{tenant}"}})
        return "Item" in got

    def keys(self, tenant: str) -> list[dict[str, Any]]:
        out = []
        for i in self.all_items():
            if i["pk"]["S"].startswith("KEY#") and i["tenant"]["S"] == tenant:
                out.append(
                    {
                        "key_id": i["key_id"]["S"],
                        "name": i.get("name", {}).get("S", ""),
                        "scopes": sorted(i.get("scopes", {}).get("SS", [])),
                        "created_at": i.get("created_at", {}).get("S", ""),
                        "expires_at": i.get("expires_at", {}).get("S", ""),
                        "revoked": bool(i.get("revoked", {}).get("BOOL", False)),
                    }
                )
        return sorted(out, key=lambda k: k["created_at"])

    def revoke(self, key_id: str) -> bool:
        for i in self.all_items():
            if i["pk"]["S"].startswith("KEY#") and i["key_id"]["S"] == key_id:
                self._db.update_item(
                    TableName=self._table,
                    Key={"pk": i["pk"]},
                    UpdateExpression="SET revoked = :t",
                    ExpressionAttributeValues={":t": {"BOOL": True}},
                )
                return True
        return False
