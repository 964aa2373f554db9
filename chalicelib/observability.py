"""Powertools Logger, Metrics and Tracer, and the keys the service may log.

Never log patient data (names, IDs, birth dates) nor query strings or import keys (they may
hold them), nor exception messages (they may quote values: ``error_fields``): log UIDs, counts
and hashes. ``ALLOWED_LOG_KEYS`` lists the keys handlers append (tests/service/
test_observability.py holds every line to it).
The Logger's service name must differ from the Chalice app name, or every line prints twice.
"""

from __future__ import annotations

import logging
import os
import traceback
import warnings
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer

# Tracer's decorators record return values and exceptions by default: QIDO results hold patient
# names, exception messages may quote values (the template sets both as well).
os.environ.setdefault("POWERTOOLS_TRACER_CAPTURE_RESPONSE", "false")
os.environ.setdefault("POWERTOOLS_TRACER_CAPTURE_ERROR", "false")


def quiet_library_diagnostics() -> None:
    """Run at import. pydicom's diagnostics quote the values they are about ("Invalid value for
    VR IS: '<value>'"): through the root logger (the Lambda runtime's handler) or stderr they
    would put patient data in CloudWatch, so its logger keeps only its NullHandler and its
    warnings are dropped. Flushing a batch that recorded no metric is normal (an S3 test
    event)."""
    logging.getLogger("pydicom").propagate = False
    warnings.filterwarnings("ignore", module="pydicom")
    warnings.filterwarnings("ignore", message="No application metrics to publish")


quiet_library_diagnostics()

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "dicomweb-service")

ALLOWED_LOG_KEYS = frozenset(
    {
        "tenant",
        "transaction",
        "request_id",
        "study_uid",
        "series_uid",
        "sop_uid",
        "key_hash",
        "status",
        "count",
        "stored",
        "failed",
        "bytes",
        "action",
        "ms",
        "receive_count",
        "error",
        "cause",
        "where",
        "aws_error",
    }
)


def error_fields(exc: BaseException) -> dict[str, Any]:
    """An exception for a log line without its message, which may quote a value (pydicom's do:
    "invalid literal for int() with base 10: '<value>'"): its type, its cause's, the AWS error
    code if any, and where it was raised (file:line function, innermost last)."""
    frames = traceback.extract_tb(exc.__traceback__)[-8:]
    fields: dict[str, Any] = {
        "error": type(exc).__name__,
        "where": [f"{os.path.basename(f.filename)}:{f.lineno} {f.name}" for f in frames],
    }
    if exc.__cause__ is not None:
        fields["cause"] = type(exc.__cause__).__name__
    from chalicelib.storage.aws_errors import error_code

    if code := error_code(exc):
        fields["aws_error"] = code
    return fields


#: Libraries traced: the AWS SDK only (a subsegment per call). Tracer's default, every library
#: the X-Ray SDK knows, adds http.client, whose subsegments carry request URLs (S3 keys).
TRACED_MODULES = ("botocore",)

#: S3 request parameters the X-Ray SDK records on each call's subsegment by default: object keys
#: and prefixes. An import key is whatever name a file was dropped with: a patient's, perhaps.
UNTRACED_S3_PARAMETERS = frozenset({"Key", "CopySource", "Prefix"})


def keep_s3_keys_out_of_traces() -> None:
    """Drop object keys from the X-Ray SDK's list of recorded S3 parameters (the bucket and
    version id remain)."""
    from aws_xray_sdk.ext.boto_utils import whitelist

    for operation in whitelist["services"].get("s3", {}).get("operations", {}).values():
        if "request_parameters" in operation:
            operation["request_parameters"] = [
                p for p in operation["request_parameters"] if p not in UNTRACED_S3_PARAMETERS
            ]


def keep_aws_error_messages_out_of_traces() -> None:
    """The X-Ray SDK records a failed AWS call's error, message included, on its subsegment;
    AWS echoes request values in some messages (an attribute value, a key). Record the error's
    code, status and request id only."""
    from aws_xray_sdk.ext import boto_utils
    from botocore.exceptions import ClientError

    from chalicelib.storage.aws_errors import error_code

    record = boto_utils._aws_error_handler
    if getattr(record, "code_only", False):
        return

    def code_only(exception: Any, stack: Any, subsegment: Any, aws_meta: Any) -> None:
        if isinstance(exception, ClientError):
            response = exception.response
            exception = ClientError(
                {
                    "Error": {"Code": error_code(exception) or "Unknown"},
                    "ResponseMetadata": response.get("ResponseMetadata", {}),
                },
                exception.operation_name,
            )
        record(exception, stack, subsegment, aws_meta)

    code_only.code_only = True  # type: ignore[attr-defined]
    boto_utils._aws_error_handler = code_only


def annotate(subsegment: Any, **annotations: str | int) -> None:
    """Searchable X-Ray annotations on a subsegment (a no-op one when tracing is off; None when
    tracing is on outside a segment)."""
    if subsegment is not None:
        for key, value in annotations.items():
            subsegment.put_annotation(key, value)


def make_tracer() -> Tracer:
    """The functions' Tracer (disabled outside Lambda, and by POWERTOOLS_TRACE_DISABLED)."""
    keep_s3_keys_out_of_traces()
    keep_aws_error_messages_out_of_traces()
    return Tracer(service=SERVICE, patch_modules=TRACED_MODULES)


logger = Logger(service=SERVICE)
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "DicomWeb")
metrics = Metrics(namespace=NAMESPACE)
tracer = make_tracer()


def metrics_disabled() -> bool:
    """Powertools' switch (POWERTOOLS_METRICS_DISABLED), which its EMF provider does not read
    (only the Datadog one does)."""
    return os.environ.get("POWERTOOLS_METRICS_DISABLED", "").lower() in ("1", "true")


def flush_metrics() -> None:
    """Publish the metrics recorded so far as EMF (or drop them when metrics are disabled)."""
    if metrics_disabled():
        metrics.clear_metrics()
    else:
        metrics.flush_metrics()


#: What may be a metric's dimension. Each distinct combination of dimension values is a custom
#: metric that CloudWatch bills by the month (~$0.30): a dimension must take few values, fixed by
#: the code (a route template), never one per customer. The tenant is a property of the EMF line
#: instead, queried from the logs (docs/cost.md, "Metrics"): ``stats sum(Requests) by tenant``.
METRIC_DIMENSIONS = frozenset({"transaction"})

#: Trace sampling, chosen (docs/cost.md prices it): API Gateway decides for each request by the
#: stack's X-Ray sampling rule (infra/template.py): the first ``TRACE_RESERVOIR_PER_S`` requests
#: each second, fleet-wide, then ``TRACE_FIXED_RATE`` of the rest; the Lambda functions follow
#: its decision (Active tracing respects the upstream header). The indexer, invoked by SQS with
#: no upstream decision, is sampled by Lambda itself (documented: 1 a second, then 5 %).
TRACE_RESERVOIR_PER_S = 1
TRACE_FIXED_RATE = 0.01


def count(
    name: str,
    value: float,
    unit: str = "Count",
    dimensions: dict[str, str] | None = None,
    **properties: str,
) -> None:
    """One EMF metric with its own dimensions (among ``METRIC_DIMENSIONS``) and properties
    (e.g. the tenant: on the log line, not a dimension): safe when several requests share the
    process, unlike dimensions on the shared Metrics object."""
    unknown = set(dimensions or {}) - METRIC_DIMENSIONS
    if unknown:
        raise ValueError(f"not a metric dimension (one metric per value): {sorted(unknown)}")
    if metrics_disabled():
        return
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    with single_metric(
        name=name, unit=MetricUnit(unit), value=value, namespace=NAMESPACE
    ) as metric:
        for key, dimension in (dimensions or {}).items():
            metric.add_dimension(name=key, value=dimension)
        for key, prop in properties.items():
            metric.add_metadata(key=key, value=prop)


def request_done(transaction: str, tenant: str, status: int, ms: float, **keys: Any) -> None:
    """One request's line (transaction, tenant, status, duration; never a header or body
    byte) and its metric, whichever front served it: ServerErrors for a 5xx, else Requests,
    by transaction (the tenant rides on the EMF line as a property)."""
    logger.info(
        "request",
        extra={"transaction": transaction, "tenant": tenant, "status": status, "ms": ms, **keys},
    )
    name = "ServerErrors" if status >= 500 else "Requests"
    count(name, 1, dimensions={"transaction": transaction}, tenant=tenant)
