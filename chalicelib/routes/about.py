"""About the service, public (no API key: the routes' scope is None), so a person, a client or a
load balancer learns what it reached before it has a key:

* ``GET /``: what the service is: name, version, the DICOMweb root, and links to the OpenAPI
  description, the conformance statement and the health check. No tenant data, no AWS call.
* ``GET /openapi.json``: the OpenAPI description (``chalicelib/openapi``), built once per
  container from the route table; ``servers`` is the request's DICOMweb root.
* ``GET /conformance``: the DICOM conformance statement (``docs/conformance.md``, packaged with
  the code through the link ``chalicelib/openapi/conformance.md``), as Markdown.
* ``GET /health``: the cheap answer for probes: no AWS call, it says the function answers.

Every URL these answers carry starts with the request's public root (``routes/front.py``:
``Call.base_url``), never with a Host header a client made up.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from chalicelib.config import Settings
from chalicelib.dicomweb.media import JSON
from chalicelib.openapi import PATH
from chalicelib.openapi.parts import OTHER, JsonDict, Operation, content, ok
from chalicelib.routes.route import Call, Route, get
from chalicelib.services.answers import Answer, Body, json_body

if TYPE_CHECKING:
    from chalicelib.routes.deps import Deps

#: What ``GET /`` names. The version is the project's (pyproject.toml; a test keeps them equal).
NAME = "Serverless DICOMweb"
VERSION = "0.1.0"
CONFORMANCE_PATH = "/conformance"
HEALTH_PATH = "/health"
#: The conformance statement as packaged: a link to docs/conformance.md, which Chalice's
#: packager copies into deployment.zip as a file.
CONFORMANCE_FILE = Path(__file__).resolve().parents[1] / "openapi" / "conformance.md"
MARKDOWN = "text/markdown; charset=utf-8"


def _root_doc(path: str, settings: Settings) -> JsonDict:
    link = {"type": "string", "format": "uri"}
    about = {
        "type": "object",
        "required": ["name", "version", "dicomweb", "links"],
        "properties": {
            "name": {"const": NAME},
            "version": {"type": "string"},
            "description": {"type": "string"},
            "dicomweb": {**link, "description": "the DICOMweb root: /studies and the rest"},
            "links": {
                "type": "object",
                "required": ["openapi", "conformance", "health"],
                "properties": {"openapi": link, "conformance": link, "health": link},
            },
        },
    }
    return {"responses": {"200": ok("what this service is", content(about, JSON))}}


def about(s: Deps, c: Call) -> Answer:
    root = c.base_url
    return json_body(
        {
            "name": NAME,
            "version": VERSION,
            "description": "A DICOMweb (DICOM PS3.18) origin server: STOW-RS, QIDO-RS, "
            "WADO-RS and WADO-URI. Every other route needs an API key (apikey, x-api-key, "
            "Authorization: Bearer, or the password of HTTP Basic).",
            "dicomweb": root,
            "links": {
                "openapi": root + PATH,
                "conformance": root + CONFORMANCE_PATH,
                "health": root + HEALTH_PATH,
            },
        },
        JSON,
    )


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
        # imported here: only this route builds the document (not the cold start of others)
        from chalicelib.openapi.document import build
        from chalicelib.routes.table import ROUTES  # the table gathers this module's routes too

        _DOCUMENTS[key] = build(ROUTES, settings)
    return _DOCUMENTS[key]


def describe(s: Deps, c: Call) -> Answer:
    return json_body({**document(s.settings), "servers": [{"url": c.base_url}]}, JSON)


def _conformance_doc(path: str, settings: Settings) -> JsonDict:
    text = {"type": "string"}
    return {"responses": {"200": ok("the conformance statement", content(text, MARKDOWN))}}


@cache
def conformance_statement() -> bytes:
    return CONFORMANCE_FILE.read_bytes()


def conformance(s: Deps, c: Call) -> Answer:
    return Body.single(conformance_statement(), MARKDOWN, compressible=True)


def _health_doc(path: str, settings: Settings) -> JsonDict:
    healthy = {"type": "object", "required": ["status"], "properties": {"status": {"const": "ok"}}}
    return {"responses": {"200": ok("the service answers", content(healthy, JSON))}}


def health(s: Deps, c: Call) -> Answer:
    return json_body({"status": "ok"}, JSON)


# fmt: off
ROUTES: tuple[Route, ...] = (
    get("/", "about", about, Operation("What this service is", OTHER, _root_doc), scope=None),
    get(PATH, "openapi_description", describe, Operation("This OpenAPI description", OTHER, _description_doc), scope=None),  # noqa: E501
    get(CONFORMANCE_PATH, "conformance_statement", conformance, Operation("The DICOM conformance statement", OTHER, _conformance_doc), scope=None),  # noqa: E501
    get(HEALTH_PATH, "health", health, Operation("Health", OTHER, _health_doc), scope=None),
)
# fmt: on
