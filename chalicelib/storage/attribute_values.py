"""Python values to DynamoDB attribute values and back, as boto3's ``TypeSerializer`` and
``TypeDeserializer`` convert them.

Ours because importing ``boto3.dynamodb.types`` imports boto3 itself, and with it s3transfer and
multiprocessing: 73 M instructions of every function's cold start (``make bench-coldstart``),
for two small pure functions. The conversions are boto3's, value for value (numbers in its
38-digit decimal context, floats refused, sets by their members' type, empty sets as numbers),
and ``tests/unit/storage/test_attribute_values.py`` checks them against boto3's own on every
kind of value, so the two cannot drift apart. One deliberate difference: a binary value comes
back as ``bytes``, not boto3's ``Binary`` wrapper (the catalog stores none).
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from decimal import Clamped, Context, Decimal, Inexact, Overflow, Rounded, Underflow
from typing import Any

#: boto3's: DynamoDB numbers have up to 38 significant digits; anything that would round fails.
DYNAMODB_CONTEXT = Context(
    Emin=-128, Emax=126, prec=38, traps=[Clamped, Overflow, Inexact, Rounded, Underflow]
)

AttributeValue = dict[str, Any]


def _number(value: int | Decimal) -> str:
    number = str(DYNAMODB_CONTEXT.create_decimal(value))
    if number in ("Infinity", "NaN"):
        raise TypeError("Infinity and NaN not supported")
    return number


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, Decimal)) and not isinstance(value, bool)


def serialize(value: Any) -> AttributeValue:
    """A Python value as a DynamoDB attribute value (``{"S": ...}``, ``{"N": ...}``, ...)."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, str):
        return {"S": value}
    if _is_number(value):
        return {"N": _number(value)}
    if isinstance(value, float):
        raise TypeError("Float types are not supported. Use Decimal types instead.")
    if isinstance(value, (bytes, bytearray)):
        return {"B": value}
    if isinstance(value, Set):
        if all(_is_number(v) for v in value):
            return {"NS": [_number(v) for v in value]}
        if all(isinstance(v, str) for v in value):
            return {"SS": list(value)}
        if all(isinstance(v, (bytes, bytearray)) for v in value):
            return {"BS": list(value)}
    elif isinstance(value, Mapping):
        return {"M": {k: serialize(v) for k, v in value.items()}}
    elif isinstance(value, (list, tuple)):
        return {"L": [serialize(v) for v in value]}
    raise TypeError(f'Unsupported type "{type(value)}" for value "{value}"')


def deserialize(value: AttributeValue) -> Any:
    """A DynamoDB attribute value as a Python value (numbers as ``Decimal``, sets as sets)."""
    if not value:
        raise TypeError("Value must be a nonempty dictionary whose key is a valid dynamodb type.")
    kind, data = next(iter(value.items()))
    if kind == "S" or kind == "BOOL" or kind == "B":
        return data
    if kind == "N":
        return DYNAMODB_CONTEXT.create_decimal(data)
    if kind == "M":
        return {k: deserialize(v) for k, v in data.items()}
    if kind == "L":
        return [deserialize(v) for v in data]
    if kind == "NULL":
        return None
    if kind == "SS" or kind == "BS":
        return set(data)
    if kind == "NS":
        return {DYNAMODB_CONTEXT.create_decimal(n) for n in data}
    raise TypeError(f"Dynamodb type {kind} is not supported")
