"""AWS list prices, the assumptions the cost model states, and what one measured operation
costs under them (``Measured``, ``Storage``, ``headlines``): pure arithmetic, no AWS and no
moto. ``bench/cost_model.py`` measures the rows, ``bench/cost_doc.py`` renders them into
docs/cost.md; both read the prices here, the one place they live."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any

from bench.cost_meter import Capacity
from infra import receiver
from infra.template import API_MEMORY_MB, INDEX_MEMORY_MB, PIXEL_MEMORY_MB, merge_template

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
    "ddb_pitr_gb_month": (
        0.20,
        "DynamoDB continuous backups (point-in-time recovery), per GB-month of table "
        "(items and local secondary indexes; global secondary indexes are not counted)",
    ),
    "lambda_gb_s": (0.0000166667, "Lambda duration, x86, per GB-second"),
    "lambda_per_m": (0.20, "Lambda requests, per million"),
    "apigw_rest_per_m": (3.50, "API Gateway REST API requests, per million (first 333 M)"),
    "sqs_per_m": (0.40, "SQS standard queue requests, per million (64 KB chunks)"),
    "kms_per_10k": (0.03, "KMS requests, per 10,000 (SSE-KMS, AWS-managed key)"),
    "logs_ingest_gb": (0.50, "CloudWatch Logs standard ingestion, per GB"),
    "xray_per_m": (5.00, "X-Ray traces recorded, per million"),
    "xray_read_per_m": (0.50, "X-Ray traces retrieved or scanned, per million"),
    "cw_metric_month": (
        0.30,
        "CloudWatch custom metrics (EMF and API Gateway's detailed metrics), per metric-month "
        "(first 10,000; prorated by the hours a metric receives data)",
    ),
    "logs_insights_gb": (0.005, "CloudWatch Logs Insights, per GB of logs scanned"),
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


#: HealthImaging bills storage on its own lossless re-encoding (HTJ2K) of the pixel data, not on
#: the size sent: ASSUMED 2.5:1 for 12-16 bit CT and MR sent uncompressed (lossless JPEG 2000
#: family codecs reach ~2-3:1 on such images; data sent already compressed gains ~nothing, 1:1).
AHI_COMPRESSION_RATIO = 2.5
#: ... plus "the structured storage of DICOM metadata", whose rate the page's tables did not
#: render: ASSUMED at DynamoDB Standard's $0.25 per GB-month, on the size of this service's own
#: metadata fragments (the DICOM JSON of each instance). A placeholder: verify.
AHI_METADATA_GB_MONTH = 0.25


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
#: X-Ray's default sampling rule (what applies when the stack sets none) and Lambda's own
#: sampling of an invocation that arrives without a trace header (the indexer's SQS batches):
#: the first request each second, then 5 % of the rest. The reservoir is one a second for the
#: whole fleet of a rule, so at low traffic every request is traced.
XRAY_DEFAULT_RESERVOIR_PER_S = 1
XRAY_DEFAULT_RATE = 0.05
#: Lambda's INIT phase, billed since 2025-08-01 at the function's duration price (it was free
#: for managed runtimes before): each function's import as ``make bench-coldstart`` measured it
#: (median ms; the API and indexer share one package and entry module). The runtime's own start
#: is not in it: a small understatement.
INIT_MS = {"api": 227.0, "indexer": 227.0, "pixels": 274.0}
INIT_MEASURED = (
    "API and indexer 227 ms, pixel function 274 ms (the higher median of 9 of two runs on "
    "2026-12-04; 940 M and 946 M instructions: neither imports pydicom or boto3, and the pixel "
    "function loads numpy, Pillow and the codecs on its first render, in that request's time)"
)
#: ASSUMED share of invocations that start a new execution environment (AWS describes cold
#: starts as under 1 % of invocations for steady production traffic; a function called less
#: than every few minutes starts cold nearly every time).
COLD_START_SHARE = 0.01
SECONDS_PER_MONTH = 730 * 3600
KMS_PER_OBJECT_REQUEST = 0.01  # S3 Bucket Keys: KMS is asked about once per 100 requests
HOURS_PER_MONTH = SECONDS_PER_MONTH // 3600
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
        return memory_gb(self.function) * self.duration_ms / 1000

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
        lambda_ = (
            self.invocations * price("lambda_per_m") / 1e6
            + self.gb_seconds * price("lambda_gb_s")
            + self.invocations * COLD_START_SHARE * init_cost(self.function)
        )
        api_gateway = self.api_requests * price("apigw_rest_per_m") / 1e6
        # past the reservoir (a fixed monthly charge, xray_month): API Gateway's decision by
        # the stack's rule for requests; Lambda's own for the indexer's batches
        if self.api_requests:
            xray = self.api_requests * api_sampling()[1] * price("xray_per_m") / 1e6
        else:
            xray = self.invocations * XRAY_DEFAULT_RATE * price("xray_per_m") / 1e6
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


def memory_gb(function: str) -> float:
    """A function's memory (infra/template.py), in GB: "api", "pixels" or "indexer"."""
    mb = {"api": API_MEMORY_MB, "pixels": PIXEL_MEMORY_MB}.get(function, INDEX_MEMORY_MB)
    return mb / 1024


def init_cost(function: str) -> float:
    """USD of one cold start of ``function``: its INIT phase at its memory's duration price."""
    return memory_gb(function) * INIT_MS[function] / 1000 * price("lambda_gb_s")


# --- what the stack deploys, read from its template ------------------------------------------


@cache
def resources() -> dict[str, Any]:
    """The merged template's resources (infra/template.py), as the cost model reads them."""
    found: dict[str, Any] = merge_template()["Resources"]
    return found


def pitr_tables() -> list[str]:
    """The tables with point-in-time recovery on."""
    return [
        name
        for name, r in resources().items()
        if r.get("Type") == "AWS::DynamoDB::Table"
        and r["Properties"]
        .get("PointInTimeRecoverySpecification", {})
        .get("PointInTimeRecoveryEnabled")
    ]


def detailed_metrics() -> bool:
    """The API stage publishes API Gateway's detailed (per-method) CloudWatch metrics."""
    settings = resources().get("RestAPI", {}).get("Properties", {}).get("MethodSettings", [])
    return any(m.get("MetricsEnabled") for m in settings)


def sampling_rule() -> dict[str, Any] | None:
    """The stack's X-Ray sampling rule for the API stage, if it sets one."""
    for r in resources().values():
        if r.get("Type") == "AWS::XRay::SamplingRule":
            rule: dict[str, Any] = r["Properties"]["SamplingRule"]
            return rule
    return None


def api_sampling() -> tuple[float, float]:
    """(reservoir a second, rate past it) API Gateway samples requests with: the stack's rule
    (chalicelib/observability.py's TRACE_* values), else X-Ray's default."""
    rule = sampling_rule()
    if rule is None:
        return XRAY_DEFAULT_RESERVOIR_PER_S, XRAY_DEFAULT_RATE
    return float(rule["ReservoirSize"]), float(rule["FixedRate"])


def traces_per_s(rps: float, reservoir: float, rate: float) -> float:
    """Traces recorded a second at ``rps`` requests a second under one rule."""
    return min(rps, reservoir) + rate * max(0.0, rps - reservoir)


def xray_month(rps: float, reservoir: float, rate: float) -> float:
    """USD a month of traces recorded at a steady ``rps``."""
    return traces_per_s(rps, reservoir, rate) * SECONDS_PER_MONTH * price("xray_per_m") / 1e6


#: The metrics API Gateway's detailed metrics publish per method (resource x verb):
#: CacheHitCount and CacheMissCount as well when a cache is on (none is).
APIGW_METHOD_METRICS = ("Count", "4XXError", "5XXError", "Latency", "IntegrationLatency")


def metrics_month(metrics: float) -> float:
    """USD a month of ``metrics`` custom metrics that receive data every hour (an upper bound:
    a metric is billed only for the hours it is published)."""
    return metrics * price("cw_metric_month")


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
    metadata_bytes: float = 0.0  # the instance's metadata fragment (DICOM JSON), of derived

    @property
    def table_bytes(self) -> float:
        """What point-in-time recovery bills: the table's items, not its GSI entries."""
        return self.catalog_bytes - self.breakdown.get("GSI entries", 0.0)


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
        out["tb_pitr"] = (
            per_tb * storage.table_bytes / GIB * price("ddb_pitr_gb_month")
            if "CatalogTable" in pitr_tables()
            else 0.0
        )
        out["tb_month"] = out["tb_s3"] + out["tb_catalog"] + out["tb_pitr"]
        # HealthImaging, the same terabyte: its compressed pixel data plus its metadata
        billed_gb = 1024 / AHI_COMPRESSION_RATIO
        metadata = per_tb * storage.metadata_bytes / GIB * AHI_METADATA_GB_MONTH
        out["ahi_tb_metadata"] = metadata
        out["ahi_tb_frequent"] = billed_gb * AHI_PRICES["frequent_gb_month"][0] + metadata
        out["ahi_tb_archive"] = billed_gb * AHI_PRICES["archive_gb_month"][0] + metadata
    return out
