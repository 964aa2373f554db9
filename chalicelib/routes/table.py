"""The URL surface in one place: every route of every service, registered on the app.

A route module declares ``ROUTES``; this module gathers them, registers each on the Chalice app
behind one view wrapper (scope check, errors mapped once, the answer through ``respond()``),
and answers the questions asked of the table elsewhere: which routes are public (no API
key), which the pixel function serves and which the store function serves
(``infra/build.py``).

Every other method of ``route.METHODS`` on a path of the table is registered too, answering
``405 MethodNotAllowed`` with ``Allow`` (``NOT_ALLOWED``): API Gateway forwards only the methods
a resource declares (anything else is its 404) and cannot name a per-path ``Allow`` itself.
These answers are not routes of the table: no OpenAPI operation, never the pixel function, not
in PUBLIC_ROUTES (where the path's routes need a key, the key is checked first: without one,
401); ``served(app)`` is the app's routes without them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import unquote

from chalice.app import Chalice, Request, Response

from chalicelib.config import Settings
from chalicelib.dicomweb.errors import Forbidden, MethodNotAllowed, Unauthorized
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
from chalicelib.routes.front import public_root
from chalicelib.routes.http import (
    CORS,
    PRINCIPAL,
    base_url,
    error_response,
    failure_response,
    host_of,
)
from chalicelib.routes.respond import respond
from chalicelib.routes.route import METHODS, Call, Route
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


def allowed_methods(routes: Iterable[Route] = ROUTES) -> dict[str, tuple[str, ...]]:
    """Path -> the methods its routes serve, in ``METHODS`` order, for every path of
    ``routes`` (in the order they first appear)."""
    served: dict[str, set[str]] = {}
    for route in routes:
        served.setdefault(route.path, set()).add(route.method)
    return {path: tuple(m for m in METHODS if m in methods) for path, methods in served.items()}


#: (method, path) of a known path and a method it does not serve: 405 with ``Allow``, after the
#: key check where the path's routes need a key (401 without one), without a key on the public
#: paths (``auth.authenticate``).
NOT_ALLOWED = frozenset(
    (m, path) for path, ok in allowed_methods().items() for m in METHODS if m not in ok
)


def serves_pixels(path: str, method: str) -> bool:
    """True when the route ``method path`` (the route table's path template) may touch pixel
    data, and so is served by the pixel function."""
    return any(r.pixels for r in ROUTES if r.path == path and r.method == method.upper())


def writes_catalog(path: str, method: str) -> bool:
    """True when the route ``method path`` writes the catalog (STOW, DELETE), and so is served
    by the store function, the only HTTP function whose role may."""
    return any(r.writes for r in ROUTES if r.path == path and r.method == method.upper())


def _call(request: Request, principal: Principal | None, settings: Settings) -> Call:
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
        base_url=public_root(
            request.headers.get, settings.public_root, settings.origin_secret, base_url(request)
        ),
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
            call = _call(request, principal, deps.settings)
            answer = route.handler(deps, call)
            return respond(answer, call, deps.spill, deps.settings.max_binary_response())
        except Exception as exc:  # Chalice would answer a bare 500: mapped once, here
            return failure_response(exc)

    view.__name__ = route.name
    view.dicomweb_scope = route.scope  # type: ignore[attr-defined]  # None: public
    return view


def _not_allowed(path: str, allow: tuple[str, ...]) -> Callable[..., Response]:
    """The view of every method ``path`` does not serve. ``Allow`` adds OPTIONS: the CORS
    preflight answers it on every path."""
    header = ", ".join((*allow, "OPTIONS"))

    def view(**_: str) -> Response:
        return error_response(
            MethodNotAllowed(f"{path} allows {header} only", headers={"Allow": header})
        )

    view.__name__ = "method_not_allowed"
    view.dicomweb_allow = allow  # type: ignore[attr-defined]  # marks it: served() leaves it out
    return view


def register(app: Chalice, deps: Deps, routes: Iterable[Route] = ROUTES) -> None:
    """Every route on ``app``, then, on each path, one 405 view for the methods of ``METHODS``
    it does not serve. A request body of any Content-Type reaches the view (Chalice would
    answer 415 itself otherwise); each route checks what it accepts."""
    routes = tuple(routes)
    for route in routes:
        app.route(
            route.path,
            methods=[route.method],
            name=route.name,
            cors=CORS,
            content_types=["*/*"],
        )(_view(app, deps, route))
    for path, allow in allowed_methods(routes).items():
        others = [m for m in METHODS if m not in allow]
        if others:
            app.route(
                path, methods=others, name="method_not_allowed", cors=CORS, content_types=["*/*"]
            )(_not_allowed(path, allow))


def served(app: Chalice) -> dict[tuple[str, str], Any]:
    """(method, path) -> Chalice's route entry for every route of the table the app registered:
    its routes without the 405 answers ``register`` adds for the other methods."""
    return {
        (method, path): entry
        for path, methods in app.routes.items()
        for method, entry in methods.items()
        if not hasattr(entry.view_function, "dicomweb_allow")
    }
