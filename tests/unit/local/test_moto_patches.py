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


def uid_item(pk: str, sk: str, uid: str) -> dict:
    return item(pk, sk, uid_pk={"S": uid}, uid_sk={"S": "INSTANCE#x"})


def by_uid(db, uid: str) -> list[str]:
    got = db.query(
        TableName="t",
        IndexName="by_uid",
        KeyConditionExpression="uid_pk = :u",
        ExpressionAttributeValues={":u": {"S": uid}},
    )
    return [i["pk"]["S"] for i in got["Items"]]


def test_index_lag_hides_a_written_item_from_n_index_reads_then_shows_it(db):
    from local.moto_patches import index_lag

    db.put_item(TableName="t", Item=uid_item("old", "1", "u1"))
    with index_lag(reads=2):
        db.put_item(TableName="t", Item=uid_item("new", "1", "u1"))
        db.transact_write_items(
            TransactItems=[{"Put": {"TableName": "t", "Item": uid_item("tx", "1", "u2")}}]
        )
        # the base table is consistent at once; the index is not
        assert db.get_item(TableName="t", Key=item("new", "1"), ConsistentRead=True)["Item"]
        assert by_uid(db, "u1") == ["old"]
        assert by_uid(db, "u1") == ["old"]
        assert sorted(by_uid(db, "u1")) == ["new", "old"]  # after exactly two index reads
        assert by_uid(db, "u2") == [] and by_uid(db, "u2") == []
        assert by_uid(db, "u2") == ["tx"]
        db.update_item(
            TableName="t",
            Key=item("old", "1"),
            UpdateExpression="SET uid_sk = :s",
            ExpressionAttributeValues={":s": {"S": "INSTANCE#y"}},
        )
        assert by_uid(db, "u1") == ["new"]  # updated: out of the index again for two reads
    assert sorted(by_uid(db, "u1")) == ["new", "old"]  # off: immediate, as moto is
