"""The indexer Lambda's entry: SQS batches of S3 events, per-message failures reported back
(``ReportBatchItemFailures``) so only failed messages are retried and, after the queue's
maxReceiveCount, land in the dead-letter queue. Logged with the Lambda request id, one line per
batch with its AWS calls (the trace is Lambda's); object keys are logged as hashes (import keys
may hold patient names)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

from chalicelib.observability import error_fields, logger, metrics, tallying_aws_calls

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    from chalicelib.services.indexer import Indexer


class IndexingFailed(Exception):
    """A message that failed, named by its error's type only."""


def _key_hashes(body: dict[str, Any]) -> list[str]:
    from chalicelib.services.indexer import key_hash

    return [
        key_hash(unquote_plus(r.get("s3", {}).get("object", {}).get("key", "")))
        for r in body.get("Records", [])
    ]


def handle_batch(indexer: Indexer, event: dict[str, Any], context: Any) -> dict[str, Any]:
    # Imported here, by the indexer only: the batch utility loads all of Powertools' event
    # classes (about 50 modules), which the API function's cold start would pay for nothing.
    from aws_lambda_powertools.utilities.batch import (
        BatchProcessor,
        EventType,
        process_partial_response,
    )

    def record_handler(record: SQSRecord) -> None:
        body = json.loads(record.body)
        try:
            outcomes = indexer.handle_message(body)
        except Exception as exc:
            logger.error(
                "indexing failed; the message will be retried",
                extra={
                    "key_hash": _key_hashes(body),
                    "receive_count": record.attributes.approximate_receive_count,
                    **error_fields(exc),
                },
            )
            # re-raised without its message: the batch processor logs it (DEBUG) and, when the
            # whole batch failed, raises it to the runtime (logged) and the trace
            raise IndexingFailed(type(exc).__name__) from None
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

    records = event.get("Records", [])
    logger.append_keys(transaction="index", request_id=getattr(context, "aws_request_id", None))
    try:
        with tallying_aws_calls() as calls:
            processor = BatchProcessor(event_type=EventType.SQS)
            result = process_partial_response(
                event=event, record_handler=record_handler, processor=processor, context=context
            )
        failed = len(result.get("batchItemFailures", []))
        logger.info("batch", extra={"count": len(records), "failed": failed, **calls.fields()})
        return dict(result)
    finally:
        logger.remove_keys(["transaction", "request_id"])
