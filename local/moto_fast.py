"""moto's answers at the cost of what they carry: two of moto's costs that AWS does not have.

DynamoDB answers written as DynamoDB writes them, without walking the API model.

moto 5.2 serialises every answer by walking the operation's output shape from botocore's model,
member by member and value by value (``moto.core.serialize``). For DynamoDB's item operations
that walk is most of what a call costs the emulator: 43 % of the local stack's CPU on QIDO
requests (py-spy, docs/benchmarks/orthanc.md), for an answer that is already in its wire form.
Those answers (items and keys as ``{"S": ...}`` attribute values, counts, consumed capacity) are
plain JSON once binary values are base64-encoded, exactly what the shape walk produces; here
they are written with ``json.dumps`` directly.

Only the item operations, only successful answers, and only answers made of JSON's own types
and bytes take this path; anything else (an error, a timestamp, an operation not listed) goes
through moto's serializer unchanged. tests/unit/local/test_moto_fast.py checks, operation by
operation, that botocore parses the same answer from both.

Routing without rebuilding the route table: moto builds each backend's URL table again for every
call it intercepts, re-importing (``importlib.reload``) S3's url module each time in case the
environment changed; the local stack's environment is fixed once it runs, so the table is kept
per backend (``make_routes_kept``: the local stack only, not the tests, which change the
environment).

SQS's retention check without every queue attribute: moto's ReceiveMessage asks, for each message
it hands out, whether the message is still within the queue's retention period by computing all
of the queue's attributes, approximate counts included (each a walk of every message): a receive
cost O(batch x queue length), 11 % of the local stack's CPU during a STOW (py-spy). Here the
check reads the queue's retention period itself, the value those attributes report.

S3 timestamps without dateutil: moto keeps an object's time as an ISO string and, serialising
each answer (GetObject's ``Last-Modified``, every key of a listing), reads it back with
botocore's ``parse_to_aware_datetime``, which calls dateutil's general parser; the functions'
clients read the answer's timestamps through ``chalicelib.storage.timestamps`` already. Here
moto's serializer reads the fixed formats with that module too, anything else as before.
"""

from __future__ import annotations

import base64
import json
from typing import Any

#: The operations whose answers are items, keys, counts and consumed capacity.
ITEM_OPERATIONS = frozenset(
    {
        "GetItem",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "Query",
        "Scan",
        "BatchGetItem",
        "BatchWriteItem",
        "TransactGetItems",
        "TransactWriteItems",
    }
)
CONTENT_TYPE = "application/x-amz-json-1.0"


class _NotPlain(Exception):
    """A value JSON does not carry as it is (a timestamp, an object)."""


def wire(value: Any) -> Any:
    """The answer as DynamoDB's JSON: attribute values as moto's ``dynamo_to_dict`` gives them
    to its serializer, bytes base64-encoded, members that are None left out (as the shape walk
    leaves them out)."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    if isinstance(value, DynamoType):
        if value.type == "B":  # raw bytes, or base64 from the wire: written as base64 of bytes
            return {"B": wire(_raw_bytes(value.value))}
        if value.type == "BS":
            return {"BS": [wire(_raw_bytes(v)) for v in value.value]}
        return {value.type: wire(value.value)}
    if hasattr(value, "to_json") and not isinstance(value, dict | list | tuple | str):
        return wire(value.to_json())
    if isinstance(value, dict):
        return {k: wire(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [wire(v) for v in value]
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if value is None or isinstance(value, str | bool | int | float):
        return value
    raise _NotPlain(type(value).__name__)


def _raw_bytes(value: Any) -> bytes:
    return value if isinstance(value, bytes) else base64.b64decode(value)


def fast_body(operation: str, result: Any) -> str | None:
    """The answer's body, or None when moto's serializer must write it."""
    if operation not in ITEM_OPERATIONS or not isinstance(result, dict):
        return None
    try:
        return json.dumps(wire(result))
    except _NotPlain:
        return None


def make_dynamodb_answers_cheap() -> None:
    """DynamoDB item operations answer through ``fast_body`` (idempotent)."""
    from moto.core.responses import ActionResult
    from moto.dynamodb.models.utilities import dynamo_to_dict
    from moto.dynamodb.responses import DynamoResult

    if getattr(DynamoResult.execute_result, "_fast", False):
        return
    original = DynamoResult.execute_result
    original_init = DynamoResult.__init__

    def __init__(self: Any, result: object) -> None:
        # the answer as the handler made it; converted for moto's serializer only if it is used
        ActionResult.__init__(self, result)

    def execute_result(self: Any, context: Any) -> Any:
        body = fast_body(str(context.operation_model.name), self.result)
        if body is None:
            self._result = dynamo_to_dict(self._result)  # what moto's own __init__ did
            return original(self, context)
        return 200, {"Content-Type": CONTENT_TYPE}, body

    execute_result._fast = True  # type: ignore[attr-defined]
    execute_result.original = original  # type: ignore[attr-defined]  # for the equivalence test
    execute_result.original_init = original_init  # type: ignore[attr-defined]
    DynamoResult.__init__ = __init__  # type: ignore[method-assign]
    DynamoResult.execute_result = execute_result  # type: ignore[method-assign]


def make_sqs_retention_check_cheap() -> None:
    """moto's retention check reads ``MessageRetentionPeriod`` alone (idempotent)."""
    from moto.core.utils import unix_time
    from moto.sqs.models import SQSBackend

    if getattr(SQSBackend.is_message_valid_based_on_retention_period, "_fast", False):
        return

    def is_message_valid_based_on_retention_period(
        self: Any, queue_name: str, message: Any
    ) -> bool:
        retention_period = self.get_queue(queue_name).message_retention_period
        return bool(retention_period + message.sent_timestamp / 1000 > unix_time())

    is_message_valid_based_on_retention_period._fast = True  # type: ignore[attr-defined]
    SQSBackend.is_message_valid_based_on_retention_period = (  # type: ignore[method-assign]
        is_message_valid_based_on_retention_period
    )


def make_routes_kept() -> None:
    """Each moto backend's URL table built once (idempotent)."""
    from moto.core.base_backend import BaseBackend

    if getattr(BaseBackend.urls.fget, "_kept", False):
        return
    build = BaseBackend.urls.fget

    def urls(self: Any) -> Any:
        kept = self.__dict__.get("_dicomweb_urls")
        if kept is None:
            kept = self.__dict__["_dicomweb_urls"] = build(self)
        return kept

    urls._kept = True  # type: ignore[attr-defined]
    urls.build = build  # type: ignore[attr-defined]
    BaseBackend.urls = property(urls)  # type: ignore[method-assign, assignment]


def make_timestamps_cheap() -> None:
    """moto's serializer reads HTTP dates and ISO 8601 UTC without dateutil (idempotent)."""
    from moto.core import serialize

    from chalicelib.storage.timestamps import fixed_format

    original = serialize.parse_to_aware_datetime
    if getattr(original, "_fast", False):
        return

    def parse_to_aware_datetime(value: Any) -> Any:
        fixed = fixed_format(value) if isinstance(value, str) else None
        return fixed if fixed is not None else original(value)

    parse_to_aware_datetime._fast = True  # type: ignore[attr-defined]
    parse_to_aware_datetime.original = original  # type: ignore[attr-defined]
    serialize.parse_to_aware_datetime = parse_to_aware_datetime


def make_answers_cheap() -> None:
    """The answer patches of this module (idempotent)."""
    make_dynamodb_answers_cheap()
    make_sqs_retention_check_cheap()
    make_timestamps_cheap()
