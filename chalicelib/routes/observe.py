"""Logger and Metrics at the HTTP edge, as Chalice middleware.

Each request is logged once with its transaction (the route), tenant, status, duration and its
AWS calls (by operation, failed, time in AWS: ``observability.AwsCalls``); metrics are flushed as
EMF after the response. The trace is Lambda's and API Gateway's (the line carries its id).
Query strings, headers and bodies are never logged: they may hold patient names and IDs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from chalice.app import Request

from chalicelib.observability import flush_metrics, logger, request_done, tallying_aws_calls
from chalicelib.routes.http import PRINCIPAL


def observe(event: Request, get_response: Callable[[Request], Any]) -> Any:
    transaction = f"{event.method} {event.context.get('resourcePath', '?')}"
    started = time.perf_counter()
    logger.append_keys(transaction=transaction, request_id=event.context.get("requestId"))
    try:
        with tallying_aws_calls() as calls:
            response = get_response(event)
        status = int(getattr(response, "status_code", 200))
        # authentication has removed its log key by now: the principal is still here
        principal = event.context.get(PRINCIPAL)
        tenant = principal.tenant if principal is not None else "-"
        ms = round((time.perf_counter() - started) * 1000, 1)
        request_done(transaction, tenant, status, ms, **calls.fields())
        return response
    finally:
        flush_metrics()
        logger.remove_keys(["transaction", "request_id"])
