"""STOW-RS routes (PS3.18 10.5).

Near the limits: a request body reaches the function only below Lambda's 6 MB event payload
(about 4.5 MB of binary once API Gateway base64-encodes it) and API Gateway's 10 MB; larger
requests are answered 413 by the gateway before they get here.
"""

from __future__ import annotations

import functools

from chalice.app import Blueprint, Response

from chalicelib.dicomweb.errors import BadRequest, UnsupportedMediaType
from chalicelib.dicomweb.media import (
    APPLICATION_DICOM,
    MULTIPART_RELATED,
    multipart_type,
    parse_media_type,
)
from chalicelib.dicomweb.multipart import read_multipart
from chalicelib.dicomweb.resources import path_uid
from chalicelib.observability import count, logger
from chalicelib.routes.deps import Deps
from chalicelib.routes.http import CORS, api_view, base_url, json_response, path_param, principal_of
from chalicelib.services.stow import InstancePart, store_instances


def _parts(content_type: str | None, body: bytes) -> list[InstancePart]:
    if not content_type:
        raise UnsupportedMediaType(
            "Content-Type is required: multipart/related or application/dicom"
        )
    try:
        media = parse_media_type(content_type)
    except BadRequest as exc:
        raise UnsupportedMediaType(exc.message) from exc
    if media.essence == APPLICATION_DICOM:
        return [InstancePart(body)]
    if media.essence != MULTIPART_RELATED:
        raise UnsupportedMediaType(
            f'{media.essence} is not accepted: use multipart/related; type="application/dicom"'
        )
    if multipart_type(media) not in (None, APPLICATION_DICOM):
        raise UnsupportedMediaType(
            f"multipart/related of {multipart_type(media)} is not accepted; "
            'use type="application/dicom"'
        )
    boundary = media.params.get("boundary")
    if not boundary:
        raise BadRequest("multipart/related without a boundary parameter", code="InvalidMultipart")
    return [
        InstancePart(p.content, p.content_type or APPLICATION_DICOM)
        for p in read_multipart(body, boundary)
    ]


def blueprint(deps: Deps) -> Blueprint:
    bp = Blueprint(__name__)
    view = functools.partial(api_view, lambda: bp.current_request)

    def store(study: str | None) -> Response:
        request = bp.current_request
        tenant = principal_of(request).tenant
        raw = request.raw_body or b""
        body = raw.encode("utf-8") if isinstance(raw, str) else raw
        parts = _parts(request.headers.get("content-type"), body)
        result = store_instances(deps.store, tenant, parts, study)
        logger.info(
            "stow",
            extra={
                "transaction": "stow",
                "stored": len(result.stored),
                "failed": len(result.failed),
            },
        )
        count("InstancesStored", len(result.stored), tenant=tenant)
        count("InstancesFailed", len(result.failed), tenant=tenant)
        count("BytesStored", sum(s.size for s in result.stored), "Bytes", tenant=tenant)
        return json_response(result.to_dicom_json(base_url(request), study), status=result.status)

    @bp.route("/studies", methods=["POST"], content_types=["*/*"], cors=CORS)
    @view("write")
    def store_instances_route() -> Response:
        return store(None)

    @bp.route("/studies/{study}", methods=["POST"], content_types=["*/*"], cors=CORS)
    @view("write")
    def store_instances_in_study(study: str) -> Response:
        return store(path_uid(path_param(bp.current_request, "study"), "study"))

    return bp
