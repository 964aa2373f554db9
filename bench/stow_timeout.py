"""The largest one-study STOW that answers inside CloudFront's origin timeout, measured with
AWS's latency and write conflicts put back into moto.

    python -m bench.stow_timeout [INSTANCES ...] [--conflicts 0.2]     (make bench-stow-timeout)

The streaming receiver (receiver/app.py) runs in this process over moto, under uvicorn on a
loopback port. Every AWS call is held for its in-region p50 (``bench.pricing.LATENCY_MS``: S3
PUT 30 ms, GET 20 ms, a transaction 20 ms, ...; UploadPart 30 ms plus 8 MiB at 100 MB/s), in
the calling thread, as waiting on AWS does; a fraction of the catalog's transactions is
cancelled with ``TransactionConflict``, as concurrent writers to one study's items are in
DynamoDB. One chunked multipart request of N CT slices (512 x 512, 0.5 MB, one study, four
series) is sent as fast as the client makes them.

What it reports per N: the time to the last byte sent, the time to the answer, the tail (answer
after the last byte: what CloudFront's origin response timeout waits through, 60 s at most),
instances/s, and the AWS calls. From the tail's growth per instance it states the N whose tail
would reach 60 s; when indexing keeps up with arrival, the tail stays flat and the request's
length is bounded by the client's upload speed instead.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import random
import time
from collections.abc import Iterator
from typing import Any

from local.testenv import use_test_environment

use_test_environment()

import requests
from botocore.awsrequest import AWSResponse
from moto import mock_aws

from bench.pricing import DEFAULT_LATENCY_MS, LATENCY_MS, TRANSFER_BYTES_PER_S
from chalicelib.dicomweb.resources import StudyRef
from chalicelib.storage.metering import AwsCallCounter
from local.front import ThreadedAsgiServer
from local.harness import prepared_app
from receiver.app import Receiver
from tests.factories import dataset, to_bytes, uid

TENANT, KEY = "bench", "bench-key-" + "s" * 32
BOUNDARY = "bench-boundary"
CT_SIZE = 512
ORIGIN_TIMEOUT_S = 60.0


def hold_aws(client: Any, conflicts: float, rng: random.Random) -> None:
    """Every call of ``client`` waits its latency; ``conflicts`` of the transactions fail."""
    service = client.meta.service_model.service_name

    def hold(event_name: str, params: dict[str, Any], **_: Any) -> Any:
        op = event_name.rsplit(".", 1)[-1]
        ms = LATENCY_MS.get(f"{service}.{op}", DEFAULT_LATENCY_MS)
        body = params.get("body")
        if op in ("UploadPart", "PutObject") and isinstance(body, (bytes, bytearray)):
            ms += len(body) / TRANSFER_BYTES_PER_S * 1000
        time.sleep(ms / 1000)
        if op == "TransactWriteItems" and rng.random() < conflicts:
            n = len(json.loads(body or b"{}").get("TransactItems", [])) if body else 1
            reasons = [{"Code": "TransactionConflict"}] + [{"Code": "None"}] * (n - 1)
            return AWSResponse("https://injected", 400, {}, None), {
                "Error": {"Code": "TransactionCanceledException", "Message": "conflict"},
                "CancellationReasons": reasons,
                "ResponseMetadata": {"HTTPStatusCode": 400},
            }
        return None

    client.meta.events.register(f"before-call.{service}", hold)


def body(instances: int, study: str, sent: dict[str, float]) -> Iterator[bytes]:
    series = [uid() for _ in range(4)]
    for n in range(instances):
        ds = dataset(
            study=study,
            series=series[n % 4],
            rows=CT_SIZE,
            columns=CT_SIZE,
            InstanceNumber=n + 1,
        )
        yield (f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n").encode()
        yield to_bytes(ds)
        yield b"\r\n"
    yield f"--{BOUNDARY}--\r\n".encode()
    sent["last_byte"] = time.monotonic()


def run(instances: int, conflicts: float) -> dict[str, Any]:
    rng = random.Random(22)
    with mock_aws(), prepared_app({TENANT: KEY}) as app:
        deps = app.deps
        counter = AwsCallCounter()
        deps.clients.instrument(counter.attach)
        for client in (deps.clients.s3, deps.clients.dynamodb):
            hold_aws(client, conflicts, rng)
        server = ThreadedAsgiServer(Receiver(deps))
        study, sent = uid(), {}
        try:
            started = time.monotonic()
            r = requests.post(
                server.url + "/studies",
                data=body(instances, study, sent),
                headers={
                    "apikey": KEY,
                    "Content-Type": f'multipart/related; type="application/dicom"; '
                    f"boundary={BOUNDARY}",
                },
                timeout=600,
            )
            answered = time.monotonic()
        finally:
            server.close()
        answer = r.json()
        stored = len(answer.get("00081199", {}).get("Value", []))
        failed = len(answer.get("00081198", {}).get("Value", []))
        found = sum(1 for _ in deps.catalog_reads.iter_instances(StudyRef(TENANT, study)))
        return {
            "instances": instances,
            "conflicts": conflicts,
            "status": r.status_code,
            "stored": stored,
            "failed": failed,
            "found_by_qido": found,
            "to_last_byte_s": round(sent["last_byte"] - started, 2),
            "to_answer_s": round(answered - started, 2),
            "tail_s": round(answered - sent["last_byte"], 2),
            "instances_per_s": round(instances / (answered - started), 1),
            "transactions": counter.calls("dynamodb.TransactWriteItems"),
            "aws_calls": counter.total_calls(),
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("instances", nargs="*", type=int, default=[200, 800])
    parser.add_argument("--conflicts", type=float, default=0.2)
    parser.add_argument("--json", default="build/stow_timeout.json")
    args = parser.parse_args(argv)
    rows = [run(n, args.conflicts) for n in args.instances]
    head = "instances status stored failed found last-byte-s answer-s tail-s inst/s txns"
    print(head)
    for row in rows:
        print(
            f"{row['instances']:>9} {row['status']:>6} {row['stored']:>6} {row['failed']:>6} "
            f"{row['found_by_qido']:>5} {row['to_last_byte_s']:>11} {row['to_answer_s']:>8} "
            f"{row['tail_s']:>6} {row['instances_per_s']:>6} {row['transactions']:>4}"
        )
    if len(rows) >= 2:
        a, b = rows[0], rows[-1]
        growth = (b["tail_s"] - a["tail_s"]) / max(1, b["instances"] - a["instances"])
        if growth > 0.0005:
            limit = int(b["instances"] + (ORIGIN_TIMEOUT_S - b["tail_s"]) / growth)
            print(
                f"tail grows {growth * 1000:.1f} ms an instance: ~{limit} instances answer "
                f"within {ORIGIN_TIMEOUT_S:.0f} s of the last byte"
            )
        else:
            print("tail does not grow with the request: indexing keeps up with arrival")
    pathlib.Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
