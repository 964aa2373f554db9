"""Our DynamoDB attribute-value conversions (chalicelib.storage.attribute_values) against
boto3's TypeSerializer/TypeDeserializer, value for value: the same attribute values, the same
refusals, the same values back (binary as bytes where boto3 wraps it)."""

from __future__ import annotations

import decimal
from decimal import Decimal
from typing import Any

import pytest
from boto3.dynamodb.types import Binary, TypeDeserializer, TypeSerializer
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.storage.attribute_values import deserialize, serialize

BOTO_SER = TypeSerializer()
BOTO_DE = TypeDeserializer()

numbers = st.one_of(
    st.integers(min_value=-(10**40), max_value=10**40),
    st.decimals(allow_nan=True, allow_infinity=True, places=None),
    st.decimals(min_value=-(10**6), max_value=10**6, places=3),
)
scalars = st.one_of(
    st.none(), st.booleans(), numbers, st.text(max_size=20), st.binary(max_size=20), st.floats()
)
sets = st.one_of(
    st.frozensets(st.text(max_size=8), max_size=4),
    st.sets(st.integers(-(10**6), 10**6), max_size=4),
    st.sets(st.binary(max_size=8), max_size=4),
    st.sets(st.one_of(st.text(max_size=3), st.integers(0, 9)), min_size=2, max_size=3),
)
values = st.recursive(
    st.one_of(scalars, sets),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.tuples(inner, inner),
        st.dictionaries(st.text(max_size=6), inner, max_size=4),
    ),
    max_leaves=12,
)


def outcome(convert: Any, value: Any) -> Any:
    try:
        return ("ok", convert(value))
    except Exception as exc:  # the kind of refusal is what is compared
        return ("raised", type(exc))


def comparable(value: Any) -> Any:
    """A deserialized value with boto3's Binary wrappers as bytes and each Decimal as its
    text (a NaN equals no NaN)."""
    if isinstance(value, Binary):
        return value.value
    if isinstance(value, Decimal):
        return ("N", str(value))
    if isinstance(value, dict):
        return {k: comparable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [comparable(v) for v in value]
    if isinstance(value, set):
        return frozenset(comparable(v) for v in value)
    return value


@settings(max_examples=400, deadline=None)
@given(values)
def test_serialize_as_boto3_does(value: Any) -> None:
    assert outcome(serialize, value) == outcome(BOTO_SER.serialize, value)


@settings(max_examples=400, deadline=None)
@given(values)
def test_deserialize_as_boto3_does(value: Any) -> None:
    kind, attribute = outcome(BOTO_SER.serialize, value)
    if kind != "ok":
        return
    assert comparable(deserialize(attribute)) == comparable(BOTO_DE.deserialize(attribute))


@pytest.mark.parametrize(
    ("value", "attribute"),
    [
        (None, {"NULL": True}),
        (True, {"BOOL": True}),
        (7, {"N": "7"}),
        (Decimal("1.50"), {"N": "1.50"}),
        ("CT", {"S": "CT"}),
        (b"\x00", {"B": b"\x00"}),
        ({"CT"}, {"SS": ["CT"]}),
        ([1, "a"], {"L": [{"N": "1"}, {"S": "a"}]}),
        ({"k": None}, {"M": {"k": {"NULL": True}}}),
    ],
)
def test_each_kind_round_trips(value: Any, attribute: dict[str, Any]) -> None:
    assert serialize(value) == attribute
    assert deserialize(attribute) == value


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (1.5, TypeError),
        (Decimal("NaN"), TypeError),
        (Decimal("Infinity"), TypeError),
        (10**39 + 1, decimal.Inexact),  # more than 38 digits would be rounded
        (object(), TypeError),
        ({"a", 1}, TypeError),
    ],
)
def test_what_dynamodb_cannot_hold_is_refused(value: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        serialize(value)


def test_an_empty_or_unknown_attribute_is_refused() -> None:
    with pytest.raises(TypeError):
        deserialize({})
    with pytest.raises(TypeError):
        deserialize({"X": 1})
