"""The shared pieces of the OpenAPI 3.1 description: schemas, parameters, responses and the
``Operation`` a route carries (``routes/route.py``).

Built from the code's own definitions, so it cannot drift from them: UID, frame list and ETag
patterns from ``dicomweb/resources.py``, ``services/frames.py`` and ``services/uploads.py``;
media types from ``dicomweb/media.py``; the API key's places from
``routes/auth.extract_api_key`` and the one JSON error body from ``routes/http.error_body``
(both checked by the unit tests). Each operation's own parameters and responses live beside its
route; ``openapi/document.py`` assembles the document from the route table.

Pure data: no numpy, no Pillow (packaged in the Lambda and built once per container).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib.config import Settings
from chalicelib.dicomweb.media import (
    JSON,
    MULTIPART_RELATED,
)
from chalicelib.dicomweb.resources import FRAME_LIST_PATTERN, MAX_UID_LENGTH, UID_PATTERN

OPENAPI_VERSION = "3.1.0"
PATH = "/openapi.json"
JsonDict = dict[str, Any]

#: API key locations, as ``routes/auth.extract_api_key`` reads them (scheme name -> scheme).
SECURITY_SCHEMES: JsonDict = {
    "apikey": {"type": "apiKey", "in": "header", "name": "apikey"},
    "x-api-key": {"type": "apiKey", "in": "header", "name": "x-api-key"},
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "the API key as a bearer token (OHIF and dicomweb-client send only this)",
    },
    "basic": {
        "type": "http",
        "scheme": "basic",
        "description": "HTTP Basic: any user name (ignored), the API key as the password (PACS "
        "and modalities with a DICOMweb destination, Orthanc's DicomWeb.Servers)",
    },
}

# --- schemas ----------------------------------------------------------------------------------


def ref(kind: str, name: str) -> JsonDict:
    return {"$ref": f"#/components/{kind}/{name}"}


def anchored(pattern: str) -> str:
    return f"^(?:{pattern})$"


UID = {"type": "string", "pattern": anchored(UID_PATTERN.pattern), "maxLength": MAX_UID_LENGTH}
#: Comma-separated frame numbers (from 1: 0 is a 400), as ``services/frames`` parses them.
FRAME_LIST = {
    "type": "string",
    "pattern": anchored(FRAME_LIST_PATTERN.pattern.removeprefix("^").removesuffix("\\Z")),
}
#: A rendered frame is one frame number.
FRAME_NUMBER = {"type": "string", "pattern": r"^[0-9]{1,6}$"}
TAG = {"type": "string", "pattern": "^[0-9A-Fa-f]{8}$"}
UPLOAD_ID = {"type": "string", "pattern": "^[0-9a-f]{24}$"}
INDEX = {"type": "string", "pattern": "^[0-9]{1,5}$"}

NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)"
DATE = r"\d{8}"
TIME = r"\d{2}(?::?\d{2}(?::?\d{2}(?:\.\d{1,6})?)?)?"
DATETIME = r"\d{4,14}(?:\.\d{1,6})?(?:\+\d{4})?"


def range_of(value: str) -> str:
    """A DA, TM or DT matching value as ``matching.validate_value`` accepts it: empty, ``*``,
    a value or an inclusive range with one open end at most (no wildcard)."""
    return anchored(rf"|\*|{value}|{value}-|-{value}|{value}-{value}")


#: Matching values by VR (others: any text, ``*`` and ``?`` are wildcards).
VALUE_BY_VR = {
    "DA": {"type": "string", "pattern": range_of(DATE)},
    "TM": {"type": "string", "pattern": range_of(TIME)},
    "DT": {"type": "string", "pattern": range_of(DATETIME)},
}

PATH_PARAMETERS: dict[str, JsonDict] = {
    "study": {"description": "Study Instance UID", "schema": UID},
    "series": {"description": "Series Instance UID", "schema": UID},
    "instance": {"description": "SOP Instance UID", "schema": UID},
    "frames": {"description": "frame numbers from 1, comma-separated", "schema": FRAME_LIST},
    "tag": {"description": "the bulk data element's tag, 8 hex digits", "schema": TAG},
    "upload": {"description": "the upload id POST /uploads answered", "schema": UPLOAD_ID},
    "index": {"description": "the file's index in the upload, from 0", "schema": INDEX},
}

# --- responses --------------------------------------------------------------------------------

BINARY = {"type": "string", "format": "binary"}
RETRY_AFTER = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "string"}}}
WARNING = {
    "Warning": {
        "description": "299 warnings (PS3.18 8.3.4.1): ignored parameters, a capped page, "
        "an incomplete answer",
        "schema": {"type": "string"},
    }
}


def error(description: str, headers: JsonDict | None = None) -> JsonDict:
    out: JsonDict = {
        "description": description,
        "content": {JSON: {"schema": ref("schemas", "Error")}},
    }
    if headers:
        out["headers"] = headers
    return out


def multipart(part_type: str) -> str:
    return f'{MULTIPART_RELATED}; type="{part_type}"'


RESPONSES: JsonDict = {
    "BadRequest": error(
        "malformed request: a path UID, parameter, frame list, tag, Accept or Content-Type "
        "value (the code and message name it)"
    ),
    "Unauthorized": error("no API key, or an unknown, expired or revoked one"),
    "Forbidden": error("the key lacks the route's scope"),
    "NotFound": error("unknown resource"),
    "NotAcceptable": error("no acceptable representation for the Accept header"),
    "PayloadTooLarge": error("over a request or response size limit (README, Limits)"),
    "UnsupportedMediaType": error("a request Content-Type the operation does not accept"),
    "TooManyRequests": error("the tenant's rate limit", RETRY_AFTER),
    "ServiceUnavailable": error("S3 or DynamoDB throttled or failed transiently", RETRY_AFTER),
    "SeeOther": {
        "description": "the answer is over the response payload limit: a presigned URL to it",
        "headers": {
            "Location": {"required": True, "schema": {"type": "string", "format": "uri"}},
        },
    },
    "NotModified": {"description": "If-None-Match names the current ETag"},
}

# --- operations -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    """What the route table does not say about a route."""

    summary: str
    tag: str
    #: (route path, settings) -> the operation's parameters, request body and responses
    details: Callable[[str, Settings], JsonDict]
    description: str = ""
    #: settings -> reusable parameters this operation refers to (components.parameters)
    parameters: Callable[[Settings], JsonDict] | None = None


def query_param(name: str, schema: JsonDict, description: str, required: bool = False) -> JsonDict:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": schema,
    }


def content(schema: JsonDict, *media_types: str) -> JsonDict:
    return {media_type: {"schema": schema} for media_type in media_types}


def ok(description: str, content: JsonDict, headers: JsonDict | None = None) -> JsonDict:
    out: JsonDict = {"description": description, "content": content}
    if headers:
        out["headers"] = headers
    return out


def standard(*names: str) -> JsonDict:
    codes = {
        "BadRequest": "400",
        "NotFound": "404",
        "NotAcceptable": "406",
        "PayloadTooLarge": "413",
        "UnsupportedMediaType": "415",
        "SeeOther": "303",
        "NotModified": "304",
    }
    return {codes[n]: ref("responses", n) for n in names}


DICOM_JSON_ARRAY = {"type": "array", "items": ref("schemas", "DicomJsonDataset")}


def json_body(name: str) -> JsonDict:
    return {"required": True, "content": content(ref("schemas", name), JSON)}


def digits(maximum: int | None = None, minimum: int = 0) -> JsonDict:
    schema: JsonDict = {"type": "integer", "minimum": minimum}
    if maximum is not None:
        schema["maximum"] = maximum
    return schema


QIDO, STOW, WADO, RENDER, WADO_URI, OTHER = (
    "QIDO-RS",
    "STOW-RS",
    "WADO-RS",
    "Rendered",
    "WADO-URI",
    "Non-standard",
)
TAGS = (STOW, QIDO, WADO, RENDER, WADO_URI, OTHER)
