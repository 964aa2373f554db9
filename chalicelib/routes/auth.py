"""API key -> tenant and scopes, resolved in one place for every route.

The key is accepted as the ``apikey`` header, ``x-api-key``, or ``Authorization: Bearer <key>``
(OHIF can send only Authorization). Resolutions are cached per container for ``ttl`` seconds,
which bounds how long a revoked key keeps working. CORS preflights and the public routes (a
scope of None in the route table: ``table.PUBLIC_ROUTES``) need no key.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Mapping
from typing import Any

from chalice.app import Request

from chalicelib.dicomweb.errors import TooManyRequests, Unauthorized
from chalicelib.observability import logger
from chalicelib.routes.http import PRINCIPAL, error_response
from chalicelib.services.ports import Principal, TenantStore
from chalicelib.storage.tenants import hash_key


def extract_api_key(headers: Mapping[str, str]) -> str | None:
    for name in ("apikey", "x-api-key"):
        value = headers.get(name)
        if value and value.strip():
            return value.strip()
    auth = headers.get("authorization") or ""
    scheme, _, token = auth.strip().partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


class KeyCache:
    """Hash -> principal, trusted for ``ttl`` seconds (unknown keys too, so probing is cheap)."""

    def __init__(self, tenants: TenantStore, ttl: float) -> None:
        self._tenants = tenants
        self._ttl = ttl
        self._entries: dict[str, tuple[Principal | None, float]] = {}
        self._lock = threading.Lock()

    def resolve(self, api_key: str) -> Principal | None:
        digest = hash_key(api_key)
        now = time.monotonic()
        with self._lock:
            hit = self._entries.get(digest)
        if hit is not None and now - hit[1] < self._ttl:
            return hit[0]
        principal = self._tenants.principal_for_key_hash(digest)
        with self._lock:
            if len(self._entries) > 10_000:
                self._entries.clear()
            self._entries[digest] = (principal, now)
        return principal


def authenticate(
    cache: Callable[[], KeyCache],
    limiter: Callable[[], Any] | None = None,
    public: Collection[tuple[str, str]] = frozenset(),
) -> Callable[[Request, Callable[..., Any]], Any]:
    """Chalice HTTP middleware: 401 unless the request carries a known API key; 429 when the
    key's tenant is over its rate limit. ``public`` (method, resource path) routes need no key;
    the resource path is the route API Gateway (or the local gateway) matched, never client
    text."""

    def middleware(event: Request, get_response: Callable[..., Any]) -> Any:
        if event.method == "OPTIONS" or (event.method, event.context.get("resourcePath")) in public:
            return get_response(event)
        api_key = extract_api_key(event.headers)
        principal = cache().resolve(api_key) if api_key else None
        if principal is None:
            return error_response(
                Unauthorized(
                    "a valid API key is required (apikey, x-api-key or Authorization: Bearer)"
                )
            )
        if limiter is not None and not limiter().allow(principal.tenant):
            return error_response(
                TooManyRequests(
                    "this tenant is over its request rate; retry after a second",
                    headers={"Retry-After": "1"},
                )
            )
        event.context[PRINCIPAL] = principal
        logger.append_keys(tenant=principal.tenant)
        try:
            return get_response(event)
        finally:
            logger.remove_keys(["tenant"])

    return middleware
