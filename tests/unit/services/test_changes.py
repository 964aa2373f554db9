"""services/changes.py over moto's DynamoDB: the change feed the indexer records, read a page
at a time and as its last entry."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.dicomweb.errors import BadRequest, NotFound
from chalicelib.dicomweb.media import JSON
from chalicelib.dicomweb.resources import InstanceRef
from chalicelib.services.answers import Body
from chalicelib.services.changes import MAX_FEED_PAGE, Changes
from chalicelib.storage.changefeed import ChangeFeed
from chalicelib.storage.schema import catalog_table

T = "t1"


@pytest.fixture
def feed() -> Iterator[ChangeFeed]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(**catalog_table("catalog"))
        yield ChangeFeed(client, "catalog")


def doc(body: Body) -> Any:
    assert (body.status, body.media_type) == (200, JSON)
    content = body.parts[0].content
    assert isinstance(content, bytes)
    return json.loads(content)


def test_changes_in_order_from_a_sequence_number(feed: ChangeFeed) -> None:
    for n in range(3):
        feed.record(InstanceRef(T, "1.2", "1.2.3", f"1.2.3.{n}"), "created")
    feed.record(InstanceRef("t2", "9.9", "9.9.9", "9.9.9.9"), "created")
    changes = Changes(feed)
    everything = doc(changes.read_changes(T, None, None))
    assert [c["sequence"] for c in everything] == [1, 2, 3]
    assert everything[0]["sopInstanceUid"] == "1.2.3.0" and everything[0]["action"] == "created"
    assert [c["sequence"] for c in doc(changes.read_changes(T, "1", "1"))] == [2]
    assert doc(changes.latest_change(T))["sequence"] == 3


def test_parameters_out_of_range_are_400(feed: ChangeFeed) -> None:
    changes = Changes(feed)
    for start, limit in (("", None), (None, ""), ("-1", None), ("x", None), (None, "0")):
        with pytest.raises(BadRequest):
            changes.read_changes(T, start, limit)
    with pytest.raises(BadRequest):
        changes.read_changes(T, "0", str(MAX_FEED_PAGE + 1))
    assert doc(changes.read_changes(T, "0", str(MAX_FEED_PAGE))) == []


@pytest.mark.parametrize(
    ("start", "limit"),
    [("\u0661", None), ("\uff11", None), (None, "\u0665"), ("1" * 19, None), (" 1", None)],
)
def test_only_ascii_digits_are_numbers(feed: ChangeFeed, start: Any, limit: Any) -> None:
    """Arabic-Indic or full-width digits pass isdecimal() and int(): not here."""
    with pytest.raises(BadRequest) as raised:
        Changes(feed).read_changes(T, start, limit)
    assert raised.value.code == "InvalidParameter"


def test_no_change_yet_is_404(feed: ChangeFeed) -> None:
    with pytest.raises(NotFound):
        Changes(feed).latest_change(T)
