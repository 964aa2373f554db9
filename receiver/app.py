"""The receiver as an ASGI application: STOW-RS requests streamed to ``StreamingStow``.

Before a body byte is read: the key (401, 429), its scope (403), the study in the path (400),
the Content-Type (415, 400) and a declared Content-Length over the request bound (413). uvicorn
sends ``100 Continue`` only when the application first reads the body, so a client that sent
``Expect: 100-continue`` and is refused never sends its body. Then the body is read chunk by
chunk (uvicorn stops reading the socket while a chunk waits: flow control), in a worker
thread, with a timeout for each chunk (a client that stalls gets 408) and the request's byte
bound counted as it arrives (413 past it). A client that disconnects gets no answer; what it
sent whole before is stored and indexed (``StreamingStow``).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import Any

import uvicorn

from chalicelib.dicomweb.errors import (
    DicomWebError,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    RequestTimeout,
)
from chalicelib.dicomweb.resources import path_uid
from chalicelib.observability import AwsCalls, flush_metrics, request_done, tallying_aws_calls
from chalicelib.pools import ContextPool
from chalicelib.routes import stow as stow_routes
from chalicelib.routes.credentials import principal_of
from chalicelib.routes.deps import Deps
from chalicelib.routes.front import is_stow, public_root
from chalicelib.routes.wire import (
    CORS_EXPOSE_HEADERS,
    NO_STORE,
    as_error,
    error_bytes,
    error_headers,
)
from chalicelib.services.answers import Body
from chalicelib.services.stow import stow_boundary

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

#: STOW requests served at once by one process (each also runs its parts' indexing threads).
WORKERS = 16
#: The scope STOW needs: the route table's own.
WRITE_SCOPE = next(r.scope for r in stow_routes.ROUTES if r.method == "POST")
CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": ",".join(CORS_EXPOSE_HEADERS),
}


class ClientGone(Exception):
    """The client closed the connection before the body ended."""


def too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the request body is over {limit} bytes: send the study in several requests"
    )


class BodySource:
    """The request body as a blocking iterator of chunks, for a worker thread."""

    def __init__(
        self, receive: Receive, loop: asyncio.AbstractEventLoop, timeout: float, limit: int
    ) -> None:
        self._receive, self._loop = receive, loop
        self._timeout, self._limit = timeout, limit
        self.received = 0

    async def _next(self) -> Message:
        return await asyncio.wait_for(self._receive(), self._timeout)

    def __iter__(self) -> Iterator[bytes]:
        while True:
            try:
                waiting = asyncio.run_coroutine_threadsafe(self._next(), self._loop)
                message = waiting.result(self._timeout + 5)  # the loop itself may be gone
            except TimeoutError:
                raise RequestTimeout(
                    f"no request body bytes arrived for {self._timeout:g} s"
                ) from None
            if message["type"] == "http.disconnect":
                raise ClientGone()
            chunk = bytes(message.get("body", b""))
            self.received += len(chunk)
            if self.received > self._limit:
                raise too_large(self._limit)
            if chunk:
                yield chunk
            if not message.get("more_body", False):
                return


def raw_path(scope: Scope) -> str:
    """The path as the client sent it, percent-encoding kept: CloudFront's Function and API
    Gateway route on it, and a UID segment is decoded once, by ``path_uid``."""
    raw = scope.get("raw_path")
    return raw.decode("latin-1") if raw else str(scope["path"])


def _headers(scope: Scope) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in scope.get("headers", []):
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        out[key] = f"{out[key]}, {text}" if key in out else text
    return out


async def _send(send: Send, status: int, headers: dict[str, Any], body: bytes) -> None:
    raw: list[tuple[bytes, bytes]] = []
    for name, value in headers.items():
        for v in value if isinstance(value, list) else [value]:
            raw.append((name.lower().encode(), str(v).encode("latin-1")))
    raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


async def _send_error(send: Send, err: DicomWebError) -> None:
    headers = error_headers(err, CORS)
    if err.status in (408, 413):
        headers["Connection"] = "close"  # the rest of the body is not read
    await _send(send, err.status, headers, error_bytes(err))


class Exchange:
    """One request as the logs and metrics see it (the API's ``routes/observe.py`` for the
    Lambda side): transaction, tenant, status and duration; never a header or body byte. Keys
    are passed per line, not appended to the logger: requests share this process's threads."""

    def __init__(self, path: str) -> None:
        self.transaction = (
            "POST /studies/{study}" if path.strip("/").count("/") else "POST /studies"
        )
        self.request_id = str(uuid.uuid4())
        self.tenant = "-"
        self.status = 500

    def observe(self, seconds: float, calls: AwsCalls) -> None:
        ms = round(seconds * 1000, 1)
        request_done(
            self.transaction,
            self.tenant,
            self.status,
            ms,
            request_id=self.request_id,
            **calls.fields(),
        )
        flush_metrics()


class Receiver:
    def __init__(self, deps: Deps) -> None:
        self._deps = deps
        self._workers = ContextPool(max_workers=WORKERS, thread_name_prefix="stow")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send, on_shutdown=self._workers.shutdown)
            return
        if scope["type"] != "http":
            return
        method, path = scope["method"].upper(), raw_path(scope)
        if path == "/health" and method in ("GET", "HEAD"):
            await _send(send, 200, {"Content-Type": "application/json"}, b'{"status":"ok"}')
            return
        if not is_stow(method, path):
            await _send_error(send, NotFound("this endpoint serves STOW-RS only"))
            return
        started = time.monotonic()
        exchange = Exchange(path)
        # this task's context holds the tally; the worker pools copy it (chalicelib.pools)
        with tallying_aws_calls() as calls:
            try:
                await self._store(scope, receive, send, _headers(scope), exchange)
            except ClientGone:
                exchange.status = 499  # nginx's "client closed request": nothing was answered
            except Exception as exc:
                err = as_error(exc)
                exchange.status = err.status
                await _send_error(send, err)
            finally:
                exchange.observe(time.monotonic() - started, calls)

    async def _store(
        self, scope: Scope, receive: Receive, send: Send, h: dict[str, str], exchange: Exchange
    ) -> None:
        deps, settings = self._deps, self._deps.settings
        loop = asyncio.get_running_loop()
        # refusals before any body byte: the key is resolved in a thread (a DynamoDB read)
        principal = await loop.run_in_executor(
            self._workers, principal_of, h, deps.key_cache, deps.rate_limiter
        )
        exchange.tenant = principal.tenant
        if WRITE_SCOPE not in principal.scopes:
            raise Forbidden(f"this API key lacks the '{WRITE_SCOPE}' scope")
        segments = raw_path(scope).strip("/").split("/")
        study = path_uid(segments[1], "StudyInstanceUID") if len(segments) > 1 else None
        content_type = h.get("content-type")
        stow_boundary(content_type)  # 415 / 400 now, not after the body
        length = h.get("content-length")
        if length and length.isdigit() and int(length) > settings.stow_max_request_bytes:
            raise too_large(settings.stow_max_request_bytes)
        scheme = h.get("x-forwarded-proto") or scope.get("scheme", "http")
        fallback = f"{scheme}://{h.get('host', 'localhost')}"
        root = public_root(h.get, settings.public_root, settings.origin_secret, fallback)
        body = BodySource(
            receive, loop, settings.stow_read_timeout, settings.stow_max_request_bytes
        )
        answer = await loop.run_in_executor(
            self._workers,
            lambda: deps.stream_stow.store_stream(
                principal.tenant, content_type, body, study, root
            ),
        )
        exchange.status = answer.status
        await self._answer(send, answer)

    @staticmethod
    async def _answer(send: Send, answer: Body) -> None:
        data = b"".join(p.content for p in answer.parts if isinstance(p.content, bytes))
        headers: dict[str, Any] = {"Content-Type": answer.media_type, **CORS, **NO_STORE}
        headers.update(answer.headers)
        await _send(send, answer.status, headers, data)


async def lifespan(
    receive: Receive, send: Send, on_shutdown: Callable[[], object] | None = None
) -> None:
    """ASGI lifespan: nothing to start; ``on_shutdown`` (in-flight work) before stopping."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            if on_shutdown is not None:
                on_shutdown()
            await send({"type": "lifespan.shutdown.complete"})
            return


def uvicorn_config(app: Any, http: str = "h11", **kw: Any) -> uvicorn.Config:
    """uvicorn as the receiver runs under it (its container, and the local front): h11, a
    pure-Python parser that reads only what the app asks for (flow control) and sends 100
    Continue when the app first reads the body; keep-alive longer than the load balancer's
    idle timeout (60 s); no access log (the app logs one line per request, UIDs only)."""
    return uvicorn.Config(
        app,
        http=http,
        lifespan="on",
        access_log=False,
        timeout_keep_alive=75,
        server_header=False,
        log_level="warning",
        **kw,
    )
