"""AWS list prices, the assumptions the cost model states, and what one measured operation
costs under them (``Measured``, ``Storage``, ``headlines``): pure arithmetic, no AWS and no
moto. ``bench/cost_model.py`` measures the rows, ``bench/cost_doc.py`` renders them into
docs/cost.md; both read the prices here, the one place they live."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from bench.cost_meter import Capacity
from infra import receiver
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
    "egress_gb": (0.09, "Data transfer out to the internet from S3, per GB (first 10 TB/month)"),
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
    # the front (infra/front.py) and the STOW receiver (infra/receiver.py)
    "cloudfront_requests_per_m": (1.00, "CloudFront HTTPS requests, per million (US, Europe)"),
    "cloudfront_function_per_m": (0.10, "CloudFront Functions invocations, per million"),
    "cloudfront_egress_gb": (
        0.085,
        "CloudFront data transfer out to the internet, per GB (US, Europe; first 10 TB/month)",
    ),
    "cloudfront_to_origin_gb": (
        0.02,
        "CloudFront data transfer to the origin (request bodies), per GB (US, Europe)",
    ),
    "fargate_vcpu_h": (0.04048, "Fargate Linux/x86 vCPU, per hour"),
    "fargate_gb_h": (0.004445, "Fargate Linux/x86 memory, per GB-hour"),
    "alb_h": (0.0225, "Application Load Balancer, per hour"),
    "alb_lcu_h": (
        0.008,
        "Application Load Balancer, per LCU-hour (an LCU: 1 GB an hour to IP targets, or 25 "
        "new connections/s, 3,000 active connections a minute, 1,000 rule evaluations/s)",
    ),
    "public_ipv4_h": (0.005, "Public IPv4 address, per hour"),
    "secret_month": (0.40, "Secrets Manager secret, per month"),
    "secret_api_per_10k": (0.05, "Secrets Manager API calls, per 10,000"),
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
HOURS_PER_MONTH = 730
#: botocore's own CPU per AWS call (signing, serialising, parsing), which the in-process
#: measure counts inside the call: ~2 ms assumed (docs/scale.md saw ~4 ms for a GET against
#: moto in another process, moto's side included).
CLIENT_CPU_MS_PER_CALL = 2.0
#: The receiver's STOWed instances a second per task at full CPU, once measured (docs/scale.md,
#: "The STOW receiver", for the cost model's 512 KB CT); None: modelled from CPU time.
RECEIVER_INSTANCES_PER_TASK_S: float | None = None
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
    #: Request body bytes (CloudFront bills them as data transfer to the origin).
    ingress_bytes: float = 0.0
    #: The answer's bytes come from S3 (a followed presigned URL), not through CloudFront.
    egress_from_s3: bool = False
    #: "api" (CloudFront -> API Gateway -> Lambda) or "receiver" (CloudFront -> ALB -> the
    #: STOW receiver's Fargate tasks: no API Gateway, no Lambda, no X-Ray).
    via: str = "api"

    @property
    def aws_ms(self) -> float:
        fixed = sum(LATENCY_MS.get(op, DEFAULT_LATENCY_MS) * n for op, n in self.calls.items())
        return fixed + self.bytes_moved / TRANSFER_BYTES_PER_S * 1000

    @property
    def duration_ms(self) -> float:
        return self.compute_ms + self.aws_ms

    @property
    def gb_seconds(self) -> float:
        if self.via == "receiver":
            return 0.0
        memory = {"api": API_MEMORY_MB, "pixels": PIXEL_MEMORY_MB}.get(
            self.function, INDEX_MEMORY_MB
        )
        return memory / 1024 * self.duration_ms / 1000

    def s3(self, classes: set[str]) -> float:
        return sum(n for op, n in self.calls.items() if op.split(".")[1] in classes)

    @property
    def dynamodb_requests(self) -> float:
        return sum(n for op, n in self.calls.items() if op.startswith("dynamodb."))

    @property
    def cpu_ms(self) -> float:
        """CPU time of one unit: the measured compute and the client's work per AWS call (the
        waits for AWS leave the vCPU to other requests in the receiver)."""
        return self.compute_ms + CLIENT_CPU_MS_PER_CALL * sum(self.calls.values())

    @property
    def task_seconds(self) -> float:
        """The receiver's task time for one unit at the CPU utilisation target tracking keeps:
        from the measured throughput once known, else from ``cpu_ms``."""
        if self.via != "receiver":
            return 0.0
        utilisation = receiver.CPU_TARGET_PERCENT / 100
        if RECEIVER_INSTANCES_PER_TASK_S:
            return 1 / (RECEIVER_INSTANCES_PER_TASK_S * utilisation)
        return self.cpu_ms / 1000 / utilisation

    def costs(self) -> dict[str, float]:
        """USD for one unit, per component (egress apart: it depends on the client)."""
        object_requests = self.s3({"PutObject", "CopyObject", "GetObject", "UploadPart"})
        lambda_ = self.invocations * price("lambda_per_m") / 1e6 + self.gb_seconds * price(
            "lambda_gb_s"
        )
        api_gateway = self.api_requests * price("apigw_rest_per_m") / 1e6
        xray = (self.api_requests or self.invocations) * XRAY_SAMPLED * price("xray_per_m") / 1e6
        if self.via == "receiver":
            lambda_ = api_gateway = xray = 0.0
        return {
            "S3 requests": self.s3(S3_PUT_CLASS) * price("s3_put_per_1k") / 1e3
            + self.s3(S3_GET_CLASS) * price("s3_get_per_1k") / 1e3,
            "DynamoDB": self.capacity.read_units * price("ddb_rru_per_m") / 1e6
            + self.capacity.total_write_units * price("ddb_wru_per_m") / 1e6,
            "Lambda": lambda_,
            "API Gateway": api_gateway,
            "SQS": self.sqs_requests * price("sqs_per_m") / 1e6,
            "KMS": object_requests * KMS_PER_OBJECT_REQUEST * price("kms_per_10k") / 1e4,
            "Logs+X-Ray": self.log_bytes / GIB * price("logs_ingest_gb") + xray,
            # every request reaches the origins through CloudFront and its viewer function
            "CloudFront": self.api_requests
            * (price("cloudfront_requests_per_m") + price("cloudfront_function_per_m"))
            / 1e6
            + self.ingress_bytes / GIB * price("cloudfront_to_origin_gb"),
            "Fargate+ALB": self.task_seconds / 3600 * task_hour()
            + (self.ingress_bytes / GIB * price("alb_lcu_h") if self.via == "receiver" else 0.0),
        }

    @property
    def total(self) -> float:
        return sum(self.costs().values())

    @property
    def egress_cost(self) -> float:
        rate = price("egress_gb") if self.egress_from_s3 else price("cloudfront_egress_gb")
        return self.egress_bytes / GIB * rate


def task_hour() -> float:
    """One receiver task (infra/receiver.py's size), per hour."""
    return receiver.CPU_UNITS / 1024 * price("fargate_vcpu_h") + receiver.MEMORY_MB / 1024 * price(
        "fargate_gb_h"
    )


def through_receiver(row: Measured, name: str) -> Measured:
    """``row`` (a STOW through the API) as the receiver serves it (``StowReceiver`` Enabled: every
    STOW): the same S3 and DynamoDB work (the same InstanceWriter and inline indexing), no API
    Gateway or Lambda, the task's CPU time and the ALB's bytes instead."""
    return replace(row, name=name, via="receiver", invocations=0.0)


def idle_month(stow_receiver: bool = True) -> dict[str, float]:
    """What the stack costs a month with no request at all (USD), item by item."""
    hours = HOURS_PER_MONTH
    items = {
        "Secrets Manager: the origin secret": price("secret_month"),
        "CloudFront, its function, API Gateway, Lambda (per request only)": 0.0,
    }
    if stow_receiver:
        tasks = receiver.MIN_TASKS
        items.update(
            {
                f"Fargate: {tasks} receiver task ({receiver.CPU_UNITS / 1024:g} vCPU, "
                f"{receiver.MEMORY_MB / 1024:g} GB), the minimum": tasks * task_hour() * hours,
                f"Public IPv4 address of the task ({tasks})": tasks
                * price("public_ipv4_h")
                * hours,
                "Application Load Balancer, hourly (no minimum LCU charge; idle health checks "
                "use a negligible fraction of one)": price("alb_h") * hours,
                "CloudFront VPC origin, S3 and DynamoDB gateway endpoints (no charge)": 0.0,
            }
        )
    return items


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
