"""QIDO-RS routes (PS3.18 10.6): the six search resources.

Answers ``application/dicom+json`` (also for ``application/json`` and ``*/*``) or
``multipart/related; type="application/dicom+xml"`` (one Native DICOM Model part per result).
Near the limits: a page is at most 1,000 results of fixed attribute lists (well under Lambda's
6 MB); DynamoDB reads page at 1 MB.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from chalice.app import Blueprint, Response

from chalicelib.dicomweb.dicomxml import to_xml
from chalicelib.dicomweb.media import (
    DICOM_XML,
    parse_accept,
    wants_dicom_xml,
)
from chalicelib.dicomweb.multipart import Part
from chalicelib.dicomweb.query import Query, parse_query
from chalicelib.dicomweb.resources import SeriesRef, StudyRef, path_uid
from chalicelib.routes.deps import Deps
from chalicelib.routes.http import (
    CORS,
    api_view,
    base_url,
    host_of,
    json_response,
    multipart_response,
    path_param,
    principal_of,
    query_lists,
    warning_header,
)
from chalicelib.services import qido
from chalicelib.services.qido import SearchResult
from chalicelib.storage.catalog import DynamoCatalog


def blueprint(deps: Deps) -> Blueprint:
    bp = Blueprint(__name__)
    view = functools.partial(api_view, lambda: bp.current_request)

    def run(search: Callable[[Query, str], SearchResult]) -> Response:
        request = bp.current_request
        xml = wants_dicom_xml(parse_accept(request.headers.get("accept")), "QIDO")
        s = deps.settings
        query = parse_query(query_lists(request), s.qido_default_limit, s.qido_max_limit)
        result = search(query, base_url(request))
        warnings = warning_header(host_of(request), result.warnings)
        if xml:
            parts = [Part(to_xml(m), {"Content-Type": DICOM_XML}) for m in result.matches]
            response = multipart_response(parts, DICOM_XML)
            response.headers.update(warnings)
            return response
        return json_response(result.matches, headers=warnings)

    def tenant() -> str:
        return principal_of(bp.current_request).tenant

    def study_ref() -> StudyRef:
        return StudyRef(tenant(), path_uid(path_param(bp.current_request, "study"), "study"))

    def series_ref() -> SeriesRef:
        ref = study_ref()
        series = path_uid(path_param(bp.current_request, "series"), "series")
        return SeriesRef(ref.tenant, ref.study, series)

    def catalog() -> DynamoCatalog:
        return deps.catalog  # built on first use, not at import

    @bp.route("/studies", methods=["GET"], cors=CORS)
    @view("read")
    def search_for_studies() -> Response:
        return run(lambda q, url: qido.search_for_studies(catalog(), tenant(), q, url))

    @bp.route("/series", methods=["GET"], cors=CORS)
    @view("read")
    def search_for_series() -> Response:
        return run(lambda q, url: qido.search_for_all_series(catalog(), tenant(), q, url))

    @bp.route("/instances", methods=["GET"], cors=CORS)
    @view("read")
    def search_for_instances() -> Response:
        return run(lambda q, url: qido.search_for_all_instances(catalog(), tenant(), q, url))

    @bp.route("/studies/{study}/series", methods=["GET"], cors=CORS)
    @view("read")
    def search_for_series_in_study(study: str) -> Response:
        return run(lambda q, url: qido.search_for_series(catalog(), study_ref(), q, url))

    @bp.route("/studies/{study}/instances", methods=["GET"], cors=CORS)
    @view("read")
    def search_for_instances_in_study(study: str) -> Response:
        return run(
            lambda q, url: qido.search_for_instances_in_study(catalog(), study_ref(), q, url)
        )

    @bp.route("/studies/{study}/series/{series}/instances", methods=["GET"], cors=CORS)
    @view("read")
    def search_for_instances_in_series(study: str, series: str) -> Response:
        return run(
            lambda q, url: qido.search_for_instances_in_series(catalog(), series_ref(), q, url)
        )

    return bp
