"""The emulator patch: transactions roll back only what they touched, and concurrent
transactions lose no update (moto alone loses them)."""

from __future__ import annotations

import contextlib
import threading

import boto3
import pytest
from botocore.exceptions import ClientError

from chalicelib.storage.schema import catalog_table
from local.moto_patches import make_dynamodb_atomic


@pytest.fixture
def db(aws):
    make_dynamodb_atomic()
    client = boto3.client("dynamodb", region_name="us-east-1")
    client.create_table(**catalog_table("t"))
    return client


def item(pk: str, sk: str, **extra):
    return {"pk": {"S": pk}, "sk": {"S": sk}, **extra}


def test_failed_transaction_rolls_back_only_its_items(db):
    db.put_item(TableName="t", Item=item("a", "1", n={"N": "1"}))
    with pytest.raises(ClientError) as err:
        db.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": "t", "Item": item("a", "2")}},
                {
                    "Update": {
                        "TableName": "t",
                        "Key": item("a", "1"),
                        "UpdateExpression": "ADD n :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}},
                    }
                },
                {
                    "Put": {
                        "TableName": "t",
                        "Item": item("a", "3"),
                        "ConditionExpression": "attribute_exists(pk)",
                    }
                },
            ]
        )
    assert err.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert "Item" not in db.get_item(TableName="t", Key=item("a", "2"))
    assert db.get_item(TableName="t", Key=item("a", "1"))["Item"]["n"] == {"N": "1"}


def test_concurrent_counter_transactions_lose_nothing(db):
    db.put_item(TableName="t", Item=item("c", "0", n={"N": "0"}))

    def work(i: int) -> None:
        for j in range(20):
            with contextlib.suppress(ClientError):
                # the second round of each j fails its condition: nothing may change
                db.transact_write_items(
                    TransactItems=[
                        {
                            "Put": {
                                "TableName": "t",
                                "Item": item("c", f"{i}-{j % 10}"),
                                "ConditionExpression": "attribute_not_exists(pk)",
                            }
                        },
                        {
                            "Update": {
                                "TableName": "t",
                                "Key": item("c", "0"),
                                "UpdateExpression": "ADD n :one",
                                "ExpressionAttributeValues": {":one": {"N": "1"}},
                            }
                        },
                    ]
                )

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert db.get_item(TableName="t", Key=item("c", "0"))["Item"]["n"] == {"N": "60"}
