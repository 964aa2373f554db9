"""The JSON schemas of the non-DICOM bodies (components.schemas): the error body, DICOM JSON,
the change feed, rejected imports and the presigned-upload documents."""

from __future__ import annotations

from chalicelib.openapi.parts import UID, UPLOAD_ID, JsonDict, anchored, ref
from chalicelib.services.uploads import ETAG_PATTERN, MAX_FILES, MAX_PARTS

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
    "additionalProperties": ref("schemas", "DicomJsonAttribute"),
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
                    ref("schemas", "DicomJsonDataset"),  # SQ items
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
        "response": ref("schemas", "DicomJsonDataset"),
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
                        "pattern": anchored(ETAG_PATTERN.pattern),
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
