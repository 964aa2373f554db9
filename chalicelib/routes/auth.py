"""Chalice middleware: every request's API key resolved (``credentials.principal_of``) before
its route runs."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from chalice.app import Request

from chalicelib.dicomweb.errors import DicomWebError
from chalicelib.observability import logger
from chalicelib.routes.credentials import KeyCache, principal_of
from chalicelib.routes.http import PRINCIPAL, error_response


def authenticate(
    cache: Callable[[], KeyCache],
    limiter: Callable[[], Any] | None = None,
    public: Collection[tuple[str, str]] = frozenset(),
) -> Callable[[Request, Callable[..., Any]], Any]:
    """Chalice HTTP middleware: 401 unless the request carries a known API key; 429 when the
    key's tenant is over its rate limit. ``public`` (method, resource path) routes need no key,
    and neither does any other method on their paths: there it is the path's 405
    (``table.NOT_ALLOWED``; no path mixes public and keyed routes, tests/test_app.py). Elsewhere
    a method the path does not serve is 405 only after this, with a key: without one, 401. The
    resource path is the route API Gateway (or the local gateway) matched, never client
    text."""
    public_paths = frozenset(path for _, path in public)

    def middleware(event: Request, get_response: Callable[..., Any]) -> Any:
        if event.method == "OPTIONS" or event.context.get("resourcePath") in public_paths:
            return get_response(event)
        try:
            principal = principal_of(event.headers, cache(), limiter() if limiter else None)
        except DicomWebError as refused:
            return error_response(refused)
        event.context[PRINCIPAL] = principal
        logger.append_keys(tenant=principal.tenant)
        try:
            return get_response(event)
        finally:
            logger.remove_keys(["tenant"])

    return middleware
