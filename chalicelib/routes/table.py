"""The URL surface in one place: every route of every service, registered on the app.

A route module declares ``ROUTES``; this module gathers them, registers each on the Chalice app
behind one view wrapper (scope check, errors mapped once, the answer through ``respond()``),
and answers the two questions asked of the table elsewhere: which routes are public (no API
key) and which the pixel function serves (``infra/build.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from urllib.parse import unquote

from chalice.app import Chalice, Request, Response

from chalicelib.dicomweb.errors import Forbidden, Unauthorized
from chalicelib.routes import (
    about,
    imports,
    lifecycle,
    qido,
    rendered,
    stow,
    uploads,
    wado,
    wado_uri,
)
from chalicelib.routes.deps import Deps
from chalicelib.routes.http import CORS, PRINCIPAL, base_url, failure_response, host_of
from chalicelib.routes.respond import respond
from chalicelib.routes.route import Call, Route
from chalicelib.services.ports import Principal

ROUTES: tuple[Route, ...] = (
    *qido.ROUTES,  # GET /studies, /series, /instances and their study/series forms
    *stow.ROUTES,  # POST /studies, /studies/{study}
    *wado.ROUTES,  # retrieve, metadata, frames, bulk data
    *rendered.ROUTES,  # .../rendered, .../thumbnail at four levels
    *wado_uri.ROUTES,  # GET /wado?requestType=WADO&...
    *lifecycle.ROUTES,  # DELETE study/series/instance, /changefeed
    *imports.ROUTES,  # GET /imports/rejected
    *uploads.ROUTES,  # POST /uploads, GET /uploads/{id}, .../complete
    *about.ROUTES,  # GET /openapi.json, /health (public)
)

#: (method, path) answered without an API key.
PUBLIC_ROUTES = frozenset((r.method, r.path) for r in ROUTES if r.scope is None)


def serves_pixels(path: str, method: str) -> bool:
    """True when the route ``method path`` (the route table's path template) may touch pixel
    data, and so is served by the pixel function."""
    return any(r.pixels for r in ROUTES if r.path == path and r.method == method.upper())


def _call(request: Request, principal: Principal | None) -> Call:
    raw = request.raw_body or b""
    params = request.query_params
    return Call(
        principal=principal,
        # API Gateway passes path parameters percent-encoded
        path={k: unquote(v) for k, v in (request.uri_params or {}).items()},
        # ... and query parameters already decoded
        query={name: list(params.getlist(name)) for name in params} if params else {},
        headers=request.headers,
        body=raw.encode("utf-8") if isinstance(raw, str) else raw,
        base_url=base_url(request),
        host=host_of(request),
    )


def _view(app: Chalice, deps: Deps, route: Route) -> Callable[..., Response]:
    def view(**_: str) -> Response:
        request: Request | None = app.current_request
        try:
            if request is None:
                raise RuntimeError("no current request")
            principal = request.context.get(PRINCIPAL)
            if route.scope is not None:
                if not isinstance(principal, Principal):
                    raise Unauthorized("an API key is required")
                if route.scope not in principal.scopes:
                    raise Forbidden(f"this API key lacks the '{route.scope}' scope")
            call = _call(request, principal)
            answer = route.handler(deps, call)
            return respond(answer, call, deps.spill, deps.settings.max_binary_response())
        except Exception as exc:  # Chalice would answer a bare 500: mapped once, here
            return failure_response(exc)

    view.__name__ = route.name
    view.dicomweb_scope = route.scope  # type: ignore[attr-defined]  # None: public
    return view


def register(app: Chalice, deps: Deps, routes: Iterable[Route] = ROUTES) -> None:
    """Every route on ``app``. A request body of any Content-Type reaches the view (Chalice
    would answer 415 itself otherwise); each route checks what it accepts."""
    for route in routes:
        app.route(
            route.path,
            methods=[route.method],
            name=route.name,
            cors=CORS,
            content_types=["*/*"],
        )(_view(app, deps, route))


def route_of(method: str, path: str) -> Route:
    for route in ROUTES:
        if route.method == method and route.path == path:
            return route
    raise KeyError(f"{method} {path}")
