"""Endpoint, key and an HTTP session that retries what is worth retrying.

Endpoint and key come from flags, else ``DICOMWEB_URL`` / ``DICOMWEB_API_KEY``, else the local
stack (``make serve``: http://127.0.0.1:8000 and the demo key in ``.state/demo-api-key``). The
key travels as ``Authorization: Bearer``, which requests drops when a redirect leaves the host
(a presigned download needs no key, and must not receive one).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

LOCAL_URL = "http://127.0.0.1:8000"
LOCAL_KEY_FILE = Path(__file__).resolve().parents[1] / ".state" / "demo-api-key"
#: Statuses a retry can fix: throttling, a transient AWS error, API Gateway's own 502/504.
RETRY_STATUSES = frozenset({429, 502, 503, 504})


@dataclass(frozen=True)
class Endpoint:
    url: str
    key: str


def endpoint(url: str | None = None, key: str | None = None) -> Endpoint:
    url = url or os.environ.get("DICOMWEB_URL") or LOCAL_URL
    key = key or os.environ.get("DICOMWEB_API_KEY")
    if not key and LOCAL_KEY_FILE.exists():
        key = LOCAL_KEY_FILE.read_text().strip()
    if not key:
        raise SystemExit("no API key: pass --key or set DICOMWEB_API_KEY")
    return Endpoint(url.rstrip("/"), key)


def session(ep: Endpoint, pool: int = 8) -> requests.Session:
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {ep.key}"
    adapter = requests.adapters.HTTPAdapter(pool_connections=pool, pool_maxsize=pool)
    http.mount("http://", adapter)
    http.mount("https://", adapter)
    return http


def with_retries(
    send: Callable[[], requests.Response],
    attempts: int = 5,
    sleep: Callable[[float], Any] = time.sleep,
) -> requests.Response:
    """``send()`` again on a connection error or a retryable status, backing off (1, 2, 4, 8 s
    or the server's Retry-After); the last answer or error is the caller's."""
    for attempt in range(attempts):
        last = attempt == attempts - 1
        try:
            response = send()
        except (requests.ConnectionError, requests.Timeout):
            if last:
                raise
            sleep(2**attempt)
            continue
        if response.status_code not in RETRY_STATUSES or last:
            return response
        retry_after = response.headers.get("Retry-After", "")
        sleep(float(retry_after) if retry_after.isdigit() else 2**attempt)
    raise AssertionError("unreachable")
