"""An AWS-call counter built on botocore's event hooks, for tests and benchmarks.

It counts, per ``service.Operation``: requests, bytes sent and received, DynamoDB items read
and written, and the consumed capacity DynamoDB reports. That is what a request costs in
production, whatever the local emulator's speed.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass
from typing import Any


@dataclass
class OperationCount:
    calls: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    items_read: int = 0
    items_written: int = 0
    capacity_units: float = 0.0


_WRITE_OPS = {"PutItem": 1, "UpdateItem": 1, "DeleteItem": 1}


def _items_read(operation: str, parsed: dict[str, Any]) -> int:
    if operation in ("Query", "Scan"):
        return int(parsed.get("ScannedCount", parsed.get("Count", 0)))
    if operation == "GetItem":
        return 1 if parsed.get("Item") else 0
    if operation == "BatchGetItem":
        return sum(len(v) for v in parsed.get("Responses", {}).values())
    if operation == "TransactGetItems":
        return len(parsed.get("Responses", []))
    return 0


def _capacity(parsed: dict[str, Any]) -> float:
    consumed = parsed.get("ConsumedCapacity")
    if isinstance(consumed, dict):
        consumed = [consumed]
    return float(sum(c.get("CapacityUnits", 0) or 0 for c in consumed or []))


class AwsCallCounter:
    """Attach with ``clients.instrument(counter.attach)``; read ``counter.counts``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: dict[str, OperationCount] = defaultdict(OperationCount)

    def attach(self, client: Any) -> None:
        client.meta.events.register("before-parameter-build", self._before_params)
        client.meta.events.register("before-send", self._before_send)
        client.meta.events.register("after-call", self._after_call)
        client.meta.events.register("after-call-error", self._after_call_error)

    def reset(self) -> None:
        with self._lock:
            self.counts = defaultdict(OperationCount)

    @staticmethod
    def _op_name(event_name: str) -> str:
        # "before-send.s3.GetObject" / "after-call.dynamodb.Query"
        _, service, operation = event_name.split(".", 2)
        return f"{service}.{operation}"

    @staticmethod
    def _before_params(
        params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any
    ) -> None:
        if model.name == "TransactWriteItems":
            context["item_count"] = len(params.get("TransactItems", []))
        elif model.name == "BatchWriteItem":
            context["item_count"] = sum(len(v) for v in params.get("RequestItems", {}).values())

    def _before_send(self, request: Any, event_name: str, **_: Any) -> None:
        headers = request.headers
        declared = headers.get("X-Amz-Decoded-Content-Length") or headers.get("Content-Length")
        if declared is not None:
            size = int(declared)
        else:
            body = request.body
            size = len(body) if isinstance(body, (bytes, str)) else 0
        with self._lock:
            self.counts[self._op_name(event_name)].bytes_sent += size

    def _after_call(
        self, http_response: Any, parsed: dict[str, Any], model: Any, **kw: Any
    ) -> None:
        name = self._op_name(kw["event_name"])
        operation = model.name
        # a HEAD's Content-Length is the object's size, not bytes sent back
        is_head = model.http.get("method") == "HEAD"
        received = 0 if is_head else int(http_response.headers.get("content-length", 0) or 0)
        with self._lock:
            c = self.counts[name]
            c.calls += 1
            c.bytes_received += received
            c.items_read += _items_read(operation, parsed)
            c.items_written += _WRITE_OPS.get(operation, 0)
            if operation == "TransactWriteItems" or operation == "BatchWriteItem":
                c.items_written += int(kw.get("context", {}).get("item_count", 0))
            c.capacity_units += _capacity(parsed)

    def _after_call_error(self, event_name: str, **_: Any) -> None:
        with self._lock:
            self.counts[self._op_name(event_name)].calls += 1

    def total_calls(self, prefix: str = "") -> int:
        with self._lock:
            return sum(c.calls for k, c in self.counts.items() if k.startswith(prefix))

    def calls(self, name: str) -> int:
        with self._lock:
            return self.counts[name].calls if name in self.counts else 0

    def snapshot(self) -> dict[str, dict[str, float]]:
        with self._lock:
            return {k: dict(vars(v)) for k, v in sorted(self.counts.items()) if v.calls}
