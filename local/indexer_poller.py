"""The local indexer: polls the SQS queue and calls the very handler Lambda runs
(``app.index_objects``) with a Lambda SQS event, deleting the messages it did not report as
failed, as Lambda's event source mapping does. (moto never runs Lambda code without docker,
and an event-source mapping in moto swallows the messages.)

Run as its own process by ``local.stack``; tests call ``poll_once`` in-process.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

from local.lambda_runtime import LambdaContext
from local.state import ObjectMirror


def _event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": {},
                "md5OfBody": m.get("MD5OfBody", hashlib.md5(m["Body"].encode()).hexdigest()),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for m in messages
        ]
    }


def _keys(body: str) -> list[tuple[str, str]]:
    try:
        parsed = json.loads(body)
    except ValueError:
        return []
    return [
        (r.get("eventName", ""), unquote_plus(r["s3"]["object"]["key"]))
        for r in parsed.get("Records", [])
        if "s3" in r
    ]


class Poller:
    def __init__(
        self,
        handler: Any,
        sqs: Any,
        queue_url: str,
        region: str = "us-east-1",
        mirror: ObjectMirror | None = None,
        batch_size: int = 10,
    ) -> None:
        self._handler = handler
        self._sqs = sqs
        self._queue_url = queue_url
        self._region = region
        self._mirror = mirror
        self._batch_size = batch_size
        self._arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]

    def poll_once(self, wait_seconds: int = 0) -> int:
        """Receive one batch and run the handler on it. Returns the messages received."""
        got = self._sqs.receive_message(
            QueueUrl=self._queue_url,
            MaxNumberOfMessages=self._batch_size,
            WaitTimeSeconds=wait_seconds,
            AttributeNames=["All"],
        )
        messages = got.get("Messages", [])
        if not messages:
            return 0
        try:
            result = self._handler(_event(messages, self._arn, self._region), LambdaContext())
        except Exception as exc:  # the whole batch failed: Lambda retries every message
            print(f"indexer batch failed: {type(exc).__name__}", file=sys.stderr)
            return len(messages)
        failed = {f["itemIdentifier"] for f in (result or {}).get("batchItemFailures", [])}
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            self._sqs.delete_message_batch(
                QueueUrl=self._queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)
                ],
            )
        if self._mirror is not None:
            self._mirror_changes(done)
        return len(messages)

    def _mirror_changes(self, messages: list[dict[str, Any]]) -> None:
        assert self._mirror is not None
        imported = False
        for message in messages:
            for _event_name, key in _keys(message["Body"]):
                imported |= key.startswith("import/")
                self._mirror.save(key)  # saves or removes, from the object's current state
        if imported:
            self._mirror.sync_prefix("rejected/")

    def drain(self, max_rounds: int = 1000) -> int:
        """Poll until the queue gives nothing (tests). Returns messages handled."""
        total = 0
        for _ in range(max_rounds):
            n = self.poll_once()
            if n == 0:
                return total
            total += n
        return total

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.poll_once(wait_seconds=1)
            except Exception as exc:  # keep polling: the queue may be briefly unavailable
                print(f"indexer poll error: {type(exc).__name__}", file=sys.stderr)
                stop.wait(0.5)


def main() -> None:
    import boto3

    import app as lambda_app

    settings = lambda_app.settings
    sqs = boto3.client("sqs", region_name=settings.region)
    queue_url = sqs.get_queue_url(QueueName=settings.index_queue)["QueueUrl"]
    state_dir = os.environ.get("STATE_DIR")
    mirror = None
    if state_dir:
        s3 = boto3.client("s3", region_name=settings.region)
        mirror = ObjectMirror(Path(state_dir), s3, settings.bucket)
    poller = Poller(lambda_app.index_objects, sqs, queue_url, settings.region, mirror)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print("indexer polling", flush=True)
    poller.run(stop)


if __name__ == "__main__":
    main()
