"""WADO-RS routes (PS3.18 10.4).

Near the limits: a buffered response carries at most Lambda's 6 MB payload once
base64-encoded (``Settings.max_binary_response``); a larger instance is answered 413 until the
large-object path exists.
"""

from __future__ import annotations

import functools

from chalice.app import Blueprint, Response

from chalicelib.dicomweb.media import APPLICATION_DICOM, parse_accept
from chalicelib.dicomweb.multipart import Part
from chalicelib.dicomweb.resources import InstanceRef, path_uid
from chalicelib.routes.deps import Deps
from chalicelib.routes.http import (
    CORS,
    api_view,
    binary_response,
    multipart_response,
    path_param,
    principal_of,
)
from chalicelib.services.wado import retrieve_instance


def blueprint(deps: Deps) -> Blueprint:
    bp = Blueprint(__name__)
    view = functools.partial(api_view, lambda: bp.current_request)

    @bp.route("/studies/{study}/series/{series}/instances/{instance}", methods=["GET"], cors=CORS)
    @view("read")
    def retrieve_instance_route(study: str, series: str, instance: str) -> Response:
        request = bp.current_request
        ref = InstanceRef(
            principal_of(request).tenant,
            path_uid(path_param(request, "study"), "study"),
            path_uid(path_param(request, "series"), "series"),
            path_uid(path_param(request, "instance"), "instance"),
        )
        got = retrieve_instance(
            deps.store,
            ref,
            parse_accept(request.headers.get("accept")),
            deps.settings.max_binary_response(),
        )
        part_type = f"{APPLICATION_DICOM}; transfer-syntax={got.transfer_syntax}"
        if got.multipart:
            return multipart_response(
                [Part(got.data, {"Content-Type": part_type})], APPLICATION_DICOM
            )
        return binary_response(got.data, part_type)

    return bp
