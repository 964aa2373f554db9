"""QIDO-RS (PS3.18 10.6): the six search resources.

Answers ``application/dicom+json`` (also for ``application/json`` and ``*/*``) or
``multipart/related; type="application/dicom+xml"`` (one Native DICOM Model part per result).
Near the limits: a page is at most 1,000 results of fixed attribute lists (well under Lambda's
6 MB); DynamoDB reads page at 1 MB.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.config import Settings
from chalicelib.dicomweb.media import DICOM_JSON, DICOM_XML, wants_dicom_xml
from chalicelib.dicomweb.query import MAX_OFFSET, RESERVED, parse_query, vr_of
from chalicelib.openapi.parts import (
    BINARY,
    DICOM_JSON_ARRAY,
    QIDO,
    VALUE_BY_VR,
    WARNING,
    JsonDict,
    Operation,
    content,
    multipart,
    ok,
    query_param,
    ref,
    standard,
)
from chalicelib.routes.route import Call, Route, get
from chalicelib.services.qido import LEVELS, SearchRequest, matching_keys

if TYPE_CHECKING:
    from chalicelib.routes.deps import Deps

# --- OpenAPI ----------------------------------------------------------------------------------

#: The QIDO resource (``services/qido.LEVELS``) each search route passes.
QIDO_RESOURCES = {
    "/studies": "studies",
    "/series": "series",
    "/instances": "instances",
    "/studies/{study}/series": "study-series",
    "/studies/{study}/instances": "study-instances",
    "/studies/{study}/series/{series}/instances": "series-instances",
}
assert set(QIDO_RESOURCES.values()) == set(LEVELS)

RESERVED_DESCRIPTIONS = {
    "limit": "page size; 0 or absent: the default ({default}); above {max}: capped, with a Warning",
    "offset": "results to skip",
    "includefield": "attribute keywords or tags (comma-joined or repeated) added to the return "
    "attributes; `all`: every attribute the catalog holds for the levels searched",
    "fuzzymatching": "fuzzy matching of person names",
    "apikey": "ignored (never a matching key; API keys are read from headers only)",
}


def reserved_parameters(settings: Settings) -> list[JsonDict]:
    schemas: dict[str, JsonDict] = {
        "limit": {"type": "integer", "minimum": 0, "maximum": 999_999_999},
        "offset": {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET},
        "includefield": {"type": "array", "items": {"type": "string"}},
        "fuzzymatching": {"type": "boolean", "default": False},
        "apikey": {"type": "string"},
    }
    text = {
        name: RESERVED_DESCRIPTIONS[name].format(
            default=settings.qido_default_limit, max=settings.qido_max_limit
        )
        for name in RESERVED
    }
    return [query_param(name, schemas[name], text[name]) for name in sorted(RESERVED)]


def _attribute_parameter(keyword: str) -> JsonDict:
    vr = vr_of(keyword)
    schema = VALUE_BY_VR.get(vr, {"type": "string"})
    return query_param(
        keyword, schema, f"matching key ({vr}); also accepted as its tag in 8 hex digits"
    )


def qido_parameters(settings: Settings) -> JsonDict:
    """Shared by the six search resources: the reserved parameters, then every matching key."""
    keys = sorted({k for resource in QIDO_RESOURCES.values() for k in matching_keys(resource)})
    reserved = {p["name"]: p for p in reserved_parameters(settings)}
    return {**reserved, **{k: _attribute_parameter(k) for k in keys}}


QIDO_DESCRIPTION = (
    "Any attribute keyword or 8-hex-digit tag is a query parameter; the matching keys of the "
    "levels searched are listed. An unknown attribute, or one that is not a matching key here, "
    "is ignored and reported in a `Warning` header (PS3.18 8.3.4.1). Answers "
    "`application/dicom+json` (also for `application/json` and `*/*`) or "
    '`multipart/related; type="application/dicom+xml"`; no match is 200 with `[]`.'
)


def _search_doc(path: str, settings: Settings) -> JsonDict:
    keys = matching_keys(QIDO_RESOURCES[path])
    return {
        "parameters": [ref("parameters", name) for name in sorted(RESERVED)]
        + [ref("parameters", keyword) for keyword in keys],
        "responses": {
            "200": ok(
                "the matches, one dataset each",
                {
                    **content(DICOM_JSON_ARRAY, DICOM_JSON),
                    **content(BINARY, multipart(DICOM_XML)),
                },
                WARNING,
            ),
            **standard("BadRequest", "NotAcceptable"),
            **(standard("NotFound") if "{" in path else {}),
        },
    }


def _doc(summary: str) -> Operation:
    return Operation(summary, QIDO, _search_doc, QIDO_DESCRIPTION, qido_parameters)


# --- routes -----------------------------------------------------------------------------------


def search(s: Deps, c: Call) -> SearchRequest:
    """The query, parsed once, and how the answer is to be written."""
    limits = s.settings
    return SearchRequest(
        parse_query(c.query, limits.qido_default_limit, limits.qido_max_limit),
        wants_dicom_xml(c.accept, "QIDO"),
        c.base_url,
        c.host,
    )


SERIES = "/studies/{study}/series/{series}"

# fmt: off
ROUTES: tuple[Route, ...] = (
    get("/studies", "search_for_studies", lambda s, c: s.qido.search_for_studies(c.tenant, search(s, c)), _doc("Search for studies")),  # noqa: E501
    get("/series", "search_for_series", lambda s, c: s.qido.search_for_all_series(c.tenant, search(s, c)), _doc("Search for series")),  # noqa: E501
    get("/instances", "search_for_instances", lambda s, c: s.qido.search_for_all_instances(c.tenant, search(s, c)), _doc("Search for instances")),  # noqa: E501
    get("/studies/{study}/series", "search_for_series_in_study", lambda s, c: s.qido.search_for_series(c.study(), search(s, c)), _doc("Search for a study's series")),  # noqa: E501
    get("/studies/{study}/instances", "search_for_instances_in_study", lambda s, c: s.qido.search_for_instances_in_study(c.study(), search(s, c)), _doc("Search for a study's instances")),  # noqa: E501
    get(f"{SERIES}/instances", "search_for_instances_in_series", lambda s, c: s.qido.search_for_instances_in_series(c.series(), search(s, c)), _doc("Search for a series' instances")),  # noqa: E501
)
# fmt: on
