"""WADO-RS (PS3.18 10.4): study, series and instance retrieval, metadata, frames and bulk data.

Near the limits: every answer goes through ``routes/respond.py``: up to Lambda's 6 MB payload
once base64-encoded (about 4.4 MB) it is in the response, over it the client is redirected
(303) to a signed URL of the stored object or of a body composed once in S3. Metadata is
gzip-compressed when the client accepts it, which keeps large series in the response.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.config import Settings
from chalicelib.dicomweb.media import (
    APPLICATION_DICOM,
    DICOM_JSON,
    DICOM_XML,
    FRAME_MEDIA_TYPES,
    OCTET_STREAM,
    ZIP,
)
from chalicelib.dicomweb.resources import parse_frame_list
from chalicelib.openapi.parts import (
    BINARY,
    DICOM_JSON_ARRAY,
    WADO,
    JsonDict,
    Operation,
    content,
    multipart,
    ok,
    standard,
)
from chalicelib.routes.route import Call, Route, get

if TYPE_CHECKING:
    pass

# --- OpenAPI ----------------------------------------------------------------------------------


def _retrieve_doc(path: str, settings: Settings) -> JsonDict:
    media = [multipart(APPLICATION_DICOM)]
    if path.endswith("{instance}"):
        media.append(APPLICATION_DICOM)
    else:
        media.append(ZIP)  # Sup 211
    return {
        "responses": {
            "200": ok(
                "the instances (transfer syntax per the Accept header's transfer-syntax)",
                content(BINARY, *media),
            ),
            **standard("SeeOther", "BadRequest", "NotFound", "NotAcceptable"),
        }
    }


def _metadata_doc(path: str, settings: Settings) -> JsonDict:
    return {
        "parameters": [
            {
                "name": "If-None-Match",
                "in": "header",
                "required": False,
                "schema": {"type": "string"},
                "description": "an ETag this answer gave: 304 while it is current",
            }
        ],
        "responses": {
            "200": ok(
                "one dataset per instance; large values as BulkDataURI",
                {
                    **content(DICOM_JSON_ARRAY, DICOM_JSON),
                    **content(BINARY, multipart(DICOM_XML)),
                },
                {
                    "ETag": {"required": True, "schema": {"type": "string"}},
                    "Content-Encoding": {
                        "description": "gzip when Accept-Encoding allows it",
                        "schema": {"type": "string"},
                    },
                },
            ),
            **standard("SeeOther", "NotModified", "BadRequest", "NotFound", "NotAcceptable"),
        },
    }


def _frames_doc(path: str, settings: Settings) -> JsonDict:
    part_types = sorted({OCTET_STREAM, *FRAME_MEDIA_TYPES.values()})
    return {
        "responses": {
            "200": ok(
                "one part per frame: uncompressed (octet-stream) or as stored",
                content(BINARY, *(multipart(t) for t in part_types)),
            ),
            **standard("SeeOther", "BadRequest", "NotFound", "NotAcceptable"),
        }
    }


def _bulkdata_doc(path: str, settings: Settings) -> JsonDict:
    return {
        "responses": {
            "200": ok("the element's value", content(BINARY, multipart(OCTET_STREAM))),
            **standard("SeeOther", "BadRequest", "NotFound"),
        }
    }


# --- routes -----------------------------------------------------------------------------------


def etag(c: Call) -> str | None:
    return c.header("if-none-match")


def frames(c: Call) -> list[int]:
    return parse_frame_list(c.path["frames"])


STUDY = "/studies/{study}"
SERIES = "/studies/{study}/series/{series}"
INSTANCE = "/studies/{study}/series/{series}/instances/{instance}"
AS_ZIP = "multipart/related of Part 10 instances, or a zip (Accept: application/zip)."
BULK = "The value of a top-level element a BulkDataURI names."

# fmt: off
ROUTES: tuple[Route, ...] = (
    get(STUDY, "retrieve_study", lambda s, c: s.wado.retrieve_study(c.study(), c.accept), Operation("Retrieve a study", WADO, _retrieve_doc, AS_ZIP), pixels=True),  # noqa: E501
    get(SERIES, "retrieve_series", lambda s, c: s.wado.retrieve_series(c.series(), c.accept), Operation("Retrieve a series", WADO, _retrieve_doc), pixels=True),  # noqa: E501
    get(INSTANCE, "retrieve_instance", lambda s, c: s.wado.retrieve_instance(c.instance(), c.accept), Operation("Retrieve an instance", WADO, _retrieve_doc), pixels=True),  # noqa: E501
    get(f"{STUDY}/metadata", "retrieve_study_metadata", lambda s, c: s.metadata.retrieve_study_metadata(c.study(), c.accept, etag(c), c.base_url), Operation("Study metadata", WADO, _metadata_doc)),  # noqa: E501
    get(f"{SERIES}/metadata", "retrieve_series_metadata", lambda s, c: s.metadata.retrieve_series_metadata(c.series(), c.accept, etag(c), c.base_url), Operation("Series metadata", WADO, _metadata_doc)),  # noqa: E501
    get(f"{INSTANCE}/metadata", "retrieve_instance_metadata", lambda s, c: s.metadata.retrieve_instance_metadata(c.instance(), c.accept, etag(c), c.base_url), Operation("Instance metadata", WADO, _metadata_doc)),  # noqa: E501
    get(f"{INSTANCE}/frames/{{frames}}", "retrieve_instance_frames", lambda s, c: s.frames.retrieve_instance_frames(c.instance(), frames(c), c.accept), Operation("Retrieve frames", WADO, _frames_doc), pixels=True),  # noqa: E501
    get(f"{INSTANCE}/bulkdata/{{tag}}", "retrieve_bulkdata", lambda s, c: s.frames.retrieve_bulkdata(c.instance(), c.path["tag"]), Operation("Retrieve bulk data", WADO, _bulkdata_doc, BULK)),  # noqa: E501
)
# fmt: on
