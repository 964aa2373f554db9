"""STOW-RS (PS3.18 10.5): store instances.

Near the limits: a request body reaches the function only below Lambda's 6 MB event payload
(about 4.5 MB of binary once API Gateway base64-encodes it) and API Gateway's 10 MB; larger
requests are answered 413 by the gateway before they get here (``POST /uploads`` takes any
size). The answer is a small DICOM JSON document whatever the request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.config import Settings
from chalicelib.dicomweb.media import APPLICATION_DICOM, DICOM_JSON
from chalicelib.openapi.parts import (
    BINARY,
    STOW,
    JsonDict,
    Operation,
    content,
    multipart,
    ok,
    ref,
    standard,
)
from chalicelib.routes.route import Call, Route
from chalicelib.services.answers import Answer

if TYPE_CHECKING:
    from chalicelib.routes.deps import Deps

STORE_RESPONSE = content(ref("schemas", "DicomJsonDataset"), DICOM_JSON)


def _store_doc(path: str, settings: Settings) -> JsonDict:
    return {
        "requestBody": {
            "required": True,
            "description": "Part 10 instances, one per part (or one instance as "
            "application/dicom, a Microsoft extension); a body over the request limit is 413: "
            "use POST /uploads",
            "content": content(BINARY, multipart(APPLICATION_DICOM), APPLICATION_DICOM),
        },
        "responses": {
            "200": ok("every instance stored", STORE_RESPONSE),
            "202": ok("some stored, some failed (FailedSOPSequence)", STORE_RESPONSE),
            "409": ok("none stored (FailedSOPSequence, a FailureReason each)", STORE_RESPONSE),
            **standard("BadRequest", "PayloadTooLarge", "UnsupportedMediaType"),
        },
    }


def store(s: Deps, c: Call, study: str | None) -> Answer:
    return s.stow.store_instances(c.tenant, c.header("content-type"), c.body, study, c.base_url)


OF_STUDY = "Instances of another study fail with FailureReason 0xA901."

# fmt: off
ROUTES: tuple[Route, ...] = (
    Route("POST", "/studies", "write", "store_instances_route", lambda s, c: store(s, c, None), Operation("Store instances", STOW, _store_doc), writes=True),  # noqa: E501
    Route("POST", "/studies/{study}", "write", "store_instances_in_study", lambda s, c: store(s, c, c.uid("study")), Operation("Store instances of one study", STOW, _store_doc, OF_STUDY), writes=True),  # noqa: E501
)
# fmt: on
