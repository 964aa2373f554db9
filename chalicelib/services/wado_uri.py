"""WADO-URI (PS3.18 9): the instance through WADO-RS's retrieval (as stored, or converted to
the ``transferSyntax`` asked for), or a rendered frame through the render service."""

from __future__ import annotations

from chalicelib.dicomweb.media import ANY_TRANSFER_SYNTAX, APPLICATION_DICOM, parse_accept
from chalicelib.dicomweb.resources import InstanceRef
from chalicelib.dicomweb.wado_uri import WadoUriRequest
from chalicelib.services.answers import Body
from chalicelib.services.render import Render
from chalicelib.services.wado import Wado


class WadoUri:
    def __init__(self, wado: Wado, render: Render) -> None:
        self._wado = wado
        self._render = render

    def retrieve(self, tenant: str, request: WadoUriRequest) -> Body:
        ref = InstanceRef(tenant, *request.uids)
        if request.media_type == APPLICATION_DICOM:
            syntax = request.transfer_syntax or ANY_TRANSFER_SYNTAX
            accept = parse_accept(f"{APPLICATION_DICOM}; transfer-syntax={syntax}")
            return self._wado.retrieve_instance(ref, accept)
        assert request.render is not None
        return self._render.render_image(ref, request.frame, request.render, thumbnail=False)
