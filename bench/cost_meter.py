"""What ``AwsCallCounter`` does not measure, added beside it through the same botocore hooks
(chalicelib is not changed): DynamoDB capacity units and the wall time spent inside AWS calls.

The service never asks DynamoDB for ``ReturnConsumedCapacity`` (and moto's figures would not be
DynamoDB's anyway), so capacity is ESTIMATED from item sizes, with DynamoDB's published rules:

- item size: attribute names + values (strings as UTF-8, numbers ~1 byte per 2 digits + 1,
  binary as bytes, 3 bytes + 1 per element for lists and maps);
- a write: max(size before, size after) rounded up to 1 KB, at least 1 unit; a conditional
  write that fails still costs its units; inside TransactWriteItems every unit counts twice;
- a GSI (all three project KEYS_ONLY): +1 write when an item enters or leaves the index, +2
  when its index key changes, nothing when the key attributes are untouched; an index entry is
  its keys + the table's keys + 100 bytes;
- a read: GetItem rounded up to 4 KB (x0.5 eventually consistent), BatchGetItem per item,
  Query the sum of the items it evaluates (full items, whatever the projection or filter)
  rounded up to 4 KB per page.

The sizes come from the emulator's own state, read through a separate client that is not
counted. Only what the service itself sends is estimated; the estimate is exact to DynamoDB's
rounding rules for the items as stored.
"""

from __future__ import annotations

import copy
import math
import re
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import boto3

GSI_ENTRY_OVERHEAD = 100
_WRITE_UNIT = 1024
_READ_UNIT = 4096


def value_size(value: dict[str, Any]) -> int:
    """Bytes DynamoDB counts for one attribute value."""
    (kind, v), *_ = value.items()
    if kind == "S":
        return len(v.encode("utf-8"))
    if kind == "N":
        digits = str(Decimal(v).normalize()).replace("-", "").replace(".", "").lstrip("0")
        return max(1, (len(digits) + 1) // 2) + 1
    if kind == "B":
        return len(v)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode("utf-8")) for s in v)
    if kind == "NS":
        return sum(value_size({"N": n}) for n in v)
    if kind == "BS":
        return sum(len(b) for b in v)
    if kind == "L":
        return 3 + sum(1 + value_size(e) for e in v)
    if kind == "M":
        return 3 + sum(1 + len(k.encode("utf-8")) + value_size(e) for k, e in v.items())
    return 0


def item_size(item: dict[str, Any] | None) -> int:
    if not item:
        return 0
    return sum(len(name.encode("utf-8")) + value_size(v) for name, v in item.items())


def write_units(*sizes: int) -> int:
    return max(1, math.ceil(max(sizes or (0,)) / _WRITE_UNIT))


def read_units(size: int, consistent: bool) -> float:
    units = max(1, math.ceil(size / _READ_UNIT))
    return units if consistent else units / 2


@dataclass
class Capacity:
    read_units: float = 0.0
    write_units: float = 0.0  # base table, transactional doubling included
    gsi_write_units: float = 0.0

    @property
    def total_write_units(self) -> float:
        return self.write_units + self.gsi_write_units


@dataclass
class _Table:
    keys: tuple[str, ...]
    indexes: dict[str, tuple[str, ...]] = field(default_factory=dict)


class CostMeter:
    """Attach with ``clients.instrument(meter.attach)`` next to the call counter."""

    def __init__(self, region: str = "us-east-1") -> None:
        self._lock = threading.Lock()
        self._raw = boto3.session.Session().client("dynamodb", region_name=region)
        self._tables: dict[str, _Table] = {}
        self.capacity: dict[str, Capacity] = defaultdict(Capacity)
        #: wall time inside AWS calls, and in this meter's own reads (botocore runs the
        #: service-specific after-call hook first, inside the clocked interval)
        self.aws_seconds = 0.0

    def reset(self) -> None:
        with self._lock:
            self.capacity = defaultdict(Capacity)
            self.aws_seconds = 0.0

    def attach(self, client: Any) -> None:
        events = client.meta.events
        events.register("before-call", self._start_clock)
        events.register("after-call", self._stop_clock)
        events.register("after-call-error", self._stop_clock)
        if client.meta.service_model.service_name == "dynamodb":
            events.register("before-parameter-build.dynamodb", self._before)
            events.register("after-call.dynamodb", self._after)

    # --- wall time inside AWS calls ---------------------------------------------------------

    @staticmethod
    def _start_clock(context: dict[str, Any], **_: Any) -> None:
        context["cost_meter_t0"] = time.perf_counter()

    def _stop_clock(self, context: dict[str, Any] | None = None, **_: Any) -> None:
        t0 = (context or {}).get("cost_meter_t0")
        if t0 is not None:
            with self._lock:
                self.aws_seconds += time.perf_counter() - t0

    # --- DynamoDB capacity ------------------------------------------------------------------

    def _table(self, name: str) -> _Table:
        if name not in self._tables:
            desc = self._raw.describe_table(TableName=name)["Table"]
            keys = tuple(k["AttributeName"] for k in desc["KeySchema"])
            indexes = {
                g["IndexName"]: tuple(k["AttributeName"] for k in g["KeySchema"])
                for g in desc.get("GlobalSecondaryIndexes", [])
            }
            self._tables[name] = _Table(keys, indexes)
        return self._tables[name]

    def _current(self, table: str, key: dict[str, Any]) -> dict[str, Any] | None:
        got = self._raw.get_item(TableName=table, Key=key, ConsistentRead=True)
        item: dict[str, Any] | None = got.get("Item")
        return item

    def _writes(self, operation: str, params: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        """(table, key) of every item a write touches."""
        out: list[tuple[str, dict[str, Any]]] = []

        def key_of(table: str, spec: dict[str, Any]) -> dict[str, Any]:
            if "Key" in spec:
                return dict(spec["Key"])
            return {k: spec["Item"][k] for k in self._table(table).keys}

        if operation in ("PutItem", "UpdateItem", "DeleteItem"):
            out.append((params["TableName"], key_of(params["TableName"], params)))
        elif operation == "TransactWriteItems":
            for entry in params.get("TransactItems", []):
                (kind, spec), *_ = entry.items()
                if kind != "ConditionCheck":
                    out.append((spec["TableName"], key_of(spec["TableName"], spec)))
        elif operation == "BatchWriteItem":
            for table, requests in params.get("RequestItems", {}).items():
                for r in requests:
                    spec = r.get("PutRequest") or r.get("DeleteRequest") or {}
                    out.append((table, key_of(table, spec)))
        return out

    def _before(
        self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any
    ) -> None:
        t0 = time.perf_counter()
        targets = self._writes(model.name, params)
        context["cost_meter_params"] = copy.deepcopy(params)
        context["cost_meter_before"] = [(t, k, self._current(t, k)) for t, k in targets]
        with self._lock:  # the meter's own reads are not the service's time
            self.aws_seconds += time.perf_counter() - t0

    def _after(
        self, parsed: dict[str, Any], model: Any, context: dict[str, Any], **kw: Any
    ) -> None:
        operation = model.name
        params = context.get("cost_meter_params", {})
        name = f"dynamodb.{operation}"
        cap = Capacity()
        if operation in ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems"):
            factor = 2 if operation == "TransactWriteItems" else 1
            for table, key, old in context.get("cost_meter_before", []):
                new = self._current(table, key)
                cap.write_units += factor * write_units(item_size(old), item_size(new))
                cap.gsi_write_units += self._gsi_writes(table, old, new)
        elif operation == "BatchWriteItem":
            for table, key, old in context.get("cost_meter_before", []):
                new = self._current(table, key)
                cap.write_units += write_units(item_size(old), item_size(new))
                cap.gsi_write_units += self._gsi_writes(table, old, new)
        elif operation == "GetItem":
            size = item_size(parsed.get("Item"))
            if not size:  # a projection hides the size: read the item as stored
                size = item_size(self._current(params["TableName"], params["Key"]))
            cap.read_units += read_units(size, bool(params.get("ConsistentRead")))
        elif operation == "BatchGetItem":
            for table, spec in params.get("RequestItems", {}).items():
                for key in spec.get("Keys", []):
                    size = item_size(self._current(table, key))
                    cap.read_units += read_units(size, bool(spec.get("ConsistentRead")))
        elif operation == "Query" and "Error" not in parsed:
            cap.read_units += self._query_units(params)
        elif operation == "TransactGetItems":
            for entry in params.get("TransactItems", []):
                spec = entry["Get"]
                size = item_size(self._current(spec["TableName"], spec["Key"]))
                cap.read_units += 2 * read_units(size, True)
        with self._lock:
            total = self.capacity[name]
            total.read_units += cap.read_units
            total.write_units += cap.write_units
            total.gsi_write_units += cap.gsi_write_units

    def _gsi_writes(
        self, table: str, old: dict[str, Any] | None, new: dict[str, Any] | None
    ) -> int:
        writes = 0
        for attrs in self._table(table).indexes.values():

            def entry(item: dict[str, Any] | None, attrs: tuple[str, ...] = attrs) -> Any:
                if not item or not all(a in item for a in attrs):
                    return None
                return tuple(str(item[a]) for a in attrs)

            before, after = entry(old), entry(new)
            if before == after:
                continue
            writes += (before is not None) + (after is not None)
        return writes

    def _query_units(self, params: dict[str, Any]) -> float:
        """The page as DynamoDB evaluates it: the same key condition, start key and limit,
        without projection or filter (they do not lower the bill)."""
        replay = {
            k: v
            for k, v in params.items()
            if k
            in (
                "TableName",
                "IndexName",
                "KeyConditionExpression",
                "ExpressionAttributeValues",
                "ExpressionAttributeNames",
                "ExclusiveStartKey",
                "Limit",
                "ScanIndexForward",
            )
        }
        tokens = set(re.findall(r"[:#][A-Za-z0-9_]+", replay.get("KeyConditionExpression", "")))
        for name in ("ExpressionAttributeNames", "ExpressionAttributeValues"):
            if name in replay:
                kept = {k: v for k, v in replay[name].items() if k in tokens}
                if kept:
                    replay[name] = kept
                else:
                    del replay[name]
        got = self._raw.query(**replay)
        items = got.get("Items", [])
        if "IndexName" in params:
            table = self._table(params["TableName"])
            projected = set(table.keys) | set(table.indexes.get(params["IndexName"], ()))
            size = sum(
                item_size({k: v for k, v in i.items() if k in projected}) + GSI_ENTRY_OVERHEAD
                for i in items
            )
        else:
            size = sum(item_size(i) for i in items)
        return read_units(size, bool(params.get("ConsistentRead")))

    def snapshot(self) -> dict[str, Capacity]:
        with self._lock:
            return {k: copy.copy(v) for k, v in self.capacity.items()}
