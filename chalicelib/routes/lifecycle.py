"""DELETE of studies, series and instances (scope ``delete``) and the change feed (scope
``read``): ``GET /changefeed?startAfter=&limit=`` and ``GET /changefeed/latest``."""

from __future__ import annotations

from chalicelib.config import Settings
from chalicelib.dicomweb.media import JSON
from chalicelib.openapi.parts import (
    OTHER,
    JsonDict,
    Operation,
    content,
    digits,
    ok,
    query_param,
    ref,
    standard,
)
from chalicelib.routes.route import Route, get
from chalicelib.services.changes import MAX_FEED_PAGE


def _delete_doc(path: str, settings: Settings) -> JsonDict:
    return {
        "responses": {
            "204": {"description": "deleted: no version of it is left in S3"},
            **standard("BadRequest", "NotFound"),
        }
    }


def _changefeed_doc(path: str, settings: Settings) -> JsonDict:

    return {
        "parameters": [
            query_param("startAfter", digits(), "a sequence number (0: from the start)"),
            query_param("limit", digits(MAX_FEED_PAGE, 1), "page size (default 100)"),
        ],
        "responses": {
            "200": ok(
                "changes in sequence order",
                content({"type": "array", "items": ref("schemas", "Change")}, JSON),
            ),
            **standard("BadRequest"),
        },
    }


def _changefeed_latest_doc(path: str, settings: Settings) -> JsonDict:
    return {
        "responses": {
            "200": ok("the last change", content(ref("schemas", "Change"), JSON)),
            **standard("NotFound"),
        }
    }


STUDY = "/studies/{study}"
SERIES = "/studies/{study}/series/{series}"
INSTANCE = "/studies/{study}/series/{series}/instances/{instance}"
FEED = "Every instance created, replaced or deleted."

# fmt: off
ROUTES: tuple[Route, ...] = (
    Route("DELETE", STUDY, "delete", "delete_study", lambda s, c: s.delete.delete(c.study()), Operation("Delete a study", OTHER, _delete_doc), writes=True),  # noqa: E501
    Route("DELETE", SERIES, "delete", "delete_series", lambda s, c: s.delete.delete(c.series()), Operation("Delete a series", OTHER, _delete_doc), writes=True),  # noqa: E501
    Route("DELETE", INSTANCE, "delete", "delete_instance", lambda s, c: s.delete.delete(c.instance()), Operation("Delete an instance", OTHER, _delete_doc), writes=True),  # noqa: E501
    get("/changefeed", "changefeed", lambda s, c: s.changes.read_changes(c.tenant, c.param("startAfter", "0"), c.param("limit", "100")), Operation("Change feed", OTHER, _changefeed_doc, FEED)),  # noqa: E501
    get("/changefeed/latest", "changefeed_latest", lambda s, c: s.changes.latest_change(c.tenant), Operation("Last change", OTHER, _changefeed_latest_doc)),  # noqa: E501
)
# fmt: on
