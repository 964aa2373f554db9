"""Make moto's DynamoDB as atomic, and its transactions as cheap, as DynamoDB's.

moto applies a TransactWriteItems by deep-copying every table it touches, applying each item,
and putting the copies back when a condition fails. Two consequences:

* under concurrent requests (the moto server is threaded; tests run parallel indexers) a
  failing transaction restores a snapshot taken before another thread's successful write,
  and ADD read-modify-writes race: updates are lost that DynamoDB itself never loses;
* every transaction costs O(table size): indexing 100 k instances takes hours.

The patch serialises DynamoDB writes behind one lock and replaces the table-wide snapshot by
a snapshot of the items the transaction touches. It patches the emulator, never boto3.

GSI lag, on request: DynamoDB's global secondary indexes are eventually consistent (an item
written is usually found by an index query well under a second later, but not at once); moto's
are immediate, so nothing local would show a read that relies on an index too early.
``index_lag(reads=N)`` makes it show, deterministically: while it is on, an item written (put,
update, transaction) is left out of the next N index queries that would have returned it, then
appears. Base-table reads are unaffected. Off by default.

Queries that read what they return: moto answers every Query by walking and sorting the whole
table (0.5 s at 100 k items, whatever the answer); ``local.moto_index`` keeps each GSI as sorted
entries updated on every write, and a base-table Query reads its own partition only, with
DynamoDB's semantics (``make_queries_cheap``).

S3 too: when a version purge removes a key's last version and that version is a delete marker,
moto builds the ObjectRemoved event from the marker, which has no ETag, and the DeleteObjects
call fails (AttributeError: a DELETE of a study one of whose objects was deleted straight in the
bucket answered 500). S3 sends that event without ``eTag`` and ``size``; so does the patch.

SQS too: moto's ReceiveMessage iterates a queue's set of in-flight messages while other threads'
receives and deletes change it ("Set changed size during iteration", seen with parallel
indexers). The set is copied first (one C call, atomic under the GIL).
"""

from __future__ import annotations

import copy
import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
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


class _MarkerAsObject:
    """A delete marker seen as the object moto's event builder expects."""

    etag = ""
    size = 0

    def __init__(self, marker: Any) -> None:
        self.name = marker.name


def _make_marker_events_sendable() -> None:
    from moto.s3 import notifications

    build = notifications._get_s3_event
    if getattr(build, "_markers", False):
        return

    @functools.wraps(build)
    def event(event_name: str, bucket: Any, key: Any, notification_id: str) -> Any:
        if hasattr(key, "etag"):
            return build(event_name, bucket, key, notification_id)
        built = build(event_name, bucket, _MarkerAsObject(key), notification_id)
        for record in built["Records"]:
            del record["s3"]["object"]["eTag"], record["s3"]["object"]["size"]
        return built

    event._markers = True  # type: ignore[attr-defined]
    notifications._get_s3_event = event


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
    """The patches the local stack and the tests run on (the index lag is inert until
    ``index_lag`` turns it on)."""
    _make_sqs_receive_thread_safe()
    _make_marker_events_sendable()
    make_dynamodb_atomic()
    make_queries_cheap()
    _make_index_lag_emulable()


# --- GSI lag ------------------------------------------------------------------------------------

_LAG = {"reads": 0}
_ROLLING_BACK = {"depth": 0}  # under _LOCK
#: (table, hash key, range key) of items written while the lag is on -> index reads still blind
_PENDING: dict[tuple[str, str, str], int] = {}


@contextmanager
def index_lag(reads: int) -> Iterator[dict[tuple[str, str, str], int]]:
    """While active, each item written is missing from the next ``reads`` index queries that
    would have returned it. Yields the pending items (for tests to inspect)."""
    _make_index_lag_emulable()
    with _LOCK:
        _LAG["reads"] = reads
        _PENDING.clear()
    try:
        yield _PENDING
    finally:
        with _LOCK:
            _LAG["reads"] = 0
            _PENDING.clear()


def _identity(table_name: str, key: dict[str, Any]) -> tuple[str, str, str]:
    values = [str(next(iter(v.values()))) for _, v in sorted(key.items())]
    hash_value, range_value = [*values, ""][:2]
    return table_name, hash_value, range_value


def _item_identity(table: Any, item: Any) -> tuple[str, str, str]:
    key = {table.hash_key_attr: item.hash_key.to_json()}
    if table.range_key_attr is not None and item.range_key is not None:
        key[table.range_key_attr] = item.range_key.to_json()
    return _identity(table.name, key)


def _written(backend: Any, table_name: str, key: dict[str, Any]) -> None:
    if _LAG["reads"] > 0 and not _ROLLING_BACK["depth"]:
        _PENDING[_identity(table_name, key)] = _LAG["reads"]


def _make_index_lag_emulable() -> None:
    from moto.dynamodb.models import DynamoDBBackend

    if getattr(DynamoDBBackend.query, "_lagging", False):
        return
    original_query = DynamoDBBackend.query
    original_put = DynamoDBBackend.put_item
    original_update = DynamoDBBackend.update_item
    original_transact = DynamoDBBackend.transact_write_items

    def query(self: Any, table_name: str, *args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            results, scanned, last = original_query(self, table_name, *args, **kwargs)
            if not _PENDING or not kwargs.get("index_name"):
                return results, scanned, last
            table = self.get_table(table_name)
            visible = []
            for item in results:
                found = _item_identity(table, item)
                if found in _PENDING:
                    _PENDING[found] -= 1
                    if _PENDING[found] <= 0:
                        del _PENDING[found]
                    continue
                visible.append(item)
            return visible, scanned, last

    def put_item(self: Any, table_name: str, item_attrs: dict[str, Any], *a: Any, **kw: Any) -> Any:
        with _LOCK:
            item = original_put(self, table_name, item_attrs, *a, **kw)
            if _LAG["reads"] > 0 and not _ROLLING_BACK["depth"]:
                _PENDING[_item_identity(self.get_table(table_name), item)] = _LAG["reads"]
            return item

    def update_item(self: Any, table_name: str, key: dict[str, Any], *a: Any, **kw: Any) -> Any:
        with _LOCK:
            item = original_update(self, table_name, key, *a, **kw)
            _written(self, table_name, key)
            return item

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        with _LOCK:
            before = dict(_PENDING)
            try:
                original_transact(self, transact_items)
            except Exception:  # cancelled: DynamoDB wrote nothing (moto's partial writes are
                _PENDING.clear()  # rolled back by make_dynamodb_atomic)
                _PENDING.update(before)
                raise
            for op in transact_items:
                if "Put" in op or "Update" in op:
                    table_name, key = _item_key(self, op)
                    _written(self, table_name, key)

    query._lagging = True  # type: ignore[attr-defined]
    DynamoDBBackend.query = query  # type: ignore[method-assign]
    DynamoDBBackend.put_item = put_item  # type: ignore[method-assign]
    DynamoDBBackend.update_item = update_item  # type: ignore[method-assign]
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


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
                _ROLLING_BACK["depth"] += 1  # restoring is no write: the index does not lag
                try:
                    for table_name, key, before in reversed(snapshots):
                        if before is None:
                            self.delete_item(table_name, key)
                        else:
                            self.put_item(table_name, before)
                finally:
                    _ROLLING_BACK["depth"] -= 1
                raise

    transact_write_items._atomic = True  # type: ignore[attr-defined]
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


# --- Query at the cost of its answer ------------------------------------------------------------


def make_queries_cheap() -> None:
    """Query through ``local.moto_index`` (a GSI as sorted entries, a base-table partition
    alone) instead of moto's walk of the table; writes keep the index entries current."""
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    from local import moto_index

    if getattr(Table.query, "_cheap", False):
        return
    original_query = Table.query
    original_put = Table.put_item
    original_delete = Table.delete_item
    original_update = DynamoDBBackend.update_item

    def query(
        self: Any,
        hash_key: Any,
        range_comparison: str | None,
        range_objs: list[Any],
        limit: int,
        exclusive_start_key: dict[str, Any],
        scan_index_forward: bool,
        projection_expressions: Any,
        index_name: str | None = None,
        consistent_read: bool = False,
        filter_expression: Any = None,
        hash_key_conditions: Any = None,
        range_key_conditions: Any = None,
        **filter_kwargs: Any,
    ) -> Any:
        args = (hash_key, range_comparison, range_objs, limit, exclusive_start_key)
        rest = (scan_index_forward, projection_expressions, index_name, consistent_read)
        keywords = dict(
            filter_expression=filter_expression,
            hash_key_conditions=hash_key_conditions,
            range_key_conditions=range_key_conditions,
            **filter_kwargs,
        )
        fast = (
            moto_index.supported(range_comparison, filter_kwargs, range_key_conditions)
            and len(hash_key_conditions or []) <= 1
            and not (consistent_read and index_name)  # moto's own refuses it, as DynamoDB
        )
        with _LOCK:
            got = (
                moto_index.query(
                    self,
                    hash_key,
                    range_comparison,
                    range_objs,
                    limit,
                    exclusive_start_key,
                    scan_index_forward,
                    projection_expressions,
                    index_name,
                    filter_expression,
                )
                if fast
                else None
            )
            return got if got is not None else original_query(self, *args, *rest, **keywords)

    def put_item(self: Any, *args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            item = original_put(self, *args, **kwargs)
            moto_index.written(self, item.hash_key, item.range_key)
            return item

    def delete_item(self: Any, hash_key: Any, range_key: Any) -> Any:
        with _LOCK:
            item = original_delete(self, hash_key, range_key)
            moto_index.written(self, hash_key, range_key)
            return item

    def update_item(self: Any, table_name: str, *args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            item = original_update(self, table_name, *args, **kwargs)
            moto_index.written(self.get_table(table_name), item.hash_key, item.range_key)
            return item

    query._cheap = True  # type: ignore[attr-defined]
    query.moto_query = original_query  # type: ignore[attr-defined]  # the walk, for comparison
    Table.query = query  # type: ignore[method-assign]
    Table.put_item = put_item  # type: ignore[method-assign]
    Table.delete_item = delete_item  # type: ignore[method-assign]
    DynamoDBBackend.update_item = update_item  # type: ignore[method-assign]
