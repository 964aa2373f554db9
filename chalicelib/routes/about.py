"""About the service: ``GET /openapi.json``, its OpenAPI description (``chalicelib/openapi``),
and ``GET /health``, what a load balancer or a person probing the service asks.

Public: no API key (the routes' scope is None), so a client or a tool can read them before it
has a key. ``/health`` makes no AWS call: it says the function answers, nothing more. The
OpenAPI document is built once per container from the route table; ``servers`` is the DICOMweb
root as this request sees it (host and, on API Gateway's own domain, the stage).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.config import Settings
from chalicelib.dicomweb.media import JSON
from chalicelib.openapi import PATH
from chalicelib.openapi.document import build
from chalicelib.openapi.parts import OTHER, JsonDict, Operation, content, ok
from chalicelib.routes.route import Call, Route, get
from chalicelib.services.answers import Answer, json_body

if TYPE_CHECKING:
    from chalicelib.routes.deps import Deps


def _description_doc(path: str, settings: Settings) -> JsonDict:
    return {
        "responses": {
            "200": ok(
                "this document",
                content({"type": "object", "required": ["openapi", "paths"]}, JSON),
            )
        }
    }


#: The document per settings (built once per container: it depends on the QIDO limits only).
_DOCUMENTS: dict[str, JsonDict] = {}


def document(settings: Settings) -> JsonDict:
    key = repr(settings)
    if key not in _DOCUMENTS:
        from chalicelib.routes.table import ROUTES  # the table gathers this module's routes too

        _DOCUMENTS[key] = build(ROUTES, settings)
    return _DOCUMENTS[key]


def describe(s: Deps, c: Call) -> Answer:
    return json_body({**document(s.settings), "servers": [{"url": c.base_url}]}, JSON)


def _health_doc(path: str, settings: Settings) -> JsonDict:
    healthy = {"type": "object", "required": ["status"], "properties": {"status": {"const": "ok"}}}
    return {"responses": {"200": ok("the service answers", content(healthy, JSON))}}


def health(s: Deps, c: Call) -> Answer:
    return json_body({"status": "ok"}, JSON)


# fmt: off
ROUTES: tuple[Route, ...] = (
    get(PATH, "openapi_description", describe, Operation("This OpenAPI description", OTHER, _description_doc), scope=None),  # noqa: E501
    get("/health", "health", health, Operation("Health", OTHER, _health_doc), scope=None),
)
# fmt: on
