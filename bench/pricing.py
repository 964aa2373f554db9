"""AWS list prices, the assumptions the cost model states, and what one measured operation
costs under them (``Measured``, ``Storage``, ``headlines``): pure arithmetic, no AWS and no
moto. ``bench/cost_model.py`` measures the rows, ``bench/cost_doc.py`` renders them into
docs/cost.md; both read the prices here, the one place they live."""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.cost_meter import Capacity
from infra.template import API_MEMORY_MB, INDEX_MEMORY_MB, PIXEL_MEMORY_MB

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
