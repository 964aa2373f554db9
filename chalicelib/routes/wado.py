"""WADO-RS routes (PS3.18 10.4): study, series and instance retrieval, metadata, frames and
bulk data.

Near the limits: responses are buffered, at most Lambda's 6 MB payload once base64-encoded
(``Settings.max_binary_response``); larger answers are 413 until the large-object path exists.
Metadata is gzip-compressed when the client accepts it, which keeps large series well under.
"""

from __future__ import annotations

import gzip
import json

from chalice.app import Blueprint, Response

from chalicelib.dicomweb.dicomxml import to_xml
from chalicelib.dicomweb.media import (
    APPLICATION_DICOM,
    DICOM_JSON,
    DICOM_XML,
    OCTET_STREAM,
    parse_accept,
    prefers_zip,
    wants_dicom_xml,
)
from chalicelib.dicomweb.metadata import absolute_uris
from chalicelib.dicomweb.multipart import Part
from chalicelib.dicomweb.resources import InstanceRef, SeriesRef, StudyRef
from chalicelib.routes.deps import Deps
from chalicelib.routes.http import (
    CORS,
    CORS_HEADERS,
    base_url,
    binary_response,
    edge,
    multipart_response,
    path_param,
)
from chalicelib.routes.placement import INSTANCE
from chalicelib.services import frames as frame_service
from chalicelib.services import metadata as metadata_service
from chalicelib.services import wado as wado_service
from chalicelib.services.large import redirect_to_document
from chalicelib.services.metadata import Metadata
from chalicelib.services.wado import Large, Retrieved
from chalicelib.services.zipper import ZIP, retrieve_zip
from chalicelib.storage.keys import bundles_prefix, series_prefix, study_prefix


def see_other(url: str) -> Response:
    """303 to a presigned S3 URL: how an answer over the payload limit reaches the client."""
    return Response(body=b"", status_code=303, headers={"Location": url, **CORS_HEADERS})


def _dicom_response(got: Retrieved) -> Response:
    if got.redirect:
        return see_other(got.redirect)
    parts = [
        Part(i.data, {"Content-Type": f"{APPLICATION_DICOM}; transfer-syntax={i.transfer_syntax}"})
        for i in got.instances
    ]
    if got.multipart:
        return multipart_response(parts, APPLICATION_DICOM)
    return binary_response(parts[0].content, parts[0].headers["Content-Type"])


def blueprint(deps: Deps) -> Blueprint:
    bp = Blueprint(__name__)
    view, tenant, uid = edge(bp)

    def study_ref() -> StudyRef:
        return StudyRef(tenant(), uid("study"))

    def series_ref() -> SeriesRef:
        return SeriesRef(tenant(), uid("study"), uid("series"))

    def instance_ref() -> InstanceRef:
        return InstanceRef(tenant(), uid("study"), uid("series"), uid("instance"))

    def accept() -> list:  # type: ignore[type-arg]
        return parse_accept(bp.current_request.headers.get("accept"))

    def limit() -> int:
        return deps.settings.max_binary_response()

    def link(key: str, content_type: str) -> str:
        return deps.downloads.url(key, deps.settings.presign_expiry, content_type)

    def large() -> Large:
        return Large(deps.catalog, tenant(), link)

    def metadata_response(got: Metadata | None) -> Response:
        request = bp.current_request
        xml = wants_dicom_xml(parse_accept(request.headers.get("accept")), "metadata")
        if got is None:
            return Response(body=b"", status_code=304, headers={**CORS_HEADERS})
        body = absolute_uris(got.body, base_url(request))
        if xml:
            parts = [Part(to_xml(d), {"Content-Type": DICOM_XML}) for d in json.loads(body)]
            response = multipart_response(parts, DICOM_XML)
            response.headers["ETag"] = got.etag
            return response
        headers = {
            "Content-Type": DICOM_JSON,
            "ETag": got.etag,
            "Vary": "Accept-Encoding",
            **CORS_HEADERS,
        }
        plain = body
        if "gzip" in (request.headers.get("accept-encoding") or ""):
            body = gzip.compress(body, 6)
            headers["Content-Encoding"] = "gzip"
        if len(body) > limit():  # even compressed: stored once (uncompressed), presigned
            scope = bundles_prefix(tenant(), uid("study"))
            url = redirect_to_document(deps.store, scope, plain, DICOM_JSON, link)
            return see_other(url)
        return Response(body=body, status_code=200, headers=headers)

    def if_none_match() -> str | None:
        return bp.current_request.headers.get("if-none-match")

    def zipped(prefix: str) -> Response:
        got = retrieve_zip(
            deps.store, tenant(), wado_service.list_objects(deps.store, prefix), limit(), link
        )
        return see_other(got) if isinstance(got, str) else binary_response(got, ZIP)

    @bp.route("/studies/{study}", methods=["GET"], cors=CORS)
    @view("read")
    def retrieve_study(study: str) -> Response:
        if prefers_zip(accept()):
            return zipped(study_prefix(study_ref()))
        return _dicom_response(
            wado_service.retrieve_study(deps.store, study_ref(), accept(), limit(), large())
        )

    @bp.route("/studies/{study}/series/{series}", methods=["GET"], cors=CORS)
    @view("read")
    def retrieve_series(study: str, series: str) -> Response:
        if prefers_zip(accept()):
            return zipped(series_prefix(series_ref()))
        return _dicom_response(
            wado_service.retrieve_series(deps.store, series_ref(), accept(), limit(), large())
        )

    @bp.route(INSTANCE, methods=["GET"], cors=CORS)
    @view("read")
    def retrieve_instance(study: str, series: str, instance: str) -> Response:
        return _dicom_response(
            wado_service.retrieve_instance(deps.store, instance_ref(), accept(), limit(), large())
        )

    @bp.route("/studies/{study}/metadata", methods=["GET"], cors=CORS)
    @view("read")
    def retrieve_study_metadata(study: str) -> Response:
        return metadata_response(
            metadata_service.retrieve_study_metadata(
                deps.store, deps.catalog, study_ref(), if_none_match()
            )
        )

    @bp.route("/studies/{study}/series/{series}/metadata", methods=["GET"], cors=CORS)
    @view("read")
    def retrieve_series_metadata(study: str, series: str) -> Response:
        return metadata_response(
            metadata_service.retrieve_series_metadata(
                deps.store, deps.catalog, series_ref(), if_none_match()
            )
        )

    @bp.route(INSTANCE + "/metadata", methods=["GET"], cors=CORS)
    @view("read")
    def retrieve_instance_metadata(study: str, series: str, instance: str) -> Response:
        return metadata_response(
            metadata_service.retrieve_instance_metadata(deps.store, instance_ref(), if_none_match())
        )

    @bp.route(INSTANCE + "/frames/{frames}", methods=["GET"], cors=CORS)
    @view("read")
    def retrieve_instance_frames(study: str, series: str, instance: str, frames: str) -> Response:
        numbers = frame_service.parse_frame_list(path_param(bp.current_request, "frames"))
        got = frame_service.retrieve_frames(
            deps.store,
            deps.catalog,
            instance_ref(),
            numbers,
            accept(),
            limit(),
            link,
        )
        if isinstance(got, str):
            return see_other(got)
        parts = [
            Part(f.data, {"Content-Type": f"{f.content_type}; transfer-syntax={f.transfer_syntax}"})
            for f in got
        ]
        return multipart_response(parts, got[0].content_type)

    @bp.route(INSTANCE + "/bulkdata/{tag}", methods=["GET"], cors=CORS)
    @view("read")
    def retrieve_bulkdata(study: str, series: str, instance: str, tag: str) -> Response:
        data = frame_service.retrieve_bulkdata(
            deps.store, deps.catalog, instance_ref(), path_param(bp.current_request, "tag"), limit()
        )
        return multipart_response([Part(data, {"Content-Type": OCTET_STREAM})], OCTET_STREAM)

    return bp
