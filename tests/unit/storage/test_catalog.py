"""storage/catalog.py's batched creation (``index_new_batch``) against moto's DynamoDB: the
table it leaves is the one indexing each instance alone leaves, and it refuses, writing
nothing, every case it does not fit."""

from __future__ import annotations

from typing import Any

import boto3

from chalicelib.dicomweb.resources import InstanceRef
from chalicelib.storage.catalog import MAX_BATCH, DynamoCatalog
from chalicelib.storage.schema import catalog_table
from tests.unit.storage.test_catalog_reads import record

HISTORY = {"indexed_at", "meta_v"}


def new_table(name: str) -> tuple[DynamoCatalog, Any]:
    client = boto3.client("dynamodb", region_name="us-east-1")
    client.create_table(**catalog_table(name))
    return DynamoCatalog(client, name), client


def items(client: Any, name: str) -> list[dict[str, Any]]:
    got = client.scan(TableName=name)["Items"]
    return sorted(
        ({k: v for k, v in i.items() if k not in HISTORY} for i in got),
        key=lambda i: (i["pk"]["S"], i["sk"]["S"]),
    )


def series_of(n: int, series: str = "1.1.1", start: int = 1) -> list[Any]:
    return [
        record(InstanceRef("t1", "1.1", series, f"{series}.{i}"), number=i)
        for i in range(start, start + n)
    ]


def test_a_batch_leaves_the_table_indexing_one_by_one_leaves(aws: None) -> None:
    batched, batched_client = new_table("batched")
    single, single_client = new_table("single")
    made = series_of(20)
    assert batched.index_instance(made[0]) == "created"  # creates the series and study
    assert batched.index_new_batch(made[1:])
    for r in made:
        single.index_instance(r)
    assert items(batched_client, "batched") == items(single_client, "single")


def test_a_batch_is_refused_and_writes_nothing_where_it_does_not_fit(aws: None) -> None:
    catalog, client = new_table("catalog")
    made = series_of(5)
    assert not catalog.index_new_batch(made)  # no series, no study yet
    assert items(client, "catalog") == []
    catalog.index_instance(made[0])
    before = items(client, "catalog")
    assert not catalog.index_new_batch(made[:3])  # one of them is catalogued already
    assert not catalog.index_new_batch([made[1], *series_of(1, "1.1.2")])  # two series
    assert not catalog.index_new_batch(series_of(MAX_BATCH + 1, start=10))  # too many
    changed = record(InstanceRef("t1", "1.1", "1.1.1", "1.1.1.9"), patient_id="P2")
    assert not catalog.index_new_batch([made[1], changed])  # the study's values differ
    assert items(client, "catalog") == before
    assert catalog.index_new_batch(made[1:])
