"""Logger, Tracer and Metrics at the HTTP edge, as Chalice middleware.

Each request is logged once with its transaction (the route), status and duration; a trace
subsegment is opened per route; metrics are flushed as EMF after the response. Query strings,
headers and bodies are never logged or traced: they may hold patient names and IDs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from chalice.app import Request

from chalicelib.observability import (
    NAMESPACE,
    flush_metrics,
    logger,
    metrics_disabled,
    tracer,
)


def observe(event: Request, get_response: Callable[[Request], Any]) -> Any:
    transaction = f"{event.method} {event.context.get('resourcePath', '?')}"
    started = time.perf_counter()
    logger.append_keys(transaction=transaction, request_id=event.context.get("requestId"))
    try:
        with tracer.provider.in_subsegment(f"## {transaction}"):
            response = get_response(event)
        status = int(getattr(response, "status_code", 200))
        logger.info(
            "request",
            extra={"status": status, "ms": round((time.perf_counter() - started) * 1000, 1)},
        )
        name = "ServerErrors" if status >= 500 else "Requests"
        if not metrics_disabled():
            with single_metric(
                name=name, unit=MetricUnit.Count, value=1, namespace=NAMESPACE
            ) as metric:
                metric.add_dimension(name="transaction", value=transaction)
        return response
    finally:
        flush_metrics()
        logger.remove_keys(["transaction", "request_id"])
