"""Make moto's DynamoDB as atomic, and its transactions as cheap, as DynamoDB's.

moto applies a TransactWriteItems by deep-copying every table it touches, applying each item,
and putting the copies back when a condition fails. Two consequences:

* under concurrent requests (the moto server is threaded; tests run parallel indexers) a
  failing transaction restores a snapshot taken before another thread's successful write,
  and ADD read-modify-writes race: updates are lost that DynamoDB itself never loses;
* every transaction costs O(table size): indexing 100 k instances takes hours.

The patch serialises DynamoDB writes behind one lock and replaces the table-wide snapshot by
a snapshot of the items the transaction touches. It patches the emulator, never boto3.

SQS too: moto's ReceiveMessage iterates a queue's set of in-flight messages while other threads'
receives and deletes change it ("Set changed size during iteration", seen with parallel
indexers). The set is copied first (one C call, atomic under the GIL).
"""

from __future__ import annotations

import copy
import functools
import threading
from typing import Any

_LOCK = threading.RLock()
_LOCKED = ("put_item", "update_item", "delete_item", "query", "get_item")


class _NoTableCopy:
    """Stands in for the ``copy`` module inside moto's DynamoDB models: tables are not
    deep-copied (the transaction wrapper snapshots the touched items instead)."""

    def __init__(self, table_type: type) -> None:
        self._table_type = table_type

    def deepcopy(self, value: Any, memo: Any = None) -> Any:
        if isinstance(value, self._table_type):
            return value
        return copy.deepcopy(value, memo)

    def copy(self, value: Any) -> Any:
        return copy.copy(value)


def _item_key(backend: Any, item: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    op_type, op = next(iter(item.items()))
    table_name = op["TableName"]
    if op_type != "Put":
        return table_name, op["Key"]
    table = backend.get_table(table_name)
    attrs = op["Item"]
    key = {table.hash_key_attr: attrs[table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = attrs[table.range_key_attr]
    return table_name, key


def _make_sqs_receive_thread_safe() -> None:
    from moto.sqs.models import Queue

    if getattr(Queue.pending_message_groups.fget, "_copied", False):
        return

    def pending_message_groups(self: Any) -> set[str]:
        pending = self._pending_messages.copy()
        return {m.group_id for m in pending if m.group_id is not None}

    groups = property(pending_message_groups)
    groups.fget._copied = True  # type: ignore[attr-defined]
    Queue.pending_message_groups = groups  # type: ignore[method-assign, assignment]


def make_emulator_safe() -> None:
    """Both patches: what the local stack and the tests run on."""
    _make_sqs_receive_thread_safe()
    make_dynamodb_atomic()


def make_dynamodb_atomic() -> None:
    from moto.dynamodb import models
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    if getattr(DynamoDBBackend.transact_write_items, "_atomic", False):
        return
    models.copy = _NoTableCopy(Table)  # type: ignore[attr-defined]

    for name in _LOCKED:
        original = getattr(DynamoDBBackend, name)

        def locked(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
            with _LOCK:
                return _original(*args, **kwargs)

        functools.update_wrapper(locked, original)
        setattr(DynamoDBBackend, name, locked)

    original_transact = DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        with _LOCK:
            snapshots = []
            for item in transact_items:
                try:
                    table_name, key = _item_key(self, item)
                    current = self.get_item(table_name, key)
                except Exception:
                    continue
                before = copy.deepcopy(current.to_json()["Attributes"]) if current else None
                snapshots.append((table_name, key, before))
            try:
                original_transact(self, transact_items)
            except Exception:
                for table_name, key, before in reversed(snapshots):
                    if before is None:
                        self.delete_item(table_name, key)
                    else:
                        self.put_item(table_name, before)
                raise

    transact_write_items._atomic = True  # type: ignore[attr-defined]
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
