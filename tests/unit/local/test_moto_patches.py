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


# --- Query at the cost of its answer (local/moto_index.py) -------------------------------------


@pytest.fixture
def fast(aws):
    from local.moto_patches import make_emulator_safe

    make_emulator_safe()
    client = boto3.client("dynamodb", region_name="us-east-1")
    client.create_table(**catalog_table("t"))
    return client


def _all(h: str) -> dict:
    return {
        "KeyConditionExpression": "date_pk = :h",
        "ExpressionAttributeValues": {":h": {"S": h}},
    }


def dated(pk: str, sk: str, date_pk: str, date_sk: str, **extra):
    return item(pk, sk, date_pk={"S": date_pk}, date_sk={"S": date_sk}, **extra)


def all_pages(db, **query) -> tuple[list[dict], int]:
    """Every item a Query returns, page after page, and how many requests it took."""
    out, calls, start = [], 0, None
    while True:
        args = {"TableName": "t", **query}
        if start:
            args["ExclusiveStartKey"] = start
        got = db.query(**args)
        calls += 1
        out += got["Items"]
        start = got.get("LastEvaluatedKey")
        if not start:
            return out, calls


CONDITIONS = [
    ("date_pk = :h", {}),
    ("date_pk = :h AND date_sk = :a", {":a": "2024-05#06"}),
    ("date_pk = :h AND date_sk < :a", {":a": "2024-05"}),
    ("date_pk = :h AND date_sk <= :a", {":a": "2024-05#06"}),
    ("date_pk = :h AND date_sk > :a", {":a": "2024-05#06"}),
    ("date_pk = :h AND date_sk >= :a", {":a": "2024-05"}),
    ("date_pk = :h AND date_sk BETWEEN :a AND :b", {":a": "2024-03", ":b": "2024-06~"}),
    ("date_pk = :h AND begins_with(date_sk, :a)", {":a": "2024-1"}),
]


@pytest.mark.parametrize(("condition", "values"), CONDITIONS)
@pytest.mark.parametrize("forward", [True, False])
@pytest.mark.parametrize("limit", [None, 1, 7])
def test_queries_answer_as_moto_walking_the_table(fast, condition, values, forward, limit):
    """Same items, same order, page after page, as moto's own Query (which walks the table);
    two partitions and ties on the index sort key (ordered by the table's keys)."""
    for i in range(60):
        partition = "p#A" if i % 3 else "p#B"
        month = 1 + i % 12
        fast.put_item(
            TableName="t",
            Item=dated(f"s{i % 9}", f"k{i:03d}", partition, f"2024-{month:02d}#{i % 10:02d}"),
        )
    assert len(same_as_moto(fast, {"IndexName": "by_date", **_all("p#A")})) == 40
    query = {
        "IndexName": "by_date",
        "KeyConditionExpression": condition,
        "ExpressionAttributeValues": {":h": {"S": "p#A"}}
        | {k: {"S": v} for k, v in values.items()},
        "ScanIndexForward": forward,
    }
    if limit:
        query["Limit"] = limit
    got = same_as_moto(fast, query)
    assert all(set(i) == {"pk", "sk", "date_pk", "date_sk"} for i in got)  # keys only
    # the base table: a partition's items by sort key, whole
    table_query = dict(query, IndexName=None)
    del table_query["IndexName"]
    table_query["KeyConditionExpression"] = condition.replace("date_pk", "pk").replace(
        "date_sk", "sk"
    )
    table_query["ExpressionAttributeValues"] = {":h": {"S": "s4"}} | {
        k: {"S": v.replace("2024-", "k0").replace("#", "")} for k, v in values.items()
    }
    same_as_moto(fast, table_query)


def same_as_moto(db, query: dict) -> list[dict]:
    from moto.dynamodb.models.table import Table

    got, _ = all_pages(db, **query)
    cheap = Table.query
    try:
        Table.query = cheap.moto_query  # moto's walk, unpatched
        expected, _ = all_pages(db, **query)
    finally:
        Table.query = cheap
    assert got == expected
    return got


def test_a_page_stops_at_limit_and_says_where_more_or_not(fast):
    for i in range(3):
        fast.put_item(TableName="t", Item=dated("s", f"k{i}", "p", f"d{i}"))
    query = {
        "TableName": "t",
        "IndexName": "by_date",
        "KeyConditionExpression": "date_pk = :h",
        "ExpressionAttributeValues": {":h": {"S": "p"}},
        "Limit": 3,
    }
    page = fast.query(**query)
    assert page["Count"] == page["ScannedCount"] == 3
    assert page["LastEvaluatedKey"]["date_sk"] == {"S": "d2"}  # DynamoDB: Limit reached
    rest = fast.query(**query, ExclusiveStartKey=page["LastEvaluatedKey"])
    assert rest["Items"] == [] and "LastEvaluatedKey" not in rest


def test_limit_counts_items_evaluated_before_the_filter(fast):
    for i in range(6):
        fast.put_item(TableName="t", Item=dated("s", f"k{i}", "p", f"d{i}", n={"N": str(i)}))
    page = fast.query(
        TableName="t",
        KeyConditionExpression="pk = :p",
        FilterExpression="n >= :three",
        ExpressionAttributeValues={":p": {"S": "s"}, ":three": {"N": "3"}},
        Limit=4,
    )
    assert page["ScannedCount"] == 4
    assert [i["sk"]["S"] for i in page["Items"]] == ["k3"]
    assert page["LastEvaluatedKey"]["sk"] == {"S": "k3"}


def test_pages_end_at_one_megabyte_of_what_the_query_reads(fast):
    """A base-table page ends at ~1 MB of items; a keys-only index reads its small entries, so
    one page holds every one of them."""
    big = {"blob": {"S": "x" * 300_000}}
    for i in range(8):
        fast.put_item(TableName="t", Item=dated("s", f"k{i}", "p", f"d{i}", **big))
    _, table_calls = all_pages(
        fast, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "s"}}
    )
    assert table_calls == 3  # 3 + 3 + 2 items of 300 KB
    items, index_calls = all_pages(
        fast,
        IndexName="by_date",
        KeyConditionExpression="date_pk = :h",
        ExpressionAttributeValues={":h": {"S": "p"}},
    )
    assert (len(items), index_calls) == (8, 1)


def test_an_index_query_reads_no_other_item(fast, monkeypatch):
    """Neither query walks the table: moto's listing of every item is never called."""
    from moto.dynamodb.models.table import Table

    for i in range(50):
        fast.put_item(TableName="t", Item=dated(f"s{i % 5}", f"k{i}", f"p{i % 5}", f"d{i:02d}"))

    def walked(self):
        raise AssertionError("the whole table was walked")

    monkeypatch.setattr(Table, "all_items", walked)
    got = fast.query(
        TableName="t",
        IndexName="by_date",
        KeyConditionExpression="date_pk = :h AND date_sk BETWEEN :a AND :b",
        ExpressionAttributeValues={":h": {"S": "p2"}, ":a": {"S": "d10"}, ":b": {"S": "d30"}},
    )
    assert [i["date_sk"]["S"] for i in got["Items"]] == ["d12", "d17", "d22", "d27"]
    base = fast.query(
        TableName="t",
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": "s3"}},
    )
    assert base["Count"] == 10


def test_index_entries_follow_every_write(fast):
    """Put, update of the index key, delete, a cancelled transaction (rolled back), a batch."""

    def listed(h: str) -> list[str]:
        got = fast.query(
            TableName="t",
            IndexName="by_date",
            KeyConditionExpression="date_pk = :h",
            ExpressionAttributeValues={":h": {"S": h}},
        )
        return [i["sk"]["S"] for i in got["Items"]]

    fast.put_item(TableName="t", Item=dated("s", "a", "p", "2"))
    fast.put_item(TableName="t", Item=dated("s", "b", "p", "1"))
    assert listed("p") == ["b", "a"]
    fast.update_item(
        TableName="t",
        Key=item("s", "b"),
        UpdateExpression="SET date_pk = :q",
        ExpressionAttributeValues={":q": {"S": "q"}},
    )
    assert (listed("p"), listed("q")) == (["a"], ["b"])
    fast.update_item(TableName="t", Key=item("s", "a"), UpdateExpression="REMOVE date_sk")
    assert listed("p") == []  # no sort key: out of the index
    with pytest.raises(ClientError):
        fast.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": "t", "Item": dated("s", "c", "p", "3")}},
                {
                    "Put": {
                        "TableName": "t",
                        "Item": dated("s", "b", "p", "0"),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        )
    assert (listed("p"), listed("q")) == ([], ["b"])
    fast.batch_write_item(
        RequestItems={
            "t": [
                {"PutRequest": {"Item": dated("s", "d", "p", "4")}},
                {"DeleteRequest": {"Key": item("s", "b")}},
            ]
        }
    )
    assert (listed("p"), listed("q")) == (["d"], [])
    fast.delete_item(TableName="t", Key=item("s", "d"))
    assert listed("p") == []


def test_a_partition_query_sees_every_write(fast):
    """The base-table partition, sorted once until written: put, update, delete, a cancelled
    transaction (rolled back), a batch, each seen by the next Query."""

    def partition() -> list[tuple[str, str]]:
        got = fast.query(
            TableName="t",
            KeyConditionExpression="pk = :h",
            ExpressionAttributeValues={":h": {"S": "s"}},
        )
        return [(i["sk"]["S"], i.get("v", {}).get("S", "")) for i in got["Items"]]

    fast.put_item(TableName="t", Item=item("s", "b"))
    fast.put_item(TableName="t", Item=item("s", "a"))
    assert partition() == [("a", ""), ("b", "")]
    fast.update_item(
        TableName="t",
        Key=item("s", "b"),
        UpdateExpression="SET v = :v",
        ExpressionAttributeValues={":v": {"S": "new"}},
    )
    assert partition() == [("a", ""), ("b", "new")]
    with pytest.raises(ClientError):
        fast.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": "t", "Item": item("s", "c")}},
                {
                    "Update": {
                        "TableName": "t",
                        "Key": item("s", "a"),
                        "UpdateExpression": "SET v = :v",
                        "ExpressionAttributeValues": {":v": {"S": "x"}},
                    }
                },
                {
                    "Put": {
                        "TableName": "t",
                        "Item": item("s", "b"),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        )
    assert partition() == [("a", ""), ("b", "new")]
    fast.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": "t", "Item": item("s", "c", v={"S": "t"})}},
            {"Delete": {"TableName": "t", "Key": item("s", "a")}},
        ]
    )
    assert partition() == [("b", "new"), ("c", "t")]
    fast.batch_write_item(
        RequestItems={
            "t": [
                {"PutRequest": {"Item": item("s", "0")}},
                {"DeleteRequest": {"Key": item("s", "b")}},
            ]
        }
    )
    assert partition() == [("0", ""), ("c", "t")]
    fast.delete_item(TableName="t", Key=item("s", "c"))
    assert partition() == [("0", "")]


def test_the_index_lag_still_applies_to_cheap_queries(fast):
    from local.moto_patches import index_lag

    with index_lag(reads=1):
        fast.put_item(TableName="t", Item=uid_item("x", "1", "u9"))
        assert by_uid(fast, "u9") == []
        assert by_uid(fast, "u9") == ["x"]
