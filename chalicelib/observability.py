"""Powertools Logger and Metrics, each request's AWS calls, and the keys the service may log.

Never log patient data (names, IDs, birth dates) nor query strings or import keys (they may
hold them), nor exception messages (they may quote values: ``error_fields``): log UIDs, counts
and hashes. ``ALLOWED_LOG_KEYS`` lists the keys handlers append (tests/service/
test_observability.py holds every line to it).
The Logger's service name must differ from the Chalice app name, or every line prints twice.

Traces: Lambda's active tracing and API Gateway's record each request's trace (API Gateway's
segment, the function's, its initialization), sampled by the stack's rule (``TRACE_*`` below).
The functions load no X-Ray SDK (importing it cost more than half their cold start): what its
subsegment per AWS call told is on the request's log line instead (``AwsCalls``: calls by
operation, failures, time in AWS), and Powertools puts the trace id (``xray_trace_id``) on every
line, so a trace finds its lines and a line its trace.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import traceback
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from aws_lambda_powertools import Logger, Metrics


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
        "aws_calls",
        "aws_ops",
        "aws_failed",
        "aws_ms",
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


class AwsCalls:
    """The AWS calls of one request (or indexer batch), for its log line: how many, by
    ``service.Operation`` (retries inside one call are botocore's, not counted apart), how many
    failed (an error answer or no answer) and the time spent in them. Operation names only:
    never a parameter (an object key may name a patient)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.by_operation: dict[str, int] = {}
        self.failed = 0
        self.seconds = 0.0

    def record(self, operation: str, seconds: float, failed: bool) -> None:
        with self._lock:
            self.by_operation[operation] = self.by_operation.get(operation, 0) + 1
            self.failed += failed
            self.seconds += seconds

    def fields(self) -> dict[str, Any]:
        """The log line's keys: aws_calls, aws_ops, aws_ms, and aws_failed when any failed."""
        with self._lock:
            fields: dict[str, Any] = {
                "aws_calls": sum(self.by_operation.values()),
                "aws_ops": dict(sorted(self.by_operation.items())),
                "aws_ms": round(self.seconds * 1000, 1),
            }
            if self.failed:
                fields["aws_failed"] = self.failed
            return fields


_tally: ContextVar[AwsCalls | None] = ContextVar("aws_calls", default=None)
_open: list[AwsCalls] = []
_open_lock = threading.Lock()
_STARTED = "dicomweb_call_started"


@contextmanager
def tallying_aws_calls() -> Iterator[AwsCalls]:
    """Tally the AWS calls made until the block ends on the returned ``AwsCalls``: those of
    this thread, and those of threads with no tally of their own (a request's worker pool: a
    new thread starts with an empty context) while this is the only tally open, as it always
    is in Lambda, where an execution environment serves one request at a time."""
    calls = AwsCalls()
    token = _tally.set(calls)
    with _open_lock:
        _open.append(calls)
    try:
        yield calls
    finally:
        _tally.reset(token)
        with _open_lock:
            _open.remove(calls)


def current_aws_calls() -> AwsCalls | None:
    """The tally the calls of this thread go to (None: none is open, or several are and this
    thread opened none)."""
    calls = _tally.get()
    if calls is None:
        with _open_lock:
            if len(_open) == 1:
                calls = _open[0]
    return calls


def _call_started(context: dict[str, Any], **_: Any) -> None:
    context[_STARTED] = time.perf_counter()


def _call_ended(context: dict[str, Any], event_name: str, failed: bool) -> None:
    calls = current_aws_calls()
    if calls is None:
        return
    _, service, operation = event_name.split(".", 2)  # "after-call.dynamodb.Query"
    started = context.get(_STARTED)
    seconds = time.perf_counter() - started if started is not None else 0.0
    calls.record(f"{service}.{operation}", seconds, failed)


def _call_answered(http_response: Any, context: dict[str, Any], event_name: str, **_: Any) -> None:
    _call_ended(context, event_name, failed=getattr(http_response, "status_code", 200) >= 300)


def _call_failed(context: dict[str, Any], event_name: str, **_: Any) -> None:
    _call_ended(context, event_name, failed=True)


def count_aws_calls(client: Any) -> None:
    """A boto3 client's hook (``AwsClients.instrument``): its every call is tallied on the
    ``AwsCalls`` of the request making it. botocore emits ``after-call`` once per call with its
    final answer (an error answer too), ``after-call-error`` when none came."""
    events = client.meta.events
    events.register("before-call", _call_started, unique_id="dicomweb-aws-calls-started")
    events.register("after-call", _call_answered, unique_id="dicomweb-aws-calls-answered")
    events.register("after-call-error", _call_failed, unique_id="dicomweb-aws-calls-failed")


logger = Logger(service=SERVICE)
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "DicomWeb")
metrics = Metrics(namespace=NAMESPACE)


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
#: stack's X-Ray sampling rule (infra/template.py, ``ApiSamplingRule``): the first
#: ``TRACE_RESERVOIR_PER_S`` requests each second, fleet-wide, then ``TRACE_FIXED_RATE`` of the
#: rest; the Lambda functions follow its decision (Active tracing respects the upstream header),
#: with or without an X-Ray SDK in their code. The indexer, invoked by SQS with no upstream
#: decision, is sampled by Lambda itself (documented: 1 a second, then 5 %).
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
