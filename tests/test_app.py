"""The URL surface of app.py, as API Gateway will see it."""

from __future__ import annotations

from local.testenv import use_test_environment

use_test_environment()

import app  # noqa: E402
from chalicelib.routes.table import NOT_ALLOWED, PUBLIC_ROUTES, served  # noqa: E402


def test_path_variables_agree_at_every_level():
    """API Gateway refuses sibling resources whose variables differ ({frame} vs {frames})."""
    seen: dict[tuple[str, ...], str] = {}
    for path in app.app.routes:
        parts = path.strip("/").split("/")
        for i, part in enumerate(parts):
            if part.startswith("{"):
                parent = tuple(parts[:i])
                assert seen.setdefault(parent, part) == part, (path, seen[parent])


def test_every_route_needs_a_scope():
    """But the public ones (table.PUBLIC_ROUTES: the root, the OpenAPI description, the
    conformance statement and the health check), which need no key. (The 405 answers for the
    other methods are not routes: below.)"""
    for (method, path), entry in served(app.app).items():
        scope = getattr(entry.view_function, "dicomweb_scope", "missing")
        if (method, path) in PUBLIC_ROUTES:
            assert scope is None, (method, path)
        else:
            assert scope in {"read", "write", "delete"}, (method, path)
        assert entry.cors, (method, path)
    assert {
        ("GET", "/"),
        ("GET", "/openapi.json"),
        ("GET", "/conformance"),
        ("GET", "/health"),
    } == PUBLIC_ROUTES


def test_every_other_method_of_a_known_path_is_declared_for_its_405():
    """API Gateway forwards only declared methods: the rest of GET, POST, PUT, DELETE, PATCH on
    every path is registered, to one view that answers 405 (tests/service/test_auth.py)."""
    registered = {(m, p) for p, methods in app.app.routes.items() for m in methods}
    assert registered - set(served(app.app)) == NOT_ALLOWED
    assert not NOT_ALLOWED & PUBLIC_ROUTES
    # the middleware lets every method of a public path through (its 405 needs no key): so no
    # path may also hold a route that needs a key
    public_paths = {p for _, p in PUBLIC_ROUTES}
    assert not public_paths & {p for (m, p) in served(app.app) if (m, p) not in PUBLIC_ROUTES}
    assert ("PUT", "/studies") in NOT_ALLOWED and ("GET", "/studies") not in NOT_ALLOWED
    for path, methods in app.app.routes.items():
        assert set(methods) == {"GET", "POST", "PUT", "DELETE", "PATCH"}, path


def test_a_get_with_any_content_type_reaches_the_service(stack):
    """Chalice's own 415 (another body shape) never answers a bodiless request."""
    r = stack.get("/studies", headers={"Content-Type": "text/plain"})
    assert r.status_code == 200
    r = stack.http.delete(
        stack.url + "/studies/1.2.3", headers={"Content-Type": "application/dicom"}
    )
    assert r.status_code == 404 and r.json()["error"]["code"] == "NotFound"
