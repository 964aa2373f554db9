"""Powertools Logger, Metrics and Tracer, and the keys the service may log.

Never log patient data (names, IDs, birth dates) nor query strings or import keys (they may
hold them): log UIDs, counts and hashes. ``ALLOWED_LOG_KEYS`` lists the keys handlers append.
The Logger's service name must differ from the Chalice app name, or every line prints twice.
"""

from __future__ import annotations

import os
import warnings

from aws_lambda_powertools import Logger, Metrics, Tracer

# Tracer records return values by default, and QIDO results hold patient names.
os.environ.setdefault("POWERTOOLS_TRACER_CAPTURE_RESPONSE", "false")
os.environ.setdefault("POWERTOOLS_TRACER_CAPTURE_ERROR", "false")

# Flushing a batch that recorded no metric is normal here (e.g. an S3 test event).
warnings.filterwarnings("ignore", message="No application metrics to publish")

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
    }
)

logger = Logger(service=SERVICE)
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "DicomWeb")
metrics = Metrics(namespace=NAMESPACE)
tracer = Tracer(service=SERVICE)


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


def count(name: str, value: float, unit: str = "Count", **dimensions: str) -> None:
    """One EMF metric with its own dimensions (e.g. tenant, transaction): safe when several
    requests share the process, unlike dimensions on the shared Metrics object."""
    if metrics_disabled():
        return
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    with single_metric(
        name=name, unit=MetricUnit(unit), value=value, namespace=NAMESPACE
    ) as metric:
        for key, dimension in dimensions.items():
            metric.add_dimension(name=key, value=dimension)
