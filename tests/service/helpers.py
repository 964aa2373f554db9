"""Helpers shared by service tests: S3 event records, fault injection via botocore hooks."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
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
            "Error": {"Code": code, "Message": "injected"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        }

    event = f"before-call.{service}.{operation}"
    client.meta.events.register(event, handler)
    try:
        yield fired
    finally:
        client.meta.events.unregister(event, handler)
