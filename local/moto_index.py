"""DynamoDB Query on the emulator at the cost of what it returns, not of the table.

moto answers every Query by walking the whole table: it lists and sorts every item, keeps those
of the partition asked for (or, for a global secondary index, those whose index keys match),
then pages. A Query on a 100 k-item table costs ~0.5 s whatever it returns, so nothing measured
locally says what a query costs in DynamoDB. Here:

* a base-table Query sorts only its own partition (moto keeps items by partition already), once
  until that partition is written again;
* each global secondary index is kept as sorted entries per index partition, updated on every
  write (put, update, delete, in or out of a transaction, a rollback included), so a GSI Query
  bisects to where it starts and reads only what it evaluates.

AWS's semantics are kept: key conditions (=, <, <=, >, >=, BETWEEN, begins_with), ScanIndexForward,
ExclusiveStartKey, Limit counting items evaluated before the filter, a page ending at 1 MB of
what the Query reads (the projected entries for an index: keys only here), LastEvaluatedKey
whenever the page stopped at Limit or at 1 MB, ScannedCount, then the FilterExpression and the
ProjectionExpression. The index lag of ``moto_patches.index_lag`` still applies on top. Anything
else (a hash-only table, an index without a sort key, a binary key, a legacy ``KeyConditions``
filter) goes to moto's own Query.
"""

from __future__ import annotations

import bisect
import copy
from typing import Any

#: What one Query page reads at most (moto's figure for DynamoDB's 1 MB).
PAGE_BYTES = 1_000_000
_STATE = "_dicomweb_indexes"  # attribute of a moto Table: its GSIs as sorted entries
_PARTITIONS = "_dicomweb_partitions"  # attribute of a moto Table: partitions sorted, until written
_SORTABLE = ("S", "N")

Entry = tuple[Any, Any, Any]  # (index sort key, table hash key, table range key), as Python


def _py(value: Any) -> Any:
    """A DynamoType as a Python value ordered as DynamoDB orders it (strings by code point,
    which is UTF-8 byte order; numbers by value)."""
    return value.cast_value


class _Index:
    """One GSI: per index partition, the entries sorted as DynamoDB sorts them."""

    def __init__(self, index: Any, hash_attr: str, range_attr: str) -> None:
        self.index = index
        self.hash_attr = hash_attr
        self.range_attr = range_attr
        self.partitions: dict[Any, list[Entry]] = {}
        self.where: dict[tuple[Any, Any], tuple[Any, Entry]] = {}
        self.items: dict[tuple[Any, Any], Any] = {}

    def drop(self, key: tuple[Any, Any]) -> None:
        found = self.where.pop(key, None)
        self.items.pop(key, None)
        if found is None:
            return
        hash_value, entry = found
        entries = self.partitions[hash_value]
        at = bisect.bisect_left(entries, entry)
        if at < len(entries) and entries[at] == entry:
            del entries[at]
        if not entries:
            del self.partitions[hash_value]

    def add(self, key: tuple[Any, Any], item: Any) -> None:
        hash_attr, range_attr = item.attrs.get(self.hash_attr), item.attrs.get(self.range_attr)
        if hash_attr is None or range_attr is None:
            return  # not in the index (DynamoDB indexes items holding every key attribute)
        if hash_attr.type not in _SORTABLE or range_attr.type not in _SORTABLE:
            return
        hash_value = _py(hash_attr)
        entry = (_py(range_attr), *key)
        bisect.insort(self.partitions.setdefault(hash_value, []), entry)
        self.where[key] = (hash_value, entry)
        self.items[key] = item


class _Indexes:
    """A table's GSIs (those of one hash and one sort key), as this module keeps them."""

    def __init__(self, table: Any) -> None:
        self.by_name: dict[str, _Index] = {}
        for gsi in table.global_indexes or []:
            if gsi.name in _eligible(table):
                (hash_attr,) = [k["AttributeName"] for k in gsi.schema if k["KeyType"] == "HASH"]
                (range_attr,) = [k["AttributeName"] for k in gsi.schema if k["KeyType"] == "RANGE"]
                self.by_name[gsi.name] = _Index(gsi, hash_attr, range_attr)
        for partition in table.items.values():
            for item in partition.values():
                self.refresh_item(_table_key(item), item)

    def refresh_item(self, key: tuple[Any, Any], item: Any | None) -> None:
        for index in self.by_name.values():
            index.drop(key)
            if item is not None:
                index.add(key, item)


def _eligible(table: Any) -> set[str]:
    """The GSIs kept here: one hash and one sort key, each a string or a number."""
    types = {a["AttributeName"]: a["AttributeType"] for a in table.attr}
    return {
        g.name
        for g in table.global_indexes or []
        if sorted(k["KeyType"] for k in g.schema) == ["HASH", "RANGE"]
        and all(types.get(k["AttributeName"]) in _SORTABLE for k in g.schema)
    }


def _table_key(item: Any) -> tuple[Any, Any]:
    return _py(item.hash_key), _py(item.range_key)


def _indexes(table: Any) -> _Indexes:
    """The table's index state, built on first use (one walk of the table, once) and again
    when its GSIs change (UpdateTable)."""
    state: _Indexes | None = getattr(table, _STATE, None)
    if state is None or set(state.by_name) != _eligible(table):
        state = _Indexes(table)
        setattr(table, _STATE, state)
    return state


def _partition(table: Any, hash_key: Any) -> tuple[list[Entry], dict[tuple[Any, Any], Any]]:
    """A base-table partition as sorted entries and its items by key, kept until the next
    write to that partition (a Query of a 500-item study partition sorted it every time)."""
    cache: dict[Any, Any] = table.__dict__.setdefault(_PARTITIONS, {})
    found = cache.get(_py(hash_key))
    if found is None:
        partition = table.items.get(hash_key, {})
        keyed = sorted(((_py(i.range_key), *_table_key(i)), i) for i in partition.values())
        found = cache[_py(hash_key)] = ([e for e, _ in keyed], {e[1:]: i for e, i in keyed})
    return found  # type: ignore[no-any-return]


def written(table: Any, hash_key: Any, range_key: Any) -> None:
    """After any write of the item at (hash_key, range_key): its index entries follow it, and
    its partition is sorted again when next queried."""
    getattr(table, _PARTITIONS, {}).pop(_py(hash_key), None)
    state: _Indexes | None = getattr(table, _STATE, None)
    if state is None or range_key is None:
        return
    item = table.items.get(hash_key, {}).get(range_key)
    state.refresh_item((_py(hash_key), _py(range_key)), item)


# --- the Query ----------------------------------------------------------------------------------


def _bounds(entries: list[Entry], comparison: str | None, values: list[Any]) -> tuple[int, int]:
    """The slice of ``entries`` whose sort key satisfies the key condition."""
    lo, hi = 0, len(entries)
    if comparison is None:
        return lo, hi
    v = [_py(x) for x in values]

    def left(x: Any) -> int:
        return bisect.bisect_left(entries, x, key=lambda e: e[0])

    def right(x: Any) -> int:
        return bisect.bisect_right(entries, x, key=lambda e: e[0])

    if comparison == "=":
        return left(v[0]), right(v[0])
    if comparison == "<":
        return lo, left(v[0])
    if comparison == "<=":
        return lo, right(v[0])
    if comparison == ">":
        return right(v[0]), hi
    if comparison == ">=":
        return left(v[0]), hi
    if comparison == "BETWEEN":
        return left(v[0]), max(left(v[0]), right(v[1]))
    # BEGINS_WITH (strings): the prefixes of a sorted list are sorted too
    prefix = v[0]
    start = left(prefix)
    end = bisect.bisect_right(entries, prefix, lo=start, key=lambda e: e[0][: len(prefix)])
    return start, end


def supported(comparison: str | None, filter_kwargs: dict[str, Any], range_conditions: Any) -> bool:
    known = (None, "=", "<", "<=", ">", ">=", "BETWEEN", "BEGINS_WITH")
    return comparison in known and not filter_kwargs and len(range_conditions or []) <= 1


def query(
    table: Any,
    hash_key: Any,
    comparison: str | None,
    range_values: list[Any],
    limit: int | None,
    exclusive_start_key: dict[str, Any] | None,
    forward: bool,
    projection_expressions: Any,
    index_name: str | None,
    filter_expression: Any,
) -> tuple[list[Any], int, dict[str, Any] | None] | None:
    """moto's ``Table.query`` result for this Query, or None when moto's own must answer."""
    if table.range_key_attr is None or hash_key is None:
        return None
    if index_name is None:
        entries, items = _partition(table, hash_key)
        range_attr, index = table.range_key_attr, None
    else:
        gsi = _indexes(table).by_name.get(index_name)
        if gsi is None:
            return None
        entries = gsi.partitions.get(_py(hash_key), [])
        items, range_attr, index = gsi.items, gsi.range_attr, gsi.index
    lo, hi = _bounds(entries, comparison, range_values)
    if exclusive_start_key:
        try:
            start = (
                _py(_dynamo(exclusive_start_key[range_attr])),
                _py(_dynamo(exclusive_start_key[table.hash_key_attr])),
                _py(_dynamo(exclusive_start_key[table.range_key_attr])),
            )
        except KeyError:
            return None  # moto's own Query says what is wrong with it
        if forward:
            lo = max(lo, bisect.bisect_right(entries, start, lo, hi))
        else:
            hi = min(hi, bisect.bisect_left(entries, start, lo, hi))
    order = range(lo, hi) if forward else range(hi - 1, lo - 1, -1)
    results: list[Any] = []
    size, last = 0, None
    for at in order:
        item = items[entries[at][1:]]
        read = _read_size(item, index, table)
        if size + read > PAGE_BYTES and results:
            last = results[-1]
            break
        results.append(item)
        size += read
        if limit and len(results) >= limit:
            last = item  # DynamoDB stops at Limit and says where, more or not
            break
    last_key = table._get_last_evaluated_key(last, index_name) if last is not None else None
    scanned = len(results)
    out = [copy.deepcopy(i) for i in results]
    if index is not None:
        out = [index.project(i) for i in out]
    if filter_expression is not None:
        out = [i for i in out if filter_expression.expr(i)]
    if projection_expressions:
        out = [i.project(projection_expressions) for i in out]
    return out, scanned, last_key


def _read_size(item: Any, index: Any, table: Any) -> int:
    """Bytes a Query reads for this item: the item, or its index entry (keys only: the
    table's and the index's key attributes)."""
    if index is None:
        return int(item.size())
    if index.projection.get("ProjectionType") != "KEYS_ONLY":
        return int(index.project(item).size())
    names = {table.hash_key_attr, table.range_key_attr, *index.schema_key_attrs}
    return sum(len(n.encode()) + item.attrs[n].size() for n in names if n in item.attrs)


def _dynamo(value: Any) -> Any:
    from moto.dynamodb.models.dynamo_type import DynamoType

    return value if isinstance(value, DynamoType) else DynamoType(value)
