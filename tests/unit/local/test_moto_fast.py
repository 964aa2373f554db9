"""moto's DynamoDB answers written directly (local/moto_fast.py) parse, in botocore, to exactly
what moto's own serializer gives, for every item operation the service uses, with every
attribute type, consumed capacity, paging keys and missing items; errors and other operations
still go through moto's serializer."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from chalicelib.storage.schema import catalog_table
from local import moto_fast
from local.moto_patches import make_emulator_safe

Call = Callable[[Any, str], dict[str, Any]]


@pytest.fixture
def db(aws, monkeypatch):
    from moto.dynamodb.responses import DynamoResult

    make_emulator_safe()
    for name in ("__init__", "execute_result"):  # moto's own again after the test
        monkeypatch.setattr(DynamoResult, name, getattr(DynamoResult, name))
    moto_fast.make_dynamodb_answers_cheap()
    client = boto3.client("dynamodb", region_name="us-east-1")
    for name in ("fast", "slow"):
        client.create_table(**catalog_table(name))
        for n in range(5):
            client.put_item(TableName=name, Item=item("a", f"{n}"))
        client.put_item(TableName=name, Item=item("b", "0"))
    return client


def item(pk: str, sk: str) -> dict[str, Any]:
    return {
        "pk": {"S": pk},
        "sk": {"S": sk},
        "uid_pk": {"S": f"u#{pk}"},
        "uid_sk": {"S": sk},
        "s": {"S": "text é ✓"},
        "n": {"N": "12.50"},
        "b": {"B": b"\x00\xffbinary"},
        "ss": {"SS": ["x", "y"]},
        "ns": {"NS": ["1", "2.5"]},
        "bs": {"BS": [b"\x01", b"\x02"]},
        "l": {"L": [{"S": "v"}, {"N": "3"}, {"NULL": True}, {"BOOL": False}]},
        "m": {"M": {"inner": {"M": {"deep": {"B": b"\x7f"}}}, "t": {"BOOL": True}}},
    }


@contextlib.contextmanager
def moto_serializer() -> Iterator[None]:
    """moto's own serializer for the duration."""
    from moto.dynamodb.responses import DynamoResult

    fast, fast_init = DynamoResult.execute_result, DynamoResult.__init__
    DynamoResult.execute_result = fast.original  # type: ignore[attr-defined]
    DynamoResult.__init__ = fast.original_init  # type: ignore[attr-defined]
    try:
        yield
    finally:
        DynamoResult.execute_result, DynamoResult.__init__ = fast, fast_init


def parsed(answer: dict[str, Any], table: str) -> Any:
    """The answer without its request metadata, the table's name made neutral."""
    answer = {k: v for k, v in answer.items() if k != "ResponseMetadata"}
    return _renamed(answer, table)


def _renamed(value: Any, table: str) -> Any:
    if isinstance(value, dict):
        return {_renamed(k, table): _renamed(v, table) for k, v in value.items()}
    if isinstance(value, list):
        return [_renamed(v, table) for v in value]
    return "TABLE" if value == table else value


def key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


CALLS: dict[str, Call] = {
    "GetItem": lambda db, t: db.get_item(TableName=t, Key=key("a", "1")),
    "GetItem, missing": lambda db, t: db.get_item(TableName=t, Key=key("zz", "1")),
    "GetItem, projected, capacity": lambda db, t: db.get_item(
        TableName=t,
        Key=key("a", "1"),
        ProjectionExpression="pk, #m.inner, l[1]",
        ExpressionAttributeNames={"#m": "m"},
        ReturnConsumedCapacity="TOTAL",
    ),
    "Query, paged": lambda db, t: db.query(
        TableName=t,
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": "a"}},
        Limit=2,
        ScanIndexForward=False,
        ReturnConsumedCapacity="INDEXES",
    ),
    "Query, index, keys only": lambda db, t: db.query(
        TableName=t,
        IndexName="by_uid",
        KeyConditionExpression="uid_pk = :p AND uid_sk BETWEEN :a AND :b",
        ExpressionAttributeValues={":p": {"S": "u#a"}, ":a": {"S": "1"}, ":b": {"S": "3"}},
        ReturnConsumedCapacity="INDEXES",
    ),
    "Query, filtered, count": lambda db, t: db.query(
        TableName=t,
        KeyConditionExpression="pk = :p",
        FilterExpression="sk > :s",
        ExpressionAttributeValues={":p": {"S": "a"}, ":s": {"S": "2"}},
        Select="COUNT",
    ),
    "Query, nothing": lambda db, t: db.query(
        TableName=t,
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": "none"}},
    ),
    "Scan": lambda db, t: db.scan(TableName=t, Limit=3, ReturnConsumedCapacity="TOTAL"),
    "BatchGetItem": lambda db, t: db.batch_get_item(
        RequestItems={t: {"Keys": [key("a", "0"), key("a", "4"), key("zz", "0")]}},
        ReturnConsumedCapacity="TOTAL",
    ),
    "TransactGetItems": lambda db, t: db.transact_get_items(
        TransactItems=[
            {"Get": {"TableName": t, "Key": key("a", "2")}},
            {"Get": {"TableName": t, "Key": key("zz", "2")}},
        ]
    ),
    "PutItem, old values": lambda db, t: db.put_item(
        TableName=t, Item=item("a", "3"), ReturnValues="ALL_OLD", ReturnConsumedCapacity="TOTAL"
    ),
    "PutItem, new": lambda db, t: db.put_item(TableName=t, Item=item("c", "1")),
    "UpdateItem, all new": lambda db, t: db.update_item(
        TableName=t,
        Key=key("a", "2"),
        UpdateExpression="SET s = :s ADD n :one, ss :more",
        ExpressionAttributeValues={
            ":s": {"S": "changed"},
            ":one": {"N": "1"},
            ":more": {"SS": ["z"]},
        },
        ReturnValues="ALL_NEW",
    ),
    "UpdateItem, updated old": lambda db, t: db.update_item(
        TableName=t,
        Key=key("b", "0"),
        UpdateExpression="SET b = :b",
        ExpressionAttributeValues={":b": {"B": b"\x10"}},
        ReturnValues="UPDATED_OLD",
    ),
    "DeleteItem, old values": lambda db, t: db.delete_item(
        TableName=t, Key=key("a", "4"), ReturnValues="ALL_OLD"
    ),
    "TransactWriteItems": lambda db, t: db.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": t, "Item": item("d", "1")}},
            {"Delete": {"TableName": t, "Key": key("a", "0")}},
        ],
        ReturnConsumedCapacity="TOTAL",
    ),
    "BatchWriteItem": lambda db, t: db.batch_write_item(
        RequestItems={t: [{"PutRequest": {"Item": item("e", "1")}}]}
    ),
}


@pytest.mark.parametrize("name", list(CALLS))
def test_answer_parses_as_moto_serializer_writes_it(db, name):
    call = CALLS[name]
    fast = parsed(call(db, "fast"), "fast")
    with moto_serializer():
        slow = parsed(call(db, "slow"), "slow")
    assert fast == slow
    # and the tables hold the same afterwards
    after = [
        sorted(db.scan(TableName=t)["Items"], key=lambda i: (i["pk"]["S"], i["sk"]["S"]))
        for t in ("fast", "slow")
    ]
    assert after[0] == after[1]


def test_item_answers_take_the_direct_path():
    result = {"Item": {"b": {"B": b"\x00"}, "n": {"N": "1"}}, "ConsumedCapacity": None}
    expected = '{"Item": {"b": {"B": "AA=="}, "n": {"N": "1"}}}'
    assert moto_fast.fast_body("GetItem", result) == expected


def test_other_answers_go_through_moto():
    from datetime import datetime

    assert moto_fast.fast_body("DescribeTable", {"Table": {"TableName": "t"}}) is None
    assert moto_fast.fast_body("Query", {"When": datetime(2026, 1, 1)}) is None
    assert moto_fast.fast_body("Query", ValueError("x")) is None


def test_errors_keep_moto_serializer(db):
    with pytest.raises(ClientError) as err:
        db.put_item(
            TableName="fast",
            Item=item("a", "1"),
            ConditionExpression="attribute_not_exists(pk)",
        )
    assert err.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    with pytest.raises(ClientError) as err:
        db.get_item(TableName="nope", Key=key("a", "1"))
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_sqs_retention_still_expires_messages(aws, monkeypatch):
    """A message older than the queue's retention period is not handed out; a younger one is."""
    from moto.sqs.models import SQSBackend, sqs_backends

    check = "is_message_valid_based_on_retention_period"
    monkeypatch.setattr(SQSBackend, check, getattr(SQSBackend, check))
    moto_fast.make_sqs_retention_check_cheap()
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="q", Attributes={"MessageRetentionPeriod": "60"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="old")
    (message,) = sqs_backends["123456789012"]["us-east-1"].get_queue("q")._messages
    message.sent_timestamp -= 61_000  # sent 61 s earlier: past the 60 s retention
    assert sqs.receive_message(QueueUrl=url).get("Messages", []) == []
    sqs.send_message(QueueUrl=url, MessageBody="new")
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in got] == ["new"]


def test_kept_routes_are_the_routes_moto_builds(aws, monkeypatch):
    from moto.core.base_backend import BaseBackend
    from moto.s3.models import s3_backends

    monkeypatch.setattr(BaseBackend, "urls", BaseBackend.urls)
    moto_fast.make_routes_kept()
    backend = s3_backends["123456789012"]["aws"]
    assert backend.urls is backend.urls  # built once
    assert backend.urls == BaseBackend.urls.fget.build(backend)
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="kept-routes")
    s3.put_object(Bucket="kept-routes", Key="a/b c", Body=b"x")
    assert s3.get_object(Bucket="kept-routes", Key="a/b c")["Body"].read() == b"x"


def test_s3_timestamps_read_without_dateutil_as_moto_reads_them(aws, monkeypatch):
    """moto's S3 answers carry the same Last-Modified and LastModified with the fixed-format
    reader as with botocore's parser, and dateutil is not called for them."""
    import dateutil.parser
    from moto.core import serialize

    from chalicelib.storage.clients import new_session

    monkeypatch.setattr(serialize, "parse_to_aware_datetime", serialize.parse_to_aware_datetime)
    s3 = new_session().create_client("s3", region_name="us-east-1")  # the functions' reader
    s3.create_bucket(Bucket="stamps-bucket")
    for name in ("a", "b"):
        s3.put_object(Bucket="stamps-bucket", Key=f"t1/{name}", Body=b"x")

    def answers() -> list[object]:
        got = s3.get_object(Bucket="stamps-bucket", Key="t1/a")
        listed = s3.list_objects_v2(Bucket="stamps-bucket")["Contents"]
        return [got["LastModified"], got["ResponseMetadata"]["HTTPHeaders"]["last-modified"]] + [
            o["LastModified"] for o in listed
        ]

    slow = answers()
    moto_fast.make_timestamps_cheap()

    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("dateutil read a timestamp")

    monkeypatch.setattr(dateutil.parser, "parse", refuse)
    assert answers() == slow
