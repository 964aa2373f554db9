"""API key -> tenant and scopes: the credentials every front accepts (the Chalice API through
``auth.authenticate``, the streaming STOW receiver), in one place; no web framework here.

The key is accepted as the ``apikey`` header, ``x-api-key``, ``Authorization: Bearer <key>``
(OHIF can send only Authorization) or ``Authorization: Basic base64(<user>:<key>)``: HTTP Basic
with the key as the password and any user name, ignored (PACS, modalities and Orthanc's
``DicomWeb.Servers`` often offer only a user name and a password). Resolutions are cached per
container for ``ttl`` seconds, which bounds how long a revoked key keeps working. CORS
preflights and the public routes (a scope of None in the route table: ``table.PUBLIC_ROUTES``)
need no key. Every 401 names both schemes in ``WWW-Authenticate`` (``routes/http.py``), for
clients that send credentials only when challenged.
"""

from __future__ import annotations

import base64
import binascii
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Generic, TypeVar

from chalicelib.dicomweb.errors import TooManyRequests, Unauthorized
from chalicelib.services.ports import Principal, TenantStore
from chalicelib.storage.tenants import hash_key

T = TypeVar("T")

#: What a 401 says is accepted.
KEY_REQUIRED = (
    "a valid API key is required (apikey, x-api-key, Authorization: Bearer <key>, or "
    "Authorization: Basic with any user name and the key as the password)"
)


def extract_api_key(headers: Mapping[str, str]) -> str | None:
    """The API key a request carries, or None. The ``apikey`` and ``x-api-key`` headers come
    first, then Authorization (Bearer, or Basic: ``basic_password``). A malformed Basic
    credential raises ``Unauthorized`` saying what is wrong with it."""
    for name in ("apikey", "x-api-key"):
        value = headers.get(name)
        if value and value.strip():
            return value.strip()
    auth = headers.get("authorization") or ""
    scheme, _, token = auth.strip().partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    if scheme.lower() == "basic":
        return basic_password(token.strip())
    return None


def basic_password(token: str) -> str:
    """The password of an HTTP Basic credential (RFC 7617): ``token`` is base64 of
    ``user:password``, split at the first colon (a user name has none; the password may). The
    user name is ignored, so it may be anything, empty or not UTF-8; the password is the key,
    read as UTF-8 and stripped of surrounding spaces, as the other headers are."""
    if not token:
        raise Unauthorized("Authorization: Basic carries no credentials; send base64(user:key)")
    try:
        raw = base64.b64decode(token + "=" * (-len(token) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise Unauthorized(
            "Authorization: Basic credentials are not base64; send base64(user:key)"
        ) from None
    _, colon, password = raw.partition(b":")
    if not colon:
        raise Unauthorized(
            "Authorization: Basic credentials have no colon; send base64(user:key), any user name"
        )
    try:
        key = password.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise Unauthorized("Authorization: Basic password is not UTF-8") from None
    if not key:
        raise Unauthorized("Authorization: Basic password is empty: the API key is the password")
    return key


class KeyCache:
    """Hash -> principal, trusted for ``ttl`` seconds, in two bounded LRUs.

    Known keys live in one (``known`` entries, the least recently used evicted one at a time);
    unknown keys are cached too, so probing is cheap, but in a separate, smaller one: a flood
    of random keys evicts only other unknown keys, never a real tenant's resolution.
    """

    def __init__(
        self, tenants: TenantStore, ttl: float, known: int = 10_000, unknown: int = 1_000
    ) -> None:
        self._tenants = tenants
        self._ttl = ttl
        self._known: _Lru[Principal] = _Lru(known)
        self._unknown: _Lru[None] = _Lru(unknown)
        self._lock = threading.Lock()

    def resolve(self, api_key: str) -> Principal | None:
        digest = hash_key(api_key)
        now = time.monotonic()
        with self._lock:
            for entries in (self._known, self._unknown):
                hit = entries.get(digest, now - self._ttl)
                if hit is not None:
                    return hit[0]
        principal = self._tenants.principal_for_key_hash(digest)
        with self._lock:
            if principal is None:
                self._known.pop(digest)
                self._unknown.put(digest, None, now)
            else:
                self._unknown.pop(digest)
                self._known.put(digest, principal, now)
        return principal


class _Lru(Generic[T]):
    """At most ``size`` entries, each with the time it was resolved; a hit makes an entry the
    most recently used, an insert over the bound evicts the least recently used one. Callers
    hold the cache's lock."""

    def __init__(self, size: int) -> None:
        self._size = max(1, size)
        self._entries: OrderedDict[str, tuple[T, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, digest: str, since: float) -> tuple[T] | None:
        """The value if resolved after ``since`` (one-tuple: the value may be None)."""
        hit = self._entries.get(digest)
        if hit is None or hit[1] <= since:
            return None
        self._entries.move_to_end(digest)
        return (hit[0],)

    def put(self, digest: str, value: T, at: float) -> None:
        self._entries[digest] = (value, at)
        self._entries.move_to_end(digest)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)

    def pop(self, digest: str) -> None:
        self._entries.pop(digest, None)


def principal_of(headers: Mapping[str, str], cache: KeyCache, limiter: Any | None) -> Principal:
    """Who sends a request with these headers. Raises ``Unauthorized`` (no key, an unknown or
    malformed one) or ``TooManyRequests`` (the tenant is over its rate limit)."""
    api_key = extract_api_key(headers)
    principal = cache.resolve(api_key) if api_key else None
    if principal is None:
        raise Unauthorized(KEY_REQUIRED)
    if limiter is not None and not limiter.allow(principal.tenant):
        raise TooManyRequests(
            "this tenant is over its request rate; retry after a second",
            headers={"Retry-After": "1"},
        )
    return principal
