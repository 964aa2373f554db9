"""Rejected S3-drop imports, listed for their tenant (non-standard): what the indexer moved to
``rejected/{tenant}/{reason}/<name>``, a page at a time."""

from __future__ import annotations

import re

from chalicelib.dicomweb.errors import BadRequest
from chalicelib.dicomweb.media import JSON
from chalicelib.services.answers import Body, json_body
from chalicelib.services.ports import ObjectStore
from chalicelib.storage.keys import rejected_prefix

#: ``startAfter`` is a page's ``next``: an S3 key's tail. S3 keys are at most 1,024 bytes, and
#: S3 echoes StartAfter in its XML listing, so it must be XML 1.0 text (a NUL, a control
#: character or U+FFFE failed as a 5xx; found by the schemathesis run).
XML_TEXT = re.compile("[\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]*")
MAX_KEY_BYTES = 1024
MAX_PAGE = 1000


class RejectedImports:
    def __init__(self, store: ObjectStore) -> None:
        self._store = store

    def list_rejected(self, tenant: str, limit: str | None, start: str | None) -> Body:
        text = "100" if limit is None else limit
        if not re.fullmatch(r"[0-9]{1,9}", text):  # ASCII digits: int() takes any script's
            raise BadRequest("limit must be an integer", code="InvalidParameter")
        size = min(max(int(text), 1), MAX_PAGE)
        prefix = rejected_prefix(tenant)
        if start and (
            not XML_TEXT.fullmatch(start)
            or len((prefix + start).encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES
        ):
            raise BadRequest("startAfter is the next of a previous page", code="InvalidParameter")
        objects, more = self._store.list(prefix, prefix + start if start else None, size)
        items = []
        for obj in objects:
            reason, _, name = obj.key[len(prefix) :].partition("/")
            items.append(
                {
                    "name": name,
                    "failureReason": int(reason, 16),
                    "size": obj.size,
                    "rejectedAt": obj.last_modified,
                }
            )
        return json_body({"rejected": items, "next": more[len(prefix) :] if more else None}, JSON)
