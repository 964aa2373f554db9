"""Rejected S3-drop imports, listed for their tenant (non-standard)."""

from __future__ import annotations

from chalicelib.config import Settings
from chalicelib.dicomweb.media import JSON
from chalicelib.openapi.parts import (
    OTHER,
    JsonDict,
    Operation,
    content,
    ok,
    query_param,
    ref,
    standard,
)
from chalicelib.routes.route import Route, get


def _rejected_doc(path: str, settings: Settings) -> JsonDict:
    return {
        "parameters": [
            query_param(
                "limit", {"type": "integer"}, "page size, clamped to 1..1000 (default 100)"
            ),
            query_param(
                "startAfter",
                {"type": "string", "maxLength": 1024},
                "the `next` of the previous page",
            ),
        ],
        "responses": {
            "200": ok("one page", content(ref("schemas", "RejectedImports"), JSON)),
            **standard("BadRequest"),
        },
    }


# fmt: off
ROUTES: tuple[Route, ...] = (
    get("/imports/rejected", "list_rejected_imports", lambda s, c: s.imports.list_rejected(c.tenant, c.param("limit", "100"), c.param("startAfter")), Operation("Rejected S3 imports", OTHER, _rejected_doc)),  # noqa: E501
)
# fmt: on
