"""Helpers shared by service tests: S3 event records, fault injection via botocore hooks."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote_plus

from botocore.awsrequest import AWSResponse

from local.lambda_runtime import LambdaContext

MULTIPART = 'multipart/related; type="application/dicom"; boundary=test-boundary'
ANY_TS = 'multipart/related; type="application/dicom"; transfer-syntax=*'


def s3_record(bucket: str, key: str, event_name: str = "ObjectCreated:Put") -> dict[str, Any]:
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "eventName": event_name,
        "s3": {"bucket": {"name": bucket}, "object": {"key": quote_plus(key)}},
    }


def sqs_event(bodies: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": f"m{i}",
                "receiptHandle": f"r{i}",
                "body": json.dumps(body),
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:dicomweb-index",
                "awsRegion": "us-east-1",
            }
            for i, body in enumerate(bodies)
        ]
    }


def deliver(app_module: Any, records: list[dict[str, Any]]) -> dict[str, Any]:
    """Call the indexer Lambda handler with one SQS message per S3 record."""
    event = sqs_event([{"Records": [r]} for r in records])
    result: dict[str, Any] = app_module.index_objects(event, LambdaContext())
    return result


@contextmanager
def inject_error(
    client: Any,
    operation: str,
    code: str,
    status: int = 500,
    when: Callable[[dict[str, Any]], bool] = lambda params: True,
    times: int | None = None,
    extra: dict[str, Any] | None = None,
    message: str = "injected",
) -> Iterator[list[int]]:
    """Make ``client``'s ``operation`` fail with an AWS error code (botocore event hook over
    moto; no mock objects). Yields a one-item list counting the injected failures."""
    service = client.meta.service_model.service_name
    fired = [0]

    def handler(params: dict[str, Any], **_: Any) -> Any:
        if times is not None and fired[0] >= times:
            return None
        if not when(params):
            return None
        fired[0] += 1
        response = AWSResponse("https://injected", status, {}, None)
        return response, {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status},
            **(extra or {}),
        }

    event = f"before-call.{service}.{operation}"
    client.meta.events.register(event, handler)
    try:
        yield fired
    finally:
        client.meta.events.unregister(event, handler)


#: Catalog fields that record history, not state: when an item was written, and how many
#: changes a series' metadata went through. A rebuild from S3 cannot (and need not) match them.
HISTORY_FIELDS = {"indexed_at", "meta_v"}


def catalog_items(stack: Any, tenant: str) -> dict[tuple[str, str], dict[str, Any]]:
    """Every catalog item of a tenant but its change feed (a test may scan; the service never
    does), history fields left out, string sets sorted."""
    db, table = stack.deps.clients.dynamodb, stack.deps.settings.catalog_table
    items: dict[tuple[str, str], dict[str, Any]] = {}
    kwargs: dict[str, Any] = {"TableName": table}
    while True:
        page = db.scan(**kwargs)
        for item in page["Items"]:
            pk, sk = item["pk"]["S"], item["sk"]["S"]
            if pk.startswith(f"{tenant}#") and not pk.endswith("#FEED"):
                items[(pk, sk)] = {
                    k: {"SS": sorted(v["SS"])} if "SS" in v else v
                    for k, v in item.items()
                    if k not in HISTORY_FIELDS
                }
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def wipe_catalog(stack: Any, keys: Iterable[tuple[str, str]]) -> None:
    db, table = stack.deps.clients.dynamodb, stack.deps.settings.catalog_table
    for pk, sk in keys:
        db.delete_item(TableName=table, Key={"pk": {"S": pk}, "sk": {"S": sk}})


def rebuilt_catalog(stack: Any, tenant: str) -> dict[tuple[str, str], dict[str, Any]]:
    """What the catalog would be if rebuilt from S3 now (the live one is put back after)."""
    from chalicelib.services.reindex import reindex

    live = catalog_items(stack, tenant)
    db, table = stack.deps.clients.dynamodb, stack.deps.settings.catalog_table
    raw = []
    for pk, sk in live:
        raw.append(db.get_item(TableName=table, Key={"pk": {"S": pk}, "sk": {"S": sk}})["Item"])
    wipe_catalog(stack, live)
    deps = stack.deps
    reindex(deps.store, deps.catalog_reads, deps.indexer, tenant)
    rebuilt = catalog_items(stack, tenant)
    wipe_catalog(stack, rebuilt)
    for item in raw:
        db.put_item(TableName=table, Item=item)
    return rebuilt


def object_hashes(stack: Any, prefix: str) -> dict[str, str]:
    """SHA-256 of every current object under ``prefix``, computed here from the bytes."""
    import hashlib

    s3, bucket = stack.deps.clients.s3, stack.deps.settings.bucket
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for o in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
            out[o["Key"]] = hashlib.sha256(body).hexdigest()
    return out
