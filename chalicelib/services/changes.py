"""The change feed (non-standard, as Microsoft's DICOM service has one): every instance
created, replaced or deleted, in order, per tenant (``storage/changefeed.py`` keeps it)."""

from __future__ import annotations

import re

from chalicelib.dicomweb.errors import BadRequest, NotFound
from chalicelib.dicomweb.media import JSON
from chalicelib.services.answers import Body, json_body
from chalicelib.services.ports import FeedReader

MAX_FEED_PAGE = 1000

#: ASCII digits only (``str.isdecimal`` also takes other scripts' digits, as ``int`` does).
SEQUENCE = re.compile(r"[0-9]{1,18}")
LIMIT = re.compile(r"[0-9]{1,4}")


class Changes:
    def __init__(self, feed: FeedReader) -> None:
        self._feed = feed

    def read_changes(self, tenant: str, start: str | None, limit: str | None) -> Body:
        """The changes after sequence number ``start``, at most ``limit`` (1 to 1,000)."""
        # absent: the defaults; present but empty is not a number (400), as before
        start = "0" if start is None else start
        limit = "100" if limit is None else limit
        if (
            not SEQUENCE.fullmatch(start)
            or not LIMIT.fullmatch(limit)
            or not 1 <= int(limit) <= MAX_FEED_PAGE
        ):
            raise BadRequest(
                f"startAfter is a sequence number, limit 1 to {MAX_FEED_PAGE}",
                code="InvalidParameter",
            )
        return json_body(self._feed.read(tenant, int(start), int(limit)), JSON)

    def latest_change(self, tenant: str) -> Body:
        latest = self._feed.latest(tenant)
        if latest is None:
            raise NotFound("no change yet")
        return json_body(latest, JSON)
