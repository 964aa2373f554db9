"""The OpenAPI 3.1 document, assembled from the route table (``routes/table.ROUTES``).

Paths, methods, operation ids and scopes come from the routes themselves, and each route
carries its own ``Operation`` (summary, tag, parameters, responses): adding a route adds its
description with it. A path parameter without a schema fails the build
(``tests/unit/test_openapi.py`` builds the document and validates it).

What JSON Schema cannot say is in the descriptions: QIDO accepts any attribute keyword or tag
and ignores unknown ones with a ``Warning`` (PS3.18 8.3.4.1), content negotiation follows the
Accept header (PS3.18 8.7), and a request that fits the schema can still be refused for its
DICOM content (a STOW part that is not Part 10: 409 with a FailureReason).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Protocol

from chalicelib.config import Settings
from chalicelib.openapi.parts import (
    OPENAPI_VERSION,
    PATH_PARAMETERS,
    RESPONSES,
    SECURITY_SCHEMES,
    TAGS,
    JsonDict,
    Operation,
    ref,
)
from chalicelib.openapi.schemas import SCHEMAS


class Described(Protocol):
    """What the document needs of a route (``routes/route.Route``)."""

    @property
    def method(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def scope(self) -> str | None: ...
    @property
    def name(self) -> str: ...
    @property
    def doc(self) -> Operation: ...


#: Every authenticated operation may answer these.
AUTHENTICATED_RESPONSES = {
    "401": ref("responses", "Unauthorized"),
    "403": ref("responses", "Forbidden"),
    "429": ref("responses", "TooManyRequests"),
    "503": ref("responses", "ServiceUnavailable"),
}

PATH_VARIABLE = re.compile(r"\{(\w+)\}")


def operation(route: Described, settings: Settings) -> JsonDict:
    op = route.doc
    details = op.details(route.path, settings)
    declared = {p["name"] for p in details.get("parameters", []) if p.get("in") == "path"}
    path_parameters = [
        {"name": name, "in": "path", "required": True, **PATH_PARAMETERS[name]}
        for name in PATH_VARIABLE.findall(route.path)
        if name not in declared
    ]
    out: JsonDict = {"operationId": route.name, "summary": op.summary, "tags": [op.tag]}
    if op.description:
        out["description"] = op.description
    parameters = path_parameters + details.get("parameters", [])
    if parameters:
        out["parameters"] = parameters
    if "requestBody" in details:
        out["requestBody"] = details["requestBody"]
    responses = dict(details["responses"])
    if route.scope is None:
        out["security"] = []  # public: no API key
    else:
        out["x-scope"] = route.scope
        out["description"] = f"{op.description} Scope: `{route.scope}`.".strip()
        responses.update(AUTHENTICATED_RESPONSES)
    out["responses"] = dict(sorted(responses.items()))
    return out


def build(
    routes: Iterable[Described], settings: Settings | None = None, server_url: str | None = None
) -> JsonDict:
    """The OpenAPI document of ``routes``."""
    settings = settings or Settings()
    table = sorted(routes, key=lambda r: (r.path, r.method))
    paths: JsonDict = {}
    parameters: JsonDict = {}
    for route in table:
        paths.setdefault(route.path, {})[route.method.lower()] = operation(route, settings)
        if route.doc.parameters is not None:
            parameters.update(route.doc.parameters(settings))
    document: JsonDict = {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Serverless DICOMweb",
            "version": "1",
            "description": "DICOMweb (PS3.18): STOW-RS, QIDO-RS, WADO-RS, rendered resources "
            "and WADO-URI, with the non-standard delete, change feed and upload routes. The "
            "DICOM conformance statement is docs/conformance.md; errors are one JSON body, "
            '`{"error": {"status", "code", "message"}}`. Any route also answers 404 for an '
            "unknown path or method, and 413 for a request body over 10 MB.",
        },
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "responses": RESPONSES,
            "parameters": dict(sorted(parameters.items())),
            "securitySchemes": SECURITY_SCHEMES,
        },
        "security": [{name: []} for name in SECURITY_SCHEMES],
        "tags": [{"name": t} for t in TAGS],
    }
    if server_url:
        document["servers"] = [{"url": server_url}]
    return document
