"""The OpenAPI 3.1 description of the service, served at ``GET /openapi.json``.

Built from the code's own definitions, so it cannot drift from them:

* paths, methods, operation ids and scopes come from the Chalice route table (``app.routes``):
  a route this module does not describe, or a path parameter it has no schema for, fails the
  build (``tests/unit/test_openapi.py`` builds it from the app's routes);
* UID, frame list and ETag patterns from ``dicomweb/resources.py``, ``services/frames.py`` and
  ``services/uploads.py``;
* QIDO parameters from ``dicomweb/query.py`` (the reserved parameters, offset bound) and the
  attributes each resource's levels store (``dicomweb/attributes.py``, ``services/qido.py``),
  typed by VR as ``dicomweb/matching.py`` validates them;
* media types from ``dicomweb/media.py`` and ``dicomweb/rendering.py``;
* the API key's places from ``routes/auth.extract_api_key``, the one JSON error body from
  ``routes/http.error_body`` (both checked by the unit tests; the public routes are
  ``auth.PUBLIC_ROUTES``, whose views carry no scope).

What JSON Schema cannot say is in the descriptions: QIDO accepts any attribute keyword or tag
and ignores unknown ones with a ``Warning`` (PS3.18 8.3.4.1), content negotiation follows the
Accept header (PS3.18 8.7), and a request that fits the schema can still be refused for its
DICOM content (a STOW part that is not Part 10: 409 with a FailureReason).

Pure data: no numpy, no Pillow (this module is packaged in the Lambda and built once per
container).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.config import Settings
from chalicelib.dicomweb.media import (
    APPLICATION_DICOM,
    DICOM_JSON,
    DICOM_XML,
    FRAME_MEDIA_TYPES,
    JSON,
    MULTIPART_RELATED,
    OCTET_STREAM,
    ZIP,
)
from chalicelib.dicomweb.query import MAX_OFFSET, RESERVED, Query, vr_of
from chalicelib.dicomweb.rendering import MAX_VIEWPORT, RENDERED_TYPES, WINDOW_FUNCTIONS
from chalicelib.dicomweb.resources import MAX_UID_LENGTH, UID_PATTERN
from chalicelib.routes.placement import INSTANCE
from chalicelib.services.frames import _FRAME_LIST
from chalicelib.services.uploads import _ETAG, MAX_FILES, MAX_PARTS

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
}

# --- schemas ----------------------------------------------------------------------------------


def _ref(kind: str, name: str) -> JsonDict:
    return {"$ref": f"#/components/{kind}/{name}"}


def _anchored(pattern: str) -> str:
    return f"^(?:{pattern})$"


UID = {"type": "string", "pattern": _anchored(UID_PATTERN.pattern), "maxLength": MAX_UID_LENGTH}
#: Comma-separated frame numbers (from 1: 0 is a 400), as ``services/frames`` parses them.
FRAME_LIST = {
    "type": "string",
    "pattern": _anchored(_FRAME_LIST.pattern.removeprefix("^").removesuffix("\\Z")),
}
#: A rendered frame is one frame number.
FRAME_NUMBER = {"type": "string", "pattern": r"^[0-9]{1,6}$"}
TAG = {"type": "string", "pattern": "^[0-9A-Fa-f]{8}$"}
UPLOAD_ID = {"type": "string", "pattern": "^[0-9a-f]{24}$"}
INDEX = {"type": "string", "pattern": "^[0-9]{1,5}$"}

_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)"
_DATE = r"\d{8}"
_TIME = r"\d{2}(?::?\d{2}(?::?\d{2}(?:\.\d{1,6})?)?)?"
_DATETIME = r"\d{4,14}(?:\.\d{1,6})?(?:\+\d{4})?"


def _range_of(value: str) -> str:
    """A DA, TM or DT matching value as ``matching.validate_value`` accepts it: empty, ``*``,
    a value or an inclusive range with one open end at most (no wildcard)."""
    return _anchored(rf"|\*|{value}|{value}-|-{value}|{value}-{value}")


#: Matching values by VR (others: any text, ``*`` and ``?`` are wildcards).
VALUE_BY_VR = {
    "DA": {"type": "string", "pattern": _range_of(_DATE)},
    "TM": {"type": "string", "pattern": _range_of(_TIME)},
    "DT": {"type": "string", "pattern": _range_of(_DATETIME)},
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

ERROR = {
    "type": "object",
    "description": "the service's one error body (README, Errors)",
    "required": ["error"],
    "additionalProperties": False,
    "properties": {
        "error": {
            "type": "object",
            "required": ["status", "code", "message"],
            "additionalProperties": False,
            "properties": {
                "status": {"type": "integer", "minimum": 400, "maximum": 599},
                "code": {"type": "string", "examples": ["NotFound", "InvalidUID"]},
                "message": {"type": "string"},
            },
        }
    },
}

#: PS3.18 F.2: a DICOM JSON dataset is an object keyed by 8-hex-digit tags.
DICOM_JSON_DATASET = {
    "type": "object",
    "description": "a DICOM JSON dataset (PS3.18 F.2)",
    "propertyNames": {"pattern": "^[0-9A-F]{8}$"},
    "additionalProperties": _ref("schemas", "DicomJsonAttribute"),
}
DICOM_JSON_ATTRIBUTE = {
    "type": "object",
    "required": ["vr"],
    "additionalProperties": False,
    "properties": {
        "vr": {"type": "string", "pattern": "^[A-Z]{2}$"},
        "Value": {
            "type": "array",
            "items": {
                "anyOf": [
                    {"type": ["string", "number", "null"]},
                    _ref("schemas", "DicomJsonDataset"),  # SQ items
                    {  # PN
                        "type": "object",
                        "properties": {
                            "Alphabetic": {"type": "string"},
                            "Ideographic": {"type": "string"},
                            "Phonetic": {"type": "string"},
                        },
                    },
                ]
            },
        },
        "InlineBinary": {"type": "string", "contentEncoding": "base64"},
        "BulkDataURI": {"type": "string"},
    },
}
CHANGE = {
    "type": "object",
    "required": [
        "sequence",
        "timestamp",
        "action",
        "studyInstanceUid",
        "seriesInstanceUid",
        "sopInstanceUid",
    ],
    "properties": {
        "sequence": {"type": "integer", "minimum": 1},
        "timestamp": {"type": "string", "format": "date-time"},
        "action": {"type": "string"},
        "studyInstanceUid": UID,
        "seriesInstanceUid": UID,
        "sopInstanceUid": UID,
    },
}
REJECTED = {
    "type": "object",
    "required": ["rejected", "next"],
    "properties": {
        "rejected": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "failureReason", "size", "rejectedAt"],
                "properties": {
                    "name": {"type": "string"},
                    "failureReason": {"type": "integer", "description": "a FailureReason code"},
                    "size": {"type": "integer", "minimum": 0},
                    "rejectedAt": {"type": "string"},
                },
            },
        },
        "next": {"type": ["string", "null"], "description": "startAfter for the next page"},
    },
}
UPLOAD_REQUEST = {
    "type": "object",
    "required": ["files"],
    "properties": {
        "files": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_FILES,
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "size": {
                        "type": ["integer", "null"],
                        "minimum": 0,
                        "description": "bytes (null or absent: unknown, one PUT); above the "
                        f"multipart threshold the file is uploaded in parts (at most {MAX_PARTS})",
                    },
                },
            },
        }
    },
}
UPLOAD_STARTED = {
    "type": "object",
    "required": ["upload", "status", "expiresIn", "files"],
    "properties": {
        "upload": UPLOAD_ID,
        "status": {"type": "string", "description": "the upload's status URL"},
        "expiresIn": {"type": "integer", "description": "seconds the URLs stay valid"},
        "files": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["index", "name"],
                "properties": {
                    "index": {"type": "integer", "minimum": 0},
                    "name": {"type": "string"},
                    "url": {"type": "string", "description": "a presigned PUT"},
                    "method": {"const": "PUT"},
                    "headers": {"type": "object", "additionalProperties": {"type": "string"}},
                    "multipart": {
                        "type": "object",
                        "required": ["partSize", "parts", "complete"],
                        "properties": {
                            "partSize": {"type": "integer"},
                            "parts": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "required": ["partNumber", "url"],
                                    "properties": {
                                        "partNumber": {"type": "integer", "minimum": 1},
                                        "url": {"type": "string"},
                                    },
                                },
                            },
                            "complete": {"type": "string"},
                        },
                    },
                },
            },
        },
    },
}
UPLOAD_STATUS = {
    "type": "object",
    "required": ["upload", "files", "stored", "failed", "pending", "response"],
    "properties": {
        "upload": UPLOAD_ID,
        "files": {"type": "integer", "minimum": 0},
        "stored": {"type": "integer", "minimum": 0},
        "failed": {"type": "integer", "minimum": 0},
        "pending": {"type": "integer", "minimum": 0},
        "response": _ref("schemas", "DicomJsonDataset"),
    },
}
UPLOAD_COMPLETE = {
    "type": "object",
    "required": ["parts"],
    "properties": {
        "parts": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["partNumber", "etag"],
                "properties": {
                    "partNumber": {"type": "integer", "minimum": 1, "maximum": MAX_PARTS},
                    "etag": {
                        "type": "string",
                        "pattern": _anchored(_ETAG.pattern),
                        "description": "the ETag S3 answered for the part",
                    },
                },
            },
        }
    },
}

SCHEMAS: JsonDict = {
    "Error": ERROR,
    "DicomJsonDataset": DICOM_JSON_DATASET,
    "DicomJsonAttribute": DICOM_JSON_ATTRIBUTE,
    "Change": CHANGE,
    "RejectedImports": REJECTED,
    "UploadRequest": UPLOAD_REQUEST,
    "UploadStarted": UPLOAD_STARTED,
    "UploadStatus": UPLOAD_STATUS,
    "UploadComplete": UPLOAD_COMPLETE,
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


def _error(description: str, headers: JsonDict | None = None) -> JsonDict:
    out: JsonDict = {
        "description": description,
        "content": {JSON: {"schema": _ref("schemas", "Error")}},
    }
    if headers:
        out["headers"] = headers
    return out


def multipart(part_type: str) -> str:
    return f'{MULTIPART_RELATED}; type="{part_type}"'


RESPONSES: JsonDict = {
    "BadRequest": _error(
        "malformed request: a path UID, parameter, frame list, tag, Accept or Content-Type "
        "value (the code and message name it)"
    ),
    "Unauthorized": _error("no API key, or an unknown, expired or revoked one"),
    "Forbidden": _error("the key lacks the route's scope"),
    "NotFound": _error("unknown resource"),
    "NotAcceptable": _error("no acceptable representation for the Accept header"),
    "PayloadTooLarge": _error("over a request or response size limit (README, Limits)"),
    "UnsupportedMediaType": _error("a request Content-Type the operation does not accept"),
    "TooManyRequests": _error("the tenant's rate limit", RETRY_AFTER),
    "ServiceUnavailable": _error("S3 or DynamoDB throttled or failed transiently", RETRY_AFTER),
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


def _query(name: str, schema: JsonDict, description: str, required: bool = False) -> JsonDict:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": schema,
    }


def _content(schema: JsonDict, *media_types: str) -> JsonDict:
    return {media_type: {"schema": schema} for media_type in media_types}


def _ok(description: str, content: JsonDict, headers: JsonDict | None = None) -> JsonDict:
    out: JsonDict = {"description": description, "content": content}
    if headers:
        out["headers"] = headers
    return out


def _standard(*names: str) -> JsonDict:
    codes = {
        "BadRequest": "400",
        "NotFound": "404",
        "NotAcceptable": "406",
        "PayloadTooLarge": "413",
        "UnsupportedMediaType": "415",
        "SeeOther": "303",
        "NotModified": "304",
    }
    return {codes[n]: _ref("responses", n) for n in names}


DICOM_JSON_ARRAY = {"type": "array", "items": _ref("schemas", "DicomJsonDataset")}

#: The QIDO resource (``services/qido.LEVELS``) each search route passes (routes/qido.py).
QIDO_RESOURCES = {
    "/studies": "studies",
    "/series": "series",
    "/instances": "instances",
    "/studies/{study}/series": "study-series",
    "/studies/{study}/instances": "study-instances",
    "/studies/{study}/series/{series}/instances": "series-instances",
}

RESERVED_DESCRIPTIONS = {
    "limit": "page size; 0 or absent: the default ({default}); above {max}: capped, with a Warning",
    "offset": "results to skip",
    "includefield": "attribute keywords or tags (comma-joined or repeated) added to the return "
    "attributes; `all`: every attribute the catalog holds for the levels searched",
    "fuzzymatching": "fuzzy matching of person names",
    "apikey": "ignored (never a matching key; API keys are read from headers only)",
}


def _reserved_parameters(settings: Settings) -> list[JsonDict]:
    schemas: dict[str, JsonDict] = {
        "limit": {"type": "integer", "minimum": 0, "maximum": 999_999_999},
        "offset": {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET},
        "includefield": {"type": "array", "items": {"type": "string"}},
        "fuzzymatching": {"type": "boolean", "default": False},
        "apikey": {"type": "string"},
    }
    text = {
        name: RESERVED_DESCRIPTIONS[name].format(
            default=settings.qido_default_limit, max=settings.qido_max_limit
        )
        for name in RESERVED
    }
    return [_query(name, schemas[name], text[name]) for name in sorted(RESERVED)]


def _matching_keys(resource: str) -> list[str]:
    """The matching keys of a QIDO resource: what ``services/qido`` supports for its levels."""
    from chalicelib.services.qido import _Search

    return sorted(_Search(Query(), resource, "").supported())


def _attribute_parameter(keyword: str) -> JsonDict:
    vr = vr_of(keyword)
    schema = VALUE_BY_VR.get(vr, {"type": "string"})
    return _query(
        keyword,
        schema,
        f"matching key ({vr}); also accepted as its tag in 8 hex digits",
    )


QIDO_DESCRIPTION = (
    "Any attribute keyword or 8-hex-digit tag is a query parameter; the matching keys of the "
    "levels searched are listed. An unknown attribute, or one that is not a matching key here, "
    "is ignored and reported in a `Warning` header (PS3.18 8.3.4.1). Answers "
    "`application/dicom+json` (also for `application/json` and `*/*`) or "
    '`multipart/related; type="application/dicom+xml"`; no match is 200 with `[]`.'
)


def _search(path: str, settings: Settings) -> JsonDict:
    keys = _matching_keys(QIDO_RESOURCES[path])
    return {
        "parameters": [_ref("parameters", name) for name in sorted(RESERVED)]
        + [_ref("parameters", keyword) for keyword in keys],
        "responses": {
            "200": _ok(
                "the matches, one dataset each",
                {
                    **_content(DICOM_JSON_ARRAY, DICOM_JSON),
                    **_content(BINARY, multipart(DICOM_XML)),
                },
                WARNING,
            ),
            **_standard("BadRequest", "NotAcceptable"),
            **(_standard("NotFound") if "{" in path else {}),
        },
    }


def _qido_parameters(settings: Settings) -> JsonDict:
    """Shared by the six search resources: the reserved parameters, then every matching key."""
    keys = sorted({k for resource in QIDO_RESOURCES.values() for k in _matching_keys(resource)})
    reserved = {p["name"]: p for p in _reserved_parameters(settings)}
    return {**reserved, **{k: _attribute_parameter(k) for k in keys}}


STORE_RESPONSE = _content(_ref("schemas", "DicomJsonDataset"), DICOM_JSON)


def _store(path: str, settings: Settings) -> JsonDict:
    return {
        "requestBody": {
            "required": True,
            "description": "Part 10 instances, one per part (or one instance as "
            "application/dicom, a Microsoft extension); a body over the request limit is 413: "
            "use POST /uploads",
            "content": _content(BINARY, multipart(APPLICATION_DICOM), APPLICATION_DICOM),
        },
        "responses": {
            "200": _ok("every instance stored", STORE_RESPONSE),
            "202": _ok("some stored, some failed (FailedSOPSequence)", STORE_RESPONSE),
            "409": _ok("none stored (FailedSOPSequence, a FailureReason each)", STORE_RESPONSE),
            **_standard("BadRequest", "PayloadTooLarge", "UnsupportedMediaType"),
        },
    }


def _retrieve(path: str, settings: Settings) -> JsonDict:
    media = [multipart(APPLICATION_DICOM)]
    if path.endswith("{instance}"):
        media.append(APPLICATION_DICOM)
    else:
        media.append(ZIP)  # Sup 211
    return {
        "responses": {
            "200": _ok(
                "the instances (transfer syntax per the Accept header's transfer-syntax)",
                _content(BINARY, *media),
            ),
            **_standard("SeeOther", "BadRequest", "NotFound", "NotAcceptable"),
        }
    }


def _metadata(path: str, settings: Settings) -> JsonDict:
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
            "200": _ok(
                "one dataset per instance; large values as BulkDataURI",
                {
                    **_content(DICOM_JSON_ARRAY, DICOM_JSON),
                    **_content(BINARY, multipart(DICOM_XML)),
                },
                {
                    "ETag": {"required": True, "schema": {"type": "string"}},
                    "Content-Encoding": {
                        "description": "gzip when Accept-Encoding allows it",
                        "schema": {"type": "string"},
                    },
                },
            ),
            **_standard("SeeOther", "NotModified", "BadRequest", "NotFound", "NotAcceptable"),
        },
    }


def _frames(path: str, settings: Settings) -> JsonDict:
    part_types = sorted({OCTET_STREAM, *FRAME_MEDIA_TYPES.values()})
    return {
        "responses": {
            "200": _ok(
                "one part per frame: uncompressed (octet-stream) or as stored",
                _content(BINARY, *(multipart(t) for t in part_types)),
            ),
            **_standard("SeeOther", "BadRequest", "NotFound", "NotAcceptable"),
        }
    }


def _bulkdata(path: str, settings: Settings) -> JsonDict:
    return {
        "responses": {
            "200": _ok("the element's value", _content(BINARY, multipart(OCTET_STREAM))),
            **_standard("BadRequest", "NotFound", "PayloadTooLarge"),
        }
    }


def _window_pattern() -> str:
    functions = "|".join(WINDOW_FUNCTIONS)
    return _anchored(rf"{_NUMBER},{_NUMBER}(?:,(?:{functions}))?")


RENDER_PARAMETERS = [
    _query(
        "window",
        {"type": "string", "pattern": _window_pattern()},
        "center,width[,function]: width > 0 (at least 1 for linear)",
    ),
    _query(
        "viewport",
        {"type": "string", "pattern": _anchored(rf"{_NUMBER},{_NUMBER}(?:(?:,{_NUMBER}){{4}})?")},
        "vw,vh[,sx,sy,sw,sh]: vw and vh from 1 to 8192; negative sw, sh flip",
    ),
    _query("quality", {"type": "integer", "minimum": 1, "maximum": 100}, "JPEG quality"),
]


def _rendered(path: str, settings: Settings) -> JsonDict:
    out: JsonDict = {
        "parameters": list(RENDER_PARAMETERS),
        "responses": {
            "200": _ok("the rendered image", _content(BINARY, *RENDERED_TYPES)),
            **_standard("SeeOther", "BadRequest", "NotFound", "NotAcceptable"),
        },
    }
    if "{frames}" in path:
        out["parameters"].append(
            {
                "name": "frames",
                "in": "path",
                "required": True,
                "description": "one frame number, from 1",
                "schema": FRAME_NUMBER,
            }
        )
    return out


def _digits(maximum: int | None = None, minimum: int = 0) -> JsonDict:
    schema: JsonDict = {"type": "integer", "minimum": minimum}
    if maximum is not None:
        schema["maximum"] = maximum
    return schema


def _wado_uri(path: str, settings: Settings) -> JsonDict:
    content_types = [APPLICATION_DICOM, *RENDERED_TYPES]
    return {
        "parameters": [
            _query("requestType", {"const": "WADO"}, "WADO", required=True),
            _query("studyUID", UID, "Study Instance UID", required=True),
            _query("seriesUID", UID, "Series Instance UID", required=True),
            _query("objectUID", UID, "SOP Instance UID", required=True),
            _query(
                "contentType",
                {"type": "string", "enum": content_types},
                "image/jpeg by default",
            ),
            _query(
                "transferSyntax",
                UID,
                "with application/dicom: convert to this transfer syntax",
            ),
            _query("frameNumber", _digits(999_999, 1), "the frame to render, from 1"),
            _query("windowCenter", {"type": "number"}, "with windowWidth"),
            _query("windowWidth", {"type": "number", "minimum": 1}, "with windowCenter"),
            _query("rows", _digits(MAX_VIEWPORT, 1), "the image's maximum height"),
            _query("columns", _digits(MAX_VIEWPORT, 1), "the image's maximum width"),
            _query("imageQuality", _digits(100, 1), "JPEG quality"),
        ],
        "responses": {
            "200": _ok("the instance or its rendered image", _content(BINARY, *content_types)),
            **_standard("SeeOther", "BadRequest", "NotFound", "NotAcceptable"),
        },
    }


def _delete(path: str, settings: Settings) -> JsonDict:
    return {
        "responses": {
            "204": {"description": "deleted: no version of it is left in S3"},
            **_standard("BadRequest", "NotFound"),
        }
    }


def _changefeed(path: str, settings: Settings) -> JsonDict:
    from chalicelib.routes.lifecycle import MAX_FEED_PAGE

    return {
        "parameters": [
            _query("startAfter", _digits(), "a sequence number (0: from the start)"),
            _query("limit", _digits(MAX_FEED_PAGE, 1), "page size (default 100)"),
        ],
        "responses": {
            "200": _ok(
                "changes in sequence order",
                _content({"type": "array", "items": _ref("schemas", "Change")}, JSON),
            ),
            **_standard("BadRequest"),
        },
    }


def _changefeed_latest(path: str, settings: Settings) -> JsonDict:
    return {
        "responses": {
            "200": _ok("the last change", _content(_ref("schemas", "Change"), JSON)),
            **_standard("NotFound"),
        }
    }


def _rejected(path: str, settings: Settings) -> JsonDict:
    return {
        "parameters": [
            _query("limit", {"type": "integer"}, "page size, clamped to 1..1000 (default 100)"),
            _query(
                "startAfter",
                {"type": "string", "maxLength": 1024},
                "the `next` of the previous page",
            ),
        ],
        "responses": {
            "200": _ok("one page", _content(_ref("schemas", "RejectedImports"), JSON)),
            **_standard("BadRequest"),
        },
    }


def _json_body(name: str) -> JsonDict:
    return {"required": True, "content": _content(_ref("schemas", name), JSON)}


def _start_upload(path: str, settings: Settings) -> JsonDict:
    return {
        "requestBody": _json_body("UploadRequest"),
        "responses": {
            "201": _ok(
                "upload URLs, valid for expiresIn seconds",
                _content(_ref("schemas", "UploadStarted"), JSON),
                {"Location": {"required": True, "schema": {"type": "string"}}},
            ),
            **_standard("BadRequest", "PayloadTooLarge"),
        },
    }


def _upload_status(path: str, settings: Settings) -> JsonDict:
    status = _content(_ref("schemas", "UploadStatus"), JSON)
    return {
        "responses": {
            "200": _ok("every file imported or rejected", status),
            "202": _ok("some files pending", status),
            **_standard("NotFound"),
        }
    }


def _complete_upload(path: str, settings: Settings) -> JsonDict:
    return {
        "requestBody": _json_body("UploadComplete"),
        "responses": {
            "200": _ok(
                "the multipart upload is complete",
                _content(
                    {
                        "type": "object",
                        "required": ["completed"],
                        "properties": {"completed": {"const": True}},
                    },
                    JSON,
                ),
            ),
            **_standard("BadRequest", "NotFound", "PayloadTooLarge"),
        },
    }


def _description(path: str, settings: Settings) -> JsonDict:
    return {
        "responses": {
            "200": _ok(
                "this document",
                _content({"type": "object", "required": ["openapi", "paths"]}, JSON),
            )
        }
    }


SERIES = "/studies/{study}/series/{series}"
QIDO, STOW, WADO, RENDER, OTHER = "QIDO-RS", "STOW-RS", "WADO-RS", "Rendered", "Non-standard"
_LEVEL_PATHS = {"study": "/studies/{study}", "series": SERIES, "instance": INSTANCE}

OPERATIONS: dict[tuple[str, str], Operation] = {
    ("POST", "/studies"): Operation("Store instances", STOW, _store),
    ("POST", "/studies/{study}"): Operation(
        "Store instances of one study",
        STOW,
        _store,
        "Instances of another study fail with FailureReason 0xA901.",
    ),
    ("GET", "/studies"): Operation("Search for studies", QIDO, _search, QIDO_DESCRIPTION),
    ("GET", "/series"): Operation("Search for series", QIDO, _search, QIDO_DESCRIPTION),
    ("GET", "/instances"): Operation("Search for instances", QIDO, _search, QIDO_DESCRIPTION),
    ("GET", "/studies/{study}/series"): Operation(
        "Search for a study's series", QIDO, _search, QIDO_DESCRIPTION
    ),
    ("GET", "/studies/{study}/instances"): Operation(
        "Search for a study's instances", QIDO, _search, QIDO_DESCRIPTION
    ),
    ("GET", f"{SERIES}/instances"): Operation(
        "Search for a series' instances", QIDO, _search, QIDO_DESCRIPTION
    ),
    ("GET", "/studies/{study}"): Operation(
        "Retrieve a study",
        WADO,
        _retrieve,
        "multipart/related of Part 10 instances, or a zip (Accept: application/zip).",
    ),
    ("GET", SERIES): Operation("Retrieve a series", WADO, _retrieve),
    ("GET", INSTANCE): Operation("Retrieve an instance", WADO, _retrieve),
    ("GET", "/studies/{study}/metadata"): Operation("Study metadata", WADO, _metadata),
    ("GET", f"{SERIES}/metadata"): Operation("Series metadata", WADO, _metadata),
    ("GET", f"{INSTANCE}/metadata"): Operation("Instance metadata", WADO, _metadata),
    ("GET", f"{INSTANCE}/frames/{{frames}}"): Operation("Retrieve frames", WADO, _frames),
    ("GET", f"{INSTANCE}/bulkdata/{{tag}}"): Operation(
        "Retrieve bulk data",
        WADO,
        _bulkdata,
        "The value of a top-level element a BulkDataURI names.",
    ),
    **{
        ("GET", f"{_LEVEL_PATHS[level]}/{kind}"): Operation(
            f"{level.capitalize()} {kind}", RENDER, _rendered
        )
        for level in ("study", "series", "instance")
        for kind in ("rendered", "thumbnail")
    },
    **{
        ("GET", f"{INSTANCE}/frames/{{frames}}/{kind}"): Operation(
            f"Frame {kind}", RENDER, _rendered
        )
        for kind in ("rendered", "thumbnail")
    },
    ("GET", "/wado"): Operation("WADO-URI", "WADO-URI", _wado_uri, "PS3.18 9."),
    ("DELETE", "/studies/{study}"): Operation("Delete a study", OTHER, _delete),
    ("DELETE", SERIES): Operation("Delete a series", OTHER, _delete),
    ("DELETE", INSTANCE): Operation("Delete an instance", OTHER, _delete),
    ("GET", "/changefeed"): Operation(
        "Change feed", OTHER, _changefeed, "Every instance created, replaced or deleted."
    ),
    ("GET", "/changefeed/latest"): Operation("Last change", OTHER, _changefeed_latest),
    ("GET", "/imports/rejected"): Operation("Rejected S3 imports", OTHER, _rejected),
    ("POST", "/uploads"): Operation(
        "Start a presigned upload",
        OTHER,
        _start_upload,
        "For STOW beyond the request payload limit (README, Large objects).",
    ),
    ("GET", "/uploads/{upload}"): Operation("Upload status", OTHER, _upload_status),
    ("POST", "/uploads/{upload}/files/{index}/complete"): Operation(
        "Complete a multipart upload", OTHER, _complete_upload
    ),
    ("GET", PATH): Operation("This OpenAPI description", OTHER, _description),
}

#: Every authenticated operation may answer these.
AUTHENTICATED_RESPONSES = {
    "401": _ref("responses", "Unauthorized"),
    "403": _ref("responses", "Forbidden"),
    "429": _ref("responses", "TooManyRequests"),
    "503": _ref("responses", "ServiceUnavailable"),
}

_PATH_VARIABLE = re.compile(r"\{(\w+)\}")


def _operation(method: str, path: str, entry: Any, settings: Settings) -> JsonDict:
    op = OPERATIONS[(method, path)]
    details = op.details(path, settings)
    declared = {p["name"] for p in details.get("parameters", []) if p.get("in") == "path"}
    path_parameters = [
        {"name": name, "in": "path", "required": True, **PATH_PARAMETERS[name]}
        for name in _PATH_VARIABLE.findall(path)
        if name not in declared
    ]
    scope = getattr(entry.view_function, "dicomweb_scope", None)
    out: JsonDict = {
        "operationId": entry.view_name,
        "summary": op.summary,
        "tags": [op.tag],
    }
    if op.description:
        out["description"] = op.description
    parameters = path_parameters + details.get("parameters", [])
    if parameters:
        out["parameters"] = parameters
    if "requestBody" in details:
        out["requestBody"] = details["requestBody"]
    responses = dict(details["responses"])
    if scope is None:
        out["security"] = []  # public: no API key
    else:
        out["x-scope"] = scope
        out["description"] = f"{op.description} Scope: `{scope}`.".strip()
        responses.update(AUTHENTICATED_RESPONSES)
    out["responses"] = dict(sorted(responses.items()))
    return out


def build(
    routes: Mapping[str, Mapping[str, Any]],
    settings: Settings | None = None,
    server_url: str | None = None,
) -> JsonDict:
    """The OpenAPI document of ``routes`` (a Chalice app's route table)."""
    settings = settings or Settings()
    paths: JsonDict = {}
    for path in sorted(routes):
        paths[path] = {
            method.lower(): _operation(method, path, entry, settings)
            for method, entry in sorted(routes[path].items())
        }
    document: JsonDict = {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Serverless DICOMweb",
            "version": "1",
            "description": "DICOMweb (PS3.18): STOW-RS, QIDO-RS, WADO-RS, rendered resources "
            "and WADO-URI, with the non-standard delete, change feed and upload routes. The "
            "DICOM conformance statement is docs/conformance.md; errors are one JSON body, "
            '`{"error": {"status", "code", "message"}}`. Any route also answers 404 for an '
            "unknown path or method, and 413 for a request body over 10 MB.",
        },
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "responses": RESPONSES,
            "parameters": _qido_parameters(settings),
            "securitySchemes": SECURITY_SCHEMES,
        },
        "security": [{name: []} for name in SECURITY_SCHEMES],
        "tags": [{"name": t} for t in (STOW, QIDO, WADO, RENDER, "WADO-URI", OTHER)],
    }
    if server_url:
        document["servers"] = [{"url": server_url}]
    return document
