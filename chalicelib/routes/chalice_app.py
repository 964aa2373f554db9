"""A Chalice app whose per-request state is thread-local, and that treats a missing Accept
header as ``*/*`` (HTTP's meaning).

Chalice answers 400 to a binary response unless the request's Accept header names a binary
type; with binary types ``*/*`` every response is binary, so a client that sends no Accept
header at all would get 400 for every request.

Chalice keeps ``current_request`` on the app object. In Lambda a container serves one request
at a time, so that is safe; the local gateway serves concurrent requests from threads of one
process, so the state is kept per thread. Nothing else changes.
"""

from __future__ import annotations

import threading
from typing import Any

from chalice.app import Chalice


class ThreadLocalChalice(Chalice):
    _local = threading.local()

    def __call__(self, event: Any, context: Any) -> Any:
        headers = event.get("headers")
        if isinstance(headers, dict) and not any(k.lower() == "accept" for k in headers):
            event = {**event, "headers": {**headers, "Accept": "*/*"}}
        return super().__call__(event, context)

    @property  # type: ignore[override]
    def current_request(self) -> Any:
        return getattr(self._local, "current_request", None)

    @current_request.setter
    def current_request(self, value: Any) -> None:
        self._local.current_request = value

    @property  # type: ignore[override]
    def lambda_context(self) -> Any:
        return getattr(self._local, "lambda_context", None)

    @lambda_context.setter
    def lambda_context(self, value: Any) -> None:
        self._local.lambda_context = value
