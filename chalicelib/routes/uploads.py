"""Presigned uploads for STOW beyond the payload limit (non-standard; see services/uploads)."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.config import Settings
from chalicelib.dicomweb.errors import BadRequest
from chalicelib.dicomweb.media import JSON
from chalicelib.openapi.parts import (
    OTHER,
    JsonDict,
    Operation,
    content,
    json_body,
    ok,
    ref,
    standard,
)
from chalicelib.routes.route import Call, Route, get


def _start_upload_doc(path: str, settings: Settings) -> JsonDict:
    return {
        "requestBody": json_body("UploadRequest"),
        "responses": {
            "201": ok(
                "upload URLs, valid for expiresIn seconds",
                content(ref("schemas", "UploadStarted"), JSON),
                {"Location": {"required": True, "schema": {"type": "string"}}},
            ),
            **standard("BadRequest", "PayloadTooLarge"),
        },
    }


def _upload_status_doc(path: str, settings: Settings) -> JsonDict:
    status = content(ref("schemas", "UploadStatus"), JSON)
    return {
        "responses": {
            "200": ok("every file imported or rejected", status),
            "202": ok("some files pending", status),
            **standard("NotFound"),
        }
    }


def _complete_upload_doc(path: str, settings: Settings) -> JsonDict:
    return {
        "requestBody": json_body("UploadComplete"),
        "responses": {
            "200": ok(
                "the multipart upload is complete",
                content(
                    {
                        "type": "object",
                        "required": ["completed"],
                        "properties": {"completed": {"const": True}},
                    },
                    JSON,
                ),
            ),
            **standard("BadRequest", "NotFound", "PayloadTooLarge"),
        },
    }


def body(c: Call) -> Any:
    try:
        return json.loads(c.body or b"{}")
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest("the body must be JSON", code="InvalidUpload") from exc


UPLOAD = "/uploads/{upload}"
FOR_STOW = "For STOW beyond the request payload limit (README, Large objects)."

# fmt: off
ROUTES: tuple[Route, ...] = (
    Route("POST", "/uploads", "write", "start_upload", lambda s, c: s.uploads.start_upload(c.tenant, body(c), c.base_url), Operation("Start a presigned upload", OTHER, _start_upload_doc, FOR_STOW)),  # noqa: E501
    Route("POST", f"{UPLOAD}/files/{{index}}/complete", "write", "complete_upload_file", lambda s, c: s.uploads.complete_file(c.tenant, c.path["upload"], c.path["index"], body(c)), Operation("Complete a multipart upload", OTHER, _complete_upload_doc)),  # noqa: E501
    get(UPLOAD, "upload_status", lambda s, c: s.uploads.upload_status(c.tenant, c.path["upload"], c.base_url), Operation("Upload status", OTHER, _upload_status_doc)),  # noqa: E501
)
# fmt: on
