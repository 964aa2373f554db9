"""DELETE of studies, series and instances (scope ``delete``) and the change feed (scope
``read``): ``GET /changefeed?startAfter=&limit=`` and ``GET /changefeed/latest``."""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib.dicomweb.errors import BadRequest, NotFound
from chalicelib.dicomweb.media import JSON
from chalicelib.dicomweb.resources import InstanceRef, SeriesRef, StudyRef
from chalicelib.observability import logger
from chalicelib.routes.deps import Deps
from chalicelib.routes.http import (
    CORS,
    CORS_HEADERS,
    edge,
    json_response,
)
from chalicelib.services.delete import delete

MAX_FEED_PAGE = 1000


def blueprint(deps: Deps) -> Blueprint:
    bp = Blueprint(__name__)
    view, tenant, uid = edge(bp)

    def deleted(ref: StudyRef | SeriesRef | InstanceRef) -> Response:
        count = delete(deps.store, ref)
        logger.info("delete", extra={"transaction": "delete", "count": count})
        return Response(body=b"", status_code=204, headers={**CORS_HEADERS})

    @bp.route("/studies/{study}", methods=["DELETE"], cors=CORS)
    @view("delete")
    def delete_study(study: str) -> Response:
        return deleted(StudyRef(tenant(), uid("study")))

    @bp.route("/studies/{study}/series/{series}", methods=["DELETE"], cors=CORS)
    @view("delete")
    def delete_series(study: str, series: str) -> Response:
        return deleted(SeriesRef(tenant(), uid("study"), uid("series")))

    @bp.route(
        "/studies/{study}/series/{series}/instances/{instance}", methods=["DELETE"], cors=CORS
    )
    @view("delete")
    def delete_instance(study: str, series: str, instance: str) -> Response:
        return deleted(InstanceRef(tenant(), uid("study"), uid("series"), uid("instance")))

    @bp.route("/changefeed", methods=["GET"], cors=CORS)
    @view("read")
    def changefeed() -> Response:
        params = dict(bp.current_request.query_params or {})
        start, limit = params.get("startAfter", "0"), params.get("limit", "100")
        if not start.isdecimal() or not limit.isdecimal() or not 1 <= int(limit) <= MAX_FEED_PAGE:
            raise BadRequest(
                f"startAfter is a sequence number, limit 1 to {MAX_FEED_PAGE}",
                code="InvalidParameter",
            )
        return json_response(deps.feed.read(tenant(), int(start), int(limit)), content_type=JSON)

    @bp.route("/changefeed/latest", methods=["GET"], cors=CORS)
    @view("read")
    def changefeed_latest() -> Response:
        latest = deps.feed.latest(tenant())
        if latest is None:
            raise NotFound("no change yet")
        return json_response(latest, content_type=JSON)

    return bp
