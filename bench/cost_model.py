"""What each DICOMweb operation costs in AWS: counted calls, estimated DynamoDB capacity, modelled
Lambda time, and AWS list prices applied to them.

Runs the real app in-process on moto (``local.harness``), counts every AWS call the API and the
indexer make (``AwsCallCounter``) and estimates DynamoDB capacity and the time spent outside AWS
calls (``bench.cost_meter``, botocore hooks beside the counter). Prices: ``PRICES`` below, the
one place they live. Usage::

    python -m bench.cost_model                    # print the report
    python -m bench.cost_model --write docs/cost.md
"""

from __future__ import annotations

import argparse
import io
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local.testenv import use_test_environment

use_test_environment()

import boto3
import requests
from moto import mock_aws
from pydicom import dcmread

from bench.cost_meter import GSI_ENTRY_OVERHEAD, Capacity, CostMeter, item_size
from bench.datasets import Generator
from chalicelib.dicomweb.resources import InstanceRef
from chalicelib.storage.keys import instance_key
from chalicelib.storage.schema import INDEXER_BATCH_SIZE
from infra.template import API_MEMORY_MB, INDEX_MEMORY_MB, PIXEL_MEMORY_MB
from local.harness import InProcessStack, in_process_stack, prepared_app

KEY = "bench-key-" + "c" * 32
TENANT = "bench"
GIB = 2**30

# --- prices: the ONE place ------------------------------------------------------------------
#: AWS list prices as published for us-east-1 (USD), as this module's author knew them on
#: PRICES_TAKEN, with no internet access to re-check: verify against the AWS price pages before
#: quoting. No free tier, no savings plans, no volume tiers beyond the first.
PRICES_TAKEN = "2026-12-01"
REGION = "us-east-1"
PRICES: dict[str, tuple[float, str]] = {
    "s3_storage_gb_month": (0.023, "S3 Standard storage, per GB-month (first 50 TB)"),
    "s3_put_per_1k": (0.005, "S3 PUT, COPY, POST, LIST requests, per 1,000"),
    "s3_get_per_1k": (0.0004, "S3 GET, HEAD and other requests, per 1,000 (DELETE is free)"),
    "egress_gb": (0.09, "Data transfer out to the internet, per GB (first 10 TB/month)"),
    "ddb_wru_per_m": (0.625, "DynamoDB on-demand write request units, per million"),
    "ddb_rru_per_m": (0.125, "DynamoDB on-demand read request units, per million"),
    "ddb_storage_gb_month": (0.25, "DynamoDB Standard table storage, per GB-month"),
    "lambda_gb_s": (0.0000166667, "Lambda duration, x86, per GB-second"),
    "lambda_per_m": (0.20, "Lambda requests, per million"),
    "apigw_rest_per_m": (3.50, "API Gateway REST API requests, per million (first 333 M)"),
    "sqs_per_m": (0.40, "SQS standard queue requests, per million (64 KB chunks)"),
    "kms_per_10k": (0.03, "KMS requests, per 10,000 (SSE-KMS, AWS-managed key)"),
    "logs_ingest_gb": (0.50, "CloudWatch Logs standard ingestion, per GB"),
    "xray_per_m": (5.00, "X-Ray traces recorded, per million"),
}
#: AWS HealthImaging, us-east-1, from the example figures of aws.amazon.com/healthimaging/pricing
#: as transcribed on 2026-10-07 (its tables render prices per request type that we could not
#: read; the example uses one API rate). Imports are free; each image set is billed at 5 MB at
#: least; storage is billed after HealthImaging's own lossless compression, 30 days at least.
AHI_PRICES_TAKEN = "2026-10-07"
AHI_PRICES: dict[str, tuple[float, str]] = {
    "frequent_gb_month": (0.105, "Frequent Access tier storage, per GB-month"),
    "archive_gb_month": (0.006, "Archive Instant Access tier (after 30 days untouched)"),
    "api_per_1k": (0.005, "API requests, per 1,000 (the pricing page's example rate)"),
    "import_per_gb": (0.0, "imports (StartDICOMImportJob), per GB"),
}


def price(name: str) -> float:
    return PRICES[name][0]


# --- assumptions (stated in the report) -------------------------------------------------------
#: p50 in-region latency per AWS call (ms), for Lambda duration: moto's speed is not AWS's.
LATENCY_MS = {
    "s3.GetObject": 20,
    "s3.HeadObject": 12,
    "s3.PutObject": 30,
    "s3.CopyObject": 40,
    "s3.ListObjectsV2": 25,
    "s3.ListObjectVersions": 25,
    "s3.DeleteObjects": 30,
    "s3.DeleteObject": 20,
    "dynamodb.GetItem": 5,
    "dynamodb.BatchGetItem": 8,
    "dynamodb.Query": 8,
    "dynamodb.PutItem": 8,
    "dynamodb.UpdateItem": 8,
    "dynamodb.DeleteItem": 8,
    "dynamodb.TransactWriteItems": 20,
}
DEFAULT_LATENCY_MS = 15
TRANSFER_BYTES_PER_S = 100e6  # Lambda <-> S3 in-region
LOG_BYTES_API_REQUEST = 1500  # platform lines, one request line, EMF metrics, access log
LOG_BYTES_INDEXED = 750  # one "indexed" line and its metric, per instance
XRAY_SAMPLED = 0.05  # the default rule: 1 request a second, then 5%
KMS_PER_OBJECT_REQUEST = 0.01  # S3 Bucket Keys: KMS is asked about once per 100 requests
S3_PUT_CLASS = {
    "PutObject",
    "CopyObject",
    "UploadPart",
    "UploadPartCopy",
    "CreateMultipartUpload",
    "CompleteMultipartUpload",
    "ListObjectsV2",
    "ListObjects",
    "ListObjectVersions",
}
S3_GET_CLASS = {"GetObject", "HeadObject"}
S3_FREE = {"DeleteObject", "DeleteObjects", "AbortMultipartUpload"}


@dataclass
class Measured:
    """One operation, per unit (an instance or a request)."""

    name: str
    function: str  # "api", "pixels" (the routes that may decode pixel data) or "indexer"
    calls: dict[str, float]  # service.Operation -> calls per unit (SQS excluded: modelled)
    bytes_moved: float
    capacity: Capacity
    compute_ms: float  # measured wall time outside AWS calls
    api_requests: float = 1.0
    invocations: float = 1.0
    sqs_requests: float = 0.0
    egress_bytes: float = 0.0
    log_bytes: float = LOG_BYTES_API_REQUEST
    counted_sqs: dict[str, float] = field(default_factory=dict)

    @property
    def aws_ms(self) -> float:
        fixed = sum(LATENCY_MS.get(op, DEFAULT_LATENCY_MS) * n for op, n in self.calls.items())
        return fixed + self.bytes_moved / TRANSFER_BYTES_PER_S * 1000

    @property
    def duration_ms(self) -> float:
        return self.compute_ms + self.aws_ms

    @property
    def gb_seconds(self) -> float:
        memory = {"api": API_MEMORY_MB, "pixels": PIXEL_MEMORY_MB}.get(
            self.function, INDEX_MEMORY_MB
        )
        return memory / 1024 * self.duration_ms / 1000

    def s3(self, classes: set[str]) -> float:
        return sum(n for op, n in self.calls.items() if op.split(".")[1] in classes)

    @property
    def dynamodb_requests(self) -> float:
        return sum(n for op, n in self.calls.items() if op.startswith("dynamodb."))

    def costs(self) -> dict[str, float]:
        """USD for one unit, per component (egress apart: it depends on the client)."""
        object_requests = self.s3({"PutObject", "CopyObject", "GetObject", "UploadPart"})
        return {
            "S3 requests": self.s3(S3_PUT_CLASS) * price("s3_put_per_1k") / 1e3
            + self.s3(S3_GET_CLASS) * price("s3_get_per_1k") / 1e3,
            "DynamoDB": self.capacity.read_units * price("ddb_rru_per_m") / 1e6
            + self.capacity.total_write_units * price("ddb_wru_per_m") / 1e6,
            "Lambda": self.invocations * price("lambda_per_m") / 1e6
            + self.gb_seconds * price("lambda_gb_s"),
            "API Gateway": self.api_requests * price("apigw_rest_per_m") / 1e6,
            "SQS": self.sqs_requests * price("sqs_per_m") / 1e6,
            "KMS": object_requests * KMS_PER_OBJECT_REQUEST * price("kms_per_10k") / 1e4,
            "Logs+X-Ray": self.log_bytes / GIB * price("logs_ingest_gb")
            + (self.api_requests or self.invocations) * XRAY_SAMPLED * price("xray_per_m") / 1e6,
        }

    @property
    def total(self) -> float:
        return sum(self.costs().values())

    @property
    def egress_cost(self) -> float:
        return self.egress_bytes / GIB * price("egress_gb")


@dataclass
class Storage:
    instance_bytes: float  # the stored DICOM object
    derived_bytes: float  # fragment + metadata documents + thumbnails, per instance
    catalog_bytes: float  # table items + GSI entries, per instance (DynamoDB's accounting)
    breakdown: dict[str, float]


class Bench:
    """The in-process stack, with the counter and the meter reset around each operation."""

    def __init__(self, stack: InProcessStack) -> None:
        self.stack = stack
        self.meter = CostMeter()
        stack.deps.clients.instrument(self.meter.attach)
        self.rows: list[Measured] = []
        self.raw_s3 = boto3.client("s3", region_name=REGION)

    def run(
        self,
        name: str,
        action: Callable[[], Any],
        *,
        per: int = 1,
        function: str = "api",
        requests_made: int | None = None,
        follow: Callable[[Any], Any] | None = None,
    ) -> Any:
        counter, meter = self.stack.counter, self.meter
        counter.reset()
        meter.reset()
        t0 = time.perf_counter()
        result = action()
        wall = time.perf_counter() - t0
        aws = meter.aws_seconds
        egress = len(result.content) if isinstance(result, requests.Response) else 0
        if follow is not None:  # a client following a redirect: counted, not Lambda time
            egress = len(follow(result).content)
        snap = counter.snapshot()
        capacity = Capacity()
        for c in meter.snapshot().values():
            capacity.read_units += c.read_units / per
            capacity.write_units += c.write_units / per
            capacity.gsi_write_units += c.gsi_write_units / per
        calls = {op: c["calls"] / per for op, c in snap.items() if not op.startswith("sqs.")}
        moved = sum(c["bytes_sent"] + c["bytes_received"] for op, c in snap.items()) / per
        row = Measured(
            name=name,
            function=function,
            calls=calls,
            bytes_moved=moved,
            capacity=capacity,
            compute_ms=max(0.0, wall - aws) * 1000 / per,
            egress_bytes=egress / per,
            counted_sqs={op: c["calls"] / per for op, c in snap.items() if op.startswith("sqs.")},
        )
        if function != "indexer":  # the action made `requests_made` requests (default: per)
            share = (per if requests_made is None else requests_made) / per
            row.api_requests = row.invocations = share
            row.log_bytes = LOG_BYTES_API_REQUEST * share
        else:
            # S3 sends one message per event; Lambda's poller receives and deletes per batch.
            # The local poller's calls (and its empty receives) are shown, not priced.
            row.api_requests = 0
            row.invocations = 1 / INDEXER_BATCH_SIZE
            row.sqs_requests = 1 + 2 / INDEXER_BATCH_SIZE
            row.log_bytes = LOG_BYTES_INDEXED
        self.rows.append(row)
        return result

    def drain(self) -> int:
        return self.stack.drain()


def multipart(parts: list[bytes]) -> tuple[bytes, str]:
    boundary = "cost-model-boundary"
    body = b"".join(
        f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + p + b"\r\n"
        for p in parts
    )
    body += f"--{boundary}--\r\n".encode()
    return body, f'multipart/related; type="application/dicom"; boundary={boundary}'


def stow(stack: InProcessStack, data: bytes) -> requests.Response:
    r = stack.post("/studies", data=data, headers={"Content-Type": "application/dicom"})
    assert r.status_code == 200, r.text
    return r


def retrieve_path(r: requests.Response) -> str:
    url: str = r.json()["00081199"]["Value"][0]["00081190"]["Value"][0]
    return "/" + url.split("/", 3)[3]


ANY = 'multipart/related; type="application/dicom"; transfer-syntax=*'


def measure(quick: bool = False) -> tuple[list[Measured], Storage | None]:
    """Run the operations; ``quick``: STOW, indexing and one QIDO only (for tests)."""
    gen = Generator(seed=11)
    with mock_aws(), prepared_app({TENANT: KEY}) as app, in_process_stack(app, KEY) as stack:
        b = Bench(stack)
        stack.get("/studies", params={"limit": "1"})  # the API key is cached per container
        study, series = gen.uid(), gen.uid()
        first = b.run(
            "STOW-RS, first instance of a study", lambda: stow(stack, gen.ct(study, series, 1))
        )
        path = retrieve_path(first)
        b.run("Indexing, first instance of a study", b.drain, function="indexer")
        n = 3 if quick else 10
        data = [gen.ct(study, series, i + 2) for i in range(n)]
        b.run(
            "STOW-RS, one instance per request (512x512 CT)",
            lambda: [stow(stack, d) for d in data][-1],
            per=n,
        )
        b.run("Indexing, one instance of an existing series", b.drain, per=n, function="indexer")
        pid = f"BENCH-{zlib.crc32(study.encode()) % 7}"
        b.run(
            "QIDO-RS studies (PatientID)", lambda: stack.get("/studies", params={"PatientID": pid})
        )
        if quick:
            return b.rows, None
        b.run("QIDO-RS a study's series", lambda: stack.get(f"/studies/{study}/series"))
        b.run(
            f"QIDO-RS a series' instances ({n + 1})",
            lambda: stack.get(f"/studies/{study}/series/{series}/instances"),
        )
        batch, s2, se2 = 20, gen.uid(), gen.uid()  # one new study
        body, ctype = multipart([gen.ct(s2, se2, i + 1, 256) for i in range(batch)])
        b.run(
            f"STOW-RS, per instance in a batch of {batch} (256x256 CT)",
            lambda: stack.post("/studies", data=body, headers={"Content-Type": ctype}),
            requests_made=1,
            per=batch,
        )
        b.run(
            "Indexing, per instance of that batch (a new study)",
            b.drain,
            per=batch,
            function="indexer",
        )
        meta = f"/studies/{study}/metadata"
        b.run("Study metadata, first read after a change (rebuild)", lambda: stack.get(meta))
        b.run("Study metadata, warm (1 series)", lambda: stack.get(meta))
        b.run(
            "Series metadata, warm", lambda: stack.get(f"/studies/{study}/series/{series}/metadata")
        )
        b.run(
            "Instance retrieve, 512 KB",
            lambda: stack.get(path, headers={"Accept": ANY}),
            function="pixels",
        )
        big = put_large(b, gen)
        b.run(
            "Instance retrieve, 8 MB (303 to a presigned URL, followed)",
            lambda: stack.get(
                big, headers={"Accept": "application/dicom; transfer-syntax=*"},
                allow_redirects=False,
            ),
            follow=lambda r: stack.http.get(r.headers["Location"]),
            function="pixels",
        )  # fmt: skip
        b.run("Frame (512x512 native)", lambda: stack.get(f"{path}/frames/1"), function="pixels")
        stack.get(f"{path}/frames/1/rendered")  # imports Pillow/numpy once: not per request
        b.run(
            "Rendered frame (JPEG)",
            lambda: stack.get(f"{path}/frames/1/rendered"),
            function="pixels",
        )
        b.run(
            "Thumbnail, first (renders, stores)",
            lambda: stack.get(f"{path}/thumbnail"),
            function="pixels",
        )
        b.run("Thumbnail, cached", lambda: stack.get(f"{path}/thumbnail"), function="pixels")
        storage = measure_storage(b)
        b.run(
            f"DELETE a study ({n + 1} instances), API",
            lambda: stack.http.delete(stack.url + f"/studies/{study}"),
        )
        b.run("Indexing, removal of one deleted instance", b.drain, per=n + 1, function="indexer")
        return b.rows, storage


def put_large(b: Bench, gen: Generator) -> str:
    """An 8 MB instance dropped at its canonical key (a STOW body that size gets 413)."""
    data = gen.ct(gen.uid(), gen.uid(), 1, 2048)
    ds = dcmread(io.BytesIO(data), stop_before_pixels=True)
    ref = InstanceRef(TENANT, ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)
    b.raw_s3.put_object(Bucket=b.stack.deps.settings.bucket, Key=instance_key(ref), Body=data)
    b.drain()
    return f"/studies/{ref.study}/series/{ref.series}/instances/{ref.sop}"


def measure_storage(b: Bench) -> Storage:
    """Bytes per catalogued instance: S3 objects, derived objects, catalog items + GSI entries
    (DynamoDB bills 100 bytes of overhead per item and per index entry)."""
    deps = b.stack.deps
    db = boto3.client("dynamodb", region_name=REGION)
    table = deps.settings.catalog_table
    desc = db.describe_table(TableName=table)["Table"]
    indexes = [[k["AttributeName"] for k in g["KeySchema"]] for g in desc["GlobalSecondaryIndexes"]]
    kinds: dict[str, float] = {}
    instances = 0
    for page in db.get_paginator("scan").paginate(TableName=table):
        for item in page["Items"]:
            sk = item["sk"]["S"]
            kind = sk.split("#")[0] if not sk.isdigit() else "FEED entry"
            kind = {"INSTANCE": "instance item", "SERIES": "series item", "STUDY": "study item",
                    "V": "value entries", "SEQ": "feed counter"}.get(kind, kind)  # fmt: skip
            instances += kind == "instance item"
            kinds[kind] = kinds.get(kind, 0) + item_size(item) + 100
            for attrs in indexes:
                if all(a in item for a in attrs):
                    entry = {a: item[a] for a in {*attrs, "pk", "sk"}}
                    kinds["GSI entries"] = (
                        kinds.get("GSI entries", 0) + item_size(entry) + GSI_ENTRY_OVERHEAD
                    )
    s3_bytes = {"dicom/": 0, "derived/": 0}
    for root in s3_bytes:
        pages = b.raw_s3.get_paginator("list_objects_v2").paginate(
            Bucket=deps.settings.bucket, Prefix=f"{root}{TENANT}/"
        )
        s3_bytes[root] = sum(o["Size"] for p in pages for o in p.get("Contents", []))
    return Storage(
        instance_bytes=s3_bytes["dicom/"] / instances,
        derived_bytes=s3_bytes["derived/"] / instances,
        catalog_bytes=sum(kinds.values()) / instances,
        breakdown={k: v / instances for k, v in sorted(kinds.items())},
    )


# --- report -----------------------------------------------------------------------------------


def _n(x: float) -> str:
    if x == 0:
        return "0"
    if x >= 100:
        return f"{x:,.0f}"
    return f"{x:.2f}".rstrip("0").rstrip(".") if x >= 0.01 else f"{x:.3f}"


def _usd(x: float) -> str:
    return f"${x:,.2f}" if x >= 1 else f"${x:.3f}"


def calls_table(rows: list[Measured]) -> list[str]:
    out = [
        "| operation (per unit) | S3 PUT/COPY/LIST | S3 GET/HEAD | S3 DELETE | DynamoDB requests "
        "| RRU | WRU (+GSI) | SQS req. | Lambda inv. | ms (compute + AWS) | GB-s | calls |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        detail = ", ".join(f"{op.split('.', 1)[1]} {_n(n)}" for op, n in sorted(r.calls.items()))
        out.append(
            f"| {r.name} | {_n(r.s3(S3_PUT_CLASS))} | {_n(r.s3(S3_GET_CLASS))} "
            f"| {_n(r.s3(S3_FREE))} | {_n(r.dynamodb_requests)} | {_n(r.capacity.read_units)} "
            f"| {_n(r.capacity.write_units)} (+{_n(r.capacity.gsi_write_units)}) "
            f"| {_n(r.sqs_requests)} | {_n(r.invocations)} "
            f"| {r.compute_ms:.0f} + {r.aws_ms:.0f} | {r.gb_seconds:.3f} | {detail} |"
        )
    return out


def cost_table(rows: list[Measured]) -> list[str]:
    names = list(rows[0].costs()) if rows else []
    out = [
        "| operation, per million | " + " | ".join(names) + " | total | + egress |",
        "|---|" + "---|" * (len(names) + 2),
    ]
    for r in rows:
        costs = r.costs()
        out.append(
            f"| {r.name} | "
            + " | ".join(_usd(costs[k] * 1e6) for k in names)
            + f" | **{_usd(r.total * 1e6)}** | {_usd(r.egress_cost * 1e6)} |"
        )
    return out


def find(rows: list[Measured], prefix: str) -> Measured:
    return next(r for r in rows if r.name.startswith(prefix))


def headlines(rows: list[Measured], storage: Storage | None) -> dict[str, float]:
    out = {
        "stored_indexed": find(rows, "STOW-RS, one instance").total
        + find(rows, "Indexing, one instance").total,
        "qido": find(rows, "QIDO-RS studies").total,
    }
    if storage is not None:
        out["stored_indexed_batch"] = (
            find(rows, "STOW-RS, per instance in a batch").total
            + find(rows, "Indexing, per instance of that batch").total
        )
        out["frame"] = find(rows, "Frame").total
        out["frame_egress"] = find(rows, "Frame").egress_cost
        per_tb = 1024 * GIB / storage.instance_bytes
        out["instances_per_tb"] = per_tb
        out["tb_s3"] = (
            1024
            * (1 + storage.derived_bytes / storage.instance_bytes)
            * price("s3_storage_gb_month")
        )
        out["tb_catalog"] = per_tb * storage.catalog_bytes / GIB * price("ddb_storage_gb_month")
        out["tb_month"] = out["tb_s3"] + out["tb_catalog"]
    return out


def render(rows: list[Measured], storage: Storage | None) -> str:
    from bench.cost_doc import document

    return document(rows, storage)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", type=Path, help="write the markdown report to this file")
    args = parser.parse_args()
    rows, storage = measure()
    text = render(rows, storage)
    if args.write:
        args.write.write_text(text)
        print(f"wrote {args.write}")
    else:
        print(text)


if __name__ == "__main__":
    main()
