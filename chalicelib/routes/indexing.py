"""The indexer Lambda's entry: SQS batches of S3 events, per-message failures reported back
(``ReportBatchItemFailures``) so only failed messages are retried and, after the queue's
maxReceiveCount, land in the dead-letter queue."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from chalicelib.observability import logger, metrics
from chalicelib.services.indexer import Indexer, key_hash


def _key_hashes(body: dict[str, Any]) -> list[str]:
    return [
        key_hash(unquote_plus(r.get("s3", {}).get("object", {}).get("key", "")))
        for r in body.get("Records", [])
    ]


def handle_batch(indexer: Indexer, event: dict[str, Any], context: Any) -> dict[str, Any]:
    def record_handler(record: SQSRecord) -> None:
        body = json.loads(record.body)
        try:
            outcomes = indexer.handle_message(body)
        except Exception:
            logger.exception(
                "indexing failed; the message will be retried",
                extra={
                    "key_hash": _key_hashes(body),
                    "receive_count": record.attributes.approximate_receive_count,
                },
            )
            raise
        for outcome in outcomes:
            logger.info(
                "indexed",
                extra={
                    "action": outcome.action,
                    "key_hash": outcome.key_hash,
                    "sop_uid": outcome.sop,
                },
            )
            metrics.add_metric(name=f"Index_{outcome.action}", unit="Count", value=1)

    processor = BatchProcessor(event_type=EventType.SQS)
    result = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return dict(result)
