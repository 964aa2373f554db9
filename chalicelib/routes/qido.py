"""QIDO-RS routes (PS3.18 10.6)."""

from __future__ import annotations

import functools

from chalice.app import Blueprint, Response

from chalicelib.dicomweb.errors import NotAcceptable
from chalicelib.dicomweb.media import DICOM_JSON, JSON, parse_accept
from chalicelib.dicomweb.query import Query, parse_query
from chalicelib.dicomweb.resources import SeriesRef, StudyRef, path_uid
from chalicelib.routes.deps import Deps
from chalicelib.routes.http import (
    CORS,
    api_view,
    base_url,
    host_of,
    json_response,
    path_param,
    principal_of,
    query_lists,
    warning_header,
)
from chalicelib.services import qido
from chalicelib.services.qido import SearchResult


def blueprint(deps: Deps) -> Blueprint:
    bp = Blueprint(__name__)
    view = functools.partial(api_view, lambda: bp.current_request)

    def query() -> Query:
        request = bp.current_request
        accept = parse_accept(request.headers.get("accept"))
        if not any(m.matches(DICOM_JSON) or m.matches(JSON) for m in accept):
            raise NotAcceptable("QIDO answers application/dicom+json")
        s = deps.settings
        return parse_query(query_lists(request), s.qido_default_limit, s.qido_max_limit)

    def respond(result: SearchResult) -> Response:
        request = bp.current_request
        return json_response(
            result.matches, headers=warning_header(host_of(request), result.warnings)
        )

    def tenant() -> str:
        return principal_of(bp.current_request).tenant

    def study_ref() -> StudyRef:
        return StudyRef(tenant(), path_uid(path_param(bp.current_request, "study"), "study"))

    @bp.route("/studies", methods=["GET"], cors=CORS)
    @view("read")
    def search_for_studies() -> Response:
        q = query()
        url = base_url(bp.current_request)
        return respond(qido.search_for_studies(deps.catalog, tenant(), q, url))

    @bp.route("/studies/{study}/series", methods=["GET"], cors=CORS)
    @view("read")
    def search_for_series_in_study(study: str) -> Response:
        q = query()
        url = base_url(bp.current_request)
        return respond(qido.search_for_series(deps.catalog, study_ref(), q, url))

    @bp.route("/studies/{study}/instances", methods=["GET"], cors=CORS)
    @view("read")
    def search_for_instances_in_study(study: str) -> Response:
        q = query()
        url = base_url(bp.current_request)
        return respond(qido.search_for_instances_in_study(deps.catalog, study_ref(), q, url))

    @bp.route("/studies/{study}/series/{series}/instances", methods=["GET"], cors=CORS)
    @view("read")
    def search_for_instances_in_series(study: str, series: str) -> Response:
        q = query()
        ref = study_ref()
        series_uid = path_uid(path_param(bp.current_request, "series"), "series")
        url = base_url(bp.current_request)
        return respond(
            qido.search_for_instances_in_series(
                deps.catalog, SeriesRef(ref.tenant, ref.study, series_uid), q, url
            )
        )

    return bp
