"""The local front: what CloudFront and its viewer-request function do in AWS, for ``make serve``.

One root URL for the whole service. Every request gets the root of the address it listens on
(``ROOT_HEADER``: never the client's Host, which dicomweb-client sends without its port, and
which a client may set to anything) and the origin secret (``SECRET_HEADER``), any copy the client
sent of either removed first, exactly as the CloudFront Function and the origins' custom header
do; then STOW requests (``routes.front.is_stow``) go to the streaming receiver and everything
else to the local API Gateway (``local/gateway.py``, WSGI, through a2wsgi). Nothing is buffered
on the way to the receiver: it reads the client's socket as it goes (uvicorn, flow control).

The front serves HTTP with uvicorn's httptools parser on uvloop (``front_config``), where the
receiver's container runs h11 on asyncio: the same flow control and the same 100 Continue (sent
when the application first reads the body), in C, 0.35 ms of CPU less per request here (a
request that makes no AWS call: 1.0 -> 0.65 ms), which every read of ``make serve`` pays.
The receiver's container keeps h11: its packaging takes pure-Python dependencies only.

The receiver runs in this process (the same ASGI application ``python -m receiver`` serves in
its container): a proxy hop to a second local process would copy every byte once more and
prove nothing the receiver's own process test (tests/receiver) does not.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from typing import Any

import uvicorn
from a2wsgi import WSGIMiddleware

from chalicelib.routes.front import ROOT_HEADER, SECRET_HEADER, is_stow
from receiver.app import Receive, Receiver, Scope, Send, lifespan, raw_path, uvicorn_config

Asgi = Callable[[Scope, Receive, Send], Any]
_FRONT_HEADERS = {ROOT_HEADER.encode(), SECRET_HEADER.encode()}


class Front:
    def __init__(self, api_wsgi: Any, receiver: Receiver | None, secret: str) -> None:
        self._api: Asgi = WSGIMiddleware(api_wsgi, workers=16)  # type: ignore[assignment]
        self._receiver = receiver
        self._secret = secret.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            if self._receiver is not None:
                await self._receiver(scope, receive, send)
            else:
                await lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        headers = [(k, v) for k, v in scope["headers"] if k.lower() not in _FRONT_HEADERS]
        root = "{}://{}:{}".format(scope.get("scheme", "http"), *scope["server"]).encode()
        headers += [(ROOT_HEADER.encode(), root), (SECRET_HEADER.encode(), self._secret)]
        scope = {**scope, "headers": headers}
        if self._receiver is not None and is_stow(scope["method"], raw_path(scope)):
            await self._receiver(scope, receive, send)
        else:
            await self._api(scope, receive, send)


def front_config(app: Asgi) -> uvicorn.Config:
    """uvicorn as the local front runs it: the receiver's settings, httptools on uvloop."""
    return uvicorn_config(app, http="httptools", loop="uvloop")


def listening_socket(port: int) -> socket.socket:
    """A loopback socket listening on ``port`` (0: any free one), connections queued from now.
    IPPROTO_TCP: asyncio then sets TCP_NODELAY on each connection (proto 0: Nagle and delayed
    ACKs add 40 ms to every keep-alive answer written in two sends)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(2048)
    return sock


class ThreadedAsgiServer:
    """An ASGI app under uvicorn on a free loopback port (or ``port``), in a daemon thread;
    uvicorn set up as the receiver's container runs it unless ``config`` says otherwise (the
    local front: ``front_config``)."""

    def __init__(
        self, app: Asgi, port: int = 0, config: Callable[[Asgi], uvicorn.Config] = uvicorn_config
    ) -> None:
        self.listening = listening_socket(port)
        self.url = f"http://127.0.0.1:{self.listening.getsockname()[1]}"
        self.server = uvicorn.Server(config(app))
        self._thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.listening]}, daemon=True
        )
        self._thread.start()
        while not self.server.started and self._thread.is_alive():
            threading.Event().wait(0.01)

    def close(self) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=10)
        self.listening.close()
