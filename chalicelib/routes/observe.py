"""Logger, Tracer and Metrics at the HTTP edge, as Chalice middleware.

Each request is logged once with its transaction (the route), tenant, status and duration; a
trace subsegment is opened per route, annotated with the same; metrics are flushed as EMF after
the response. Query strings, headers and bodies are never logged or traced: they may hold
patient names and IDs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from chalice.app import Request

from chalicelib.observability import annotate, flush_metrics, logger, request_done, tracer
from chalicelib.routes.http import PRINCIPAL


def observe(event: Request, get_response: Callable[[Request], Any]) -> Any:
    transaction = f"{event.method} {event.context.get('resourcePath', '?')}"
    started = time.perf_counter()
    logger.append_keys(transaction=transaction, request_id=event.context.get("requestId"))
    try:
        with tracer.provider.in_subsegment(f"## {transaction}") as subsegment:
            annotate(subsegment, transaction=transaction)
            response = get_response(event)
            status = int(getattr(response, "status_code", 200))
            # authentication has removed its log key by now: the principal is still here
            principal = event.context.get(PRINCIPAL)
            tenant = principal.tenant if principal is not None else "-"
            annotate(subsegment, tenant=tenant, status=status)
        ms = round((time.perf_counter() - started) * 1000, 1)
        request_done(transaction, tenant, status, ms)
        return response
    finally:
        flush_metrics()
        logger.remove_keys(["transaction", "request_id"])
