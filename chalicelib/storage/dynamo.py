"""One DynamoDB table of (pk, sk) items, as the catalog's reads and writes use it: pages of a
Query, GetItem, BatchGetItem with its unprocessed keys retried, transactions; items go in and
come out as plain Python values.

Storage-internal: its methods raise botocore's errors, for the adapter using it to read (a
cancelled transaction's reasons, a failed condition) before they leave as the service's own.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from typing import Any

from chalicelib.clock import SYSTEM, Clock
from chalicelib.storage.attribute_values import deserialize, serialize

Key = tuple[str, str]  # (pk, sk)
Item = dict[str, Any]  # plain Python values


def av(value: Any) -> dict[str, Any]:
    """A Python value as a DynamoDB attribute value."""
    return serialize(value)


def to_item(values: dict[str, Any]) -> dict[str, Any]:
    """Plain values as a DynamoDB item; None values are left out."""
    return {k: av(v) for k, v in values.items() if v is not None}


def plain(item: dict[str, Any]) -> Item:
    """A DynamoDB item as plain Python values."""
    return {k: deserialize(v) for k, v in item.items()}


def backoff(attempt: int, clock: Clock = SYSTEM) -> None:
    """Sleep before retry ``attempt`` (0, 1, ...): exponential, jittered, at most ~0.75 s."""
    clock.sleep(min(0.5, 0.01 * (2**attempt)) * random.uniform(0.5, 1.5))


BATCH_GET_LIMIT = 100  # keys per BatchGetItem


class DynamoTable:
    """A table with the primary key (pk, sk) and keys-only secondary indexes."""

    def __init__(self, client: Any, name: str, indexes: dict[str, tuple[str, str]]) -> None:
        self.client = client
        self.name = name
        self._indexes = indexes

    # --- reads ------------------------------------------------------------------------------

    def pages(self, next_limit: int | None = None, **query: Any) -> Iterator[list[Item]]:
        """The pages (1 MB or ``Limit`` items each) of one Query, read as consumed; pages after
        the first read ``next_limit`` items each when given (a reader that mostly needs the
        first page reads little more when it needs more)."""
        kwargs = {"TableName": self.name, **query}
        while True:
            page = self.client.query(**kwargs)
            yield [plain(i) for i in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
            if next_limit:
                kwargs["Limit"] = next_limit

    def partition(self, pk: str, sk_prefix: str, consistent: bool = False) -> Iterator[Item]:
        """Items of one partition whose sort key starts with ``sk_prefix``, in key order."""
        for page in self.pages(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :p)",
            ExpressionAttributeValues={":pk": av(pk), ":p": av(sk_prefix)},
            ConsistentRead=consistent,
        ):
            yield from page

    def index(
        self,
        index: str,
        hash_value: str,
        *,
        begins_with: str | None = None,
        between: tuple[str, str] | None = None,
        forward: bool = True,
        page_size: int | None = None,
    ) -> Iterator[Item]:
        """Entries of a keys-only index, lazily, in index order (``page_size`` bounds what one
        request reads when the caller needs only a few)."""
        hash_name, range_name = self._indexes[index]
        condition = f"{hash_name} = :h"
        values = {":h": av(hash_value)}
        if begins_with:
            condition += f" AND begins_with({range_name}, :b)"
            values[":b"] = av(begins_with)
        elif between:
            condition += f" AND {range_name} BETWEEN :lo AND :hi"
            values[":lo"], values[":hi"] = av(between[0]), av(between[1])
        extra = {"Limit": page_size} if page_size else {}
        for page in self.pages(
            IndexName=index,
            KeyConditionExpression=condition,
            ExpressionAttributeValues=values,
            ScanIndexForward=forward,
            **extra,
        ):
            yield from page

    def get(self, key: Key, consistent: bool = False) -> Item | None:
        pk, sk = key
        got = self.client.get_item(
            TableName=self.name, Key=to_item({"pk": pk, "sk": sk}), ConsistentRead=consistent
        )
        return plain(got["Item"]) if "Item" in got else None

    def batch_get(self, wanted: Iterable[Key], consistent: bool = False) -> list[Item]:
        """BatchGetItem in chunks of 100, retrying unprocessed keys; the items found, in input
        order (repeated keys read once). ``consistent``: ConsistentRead (twice the units)."""
        ordered = list(dict.fromkeys(wanted))
        found: dict[Key, Item] = {}
        for start in range(0, len(ordered), BATCH_GET_LIMIT):
            chunk = ordered[start : start + BATCH_GET_LIMIT]
            keys = [to_item({"pk": pk, "sk": sk}) for pk, sk in chunk]
            request: dict[str, Any] = {self.name: {"Keys": keys, "ConsistentRead": consistent}}
            attempt = 0
            while request:
                page = self.client.batch_get_item(RequestItems=request)
                for raw in page.get("Responses", {}).get(self.name, []):
                    item = plain(raw)
                    found[(item["pk"], item["sk"])] = item
                request = page.get("UnprocessedKeys") or {}
                if request:
                    backoff(attempt)
                    attempt += 1
        return [found[k] for k in ordered if k in found]

    # --- writes -----------------------------------------------------------------------------

    def transact(self, items: list[dict[str, Any]]) -> None:
        """TransactWriteItems: all or nothing."""
        self.client.transact_write_items(TransactItems=items)

    def update(self, key: Key, expression: str, **kwargs: Any) -> None:
        pk, sk = key
        self.client.update_item(
            TableName=self.name,
            Key=to_item({"pk": pk, "sk": sk}),
            UpdateExpression=expression,
            **kwargs,
        )

    def delete(self, key: Key, **kwargs: Any) -> None:
        pk, sk = key
        self.client.delete_item(TableName=self.name, Key=to_item({"pk": pk, "sk": sk}), **kwargs)
