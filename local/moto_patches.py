"""Make moto's DynamoDB as atomic as DynamoDB.

moto applies a TransactWriteItems by deep-copying the table, applying each item, and
restoring the copy when a condition fails. Under concurrent requests (the moto server is
threaded, tests run parallel indexers) a failing transaction restores a snapshot taken before
another thread's successful write, and ADD read-modify-writes race: updates are lost that
DynamoDB itself would never lose. One lock around every DynamoDB write restores DynamoDB's
item-level atomicity for our purposes. This patches the emulator, never boto3.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

_LOCK = threading.RLock()
_WRITES = ("put_item", "update_item", "delete_item", "transact_write_items", "query", "get_item")


def make_dynamodb_atomic() -> None:
    from moto.dynamodb.models import DynamoDBBackend

    for name in _WRITES:
        original = getattr(DynamoDBBackend, name)
        if getattr(original, "_atomic", False):
            continue

        def locked(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
            with _LOCK:
                return _original(*args, **kwargs)

        functools.update_wrapper(locked, original)
        locked._atomic = True  # type: ignore[attr-defined]
        setattr(DynamoDBBackend, name, locked)
