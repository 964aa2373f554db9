"""Timestamps in AWS answers, parsed without dateutil where their format is fixed.

botocore parses every timestamp of an answer (S3's ``Last-Modified`` header on each GetObject
and HeadObject, each ``LastModified`` of a ListObjectsV2 page) with ``dateutil.parser.parse``,
a general-purpose lexer: ~50-250 microseconds a value, a millisecond of CPU in a 1,000-key
listing page. The two formats AWS sends are fixed: HTTP dates (RFC 7231 IMF-fixdate,
``Fri, 04 Dec 2026 22:35:22 GMT``) and ISO 8601 in UTC (``2026-12-04T22:35:22.000Z``). Those
are read here in microseconds, to the same aware datetime (UTC); anything else (epoch numbers,
other zones, obsolete date forms) goes to botocore's own parser, unchanged.

Installed on the clients' session by ``storage.clients`` through botocore's documented hook
(``ResponseParserFactory.set_parser_defaults(timestamp_parser=...)``).
"""

from __future__ import annotations

import datetime
import re
from typing import Any

from botocore.utils import parse_timestamp as botocore_parse_timestamp
from dateutil.tz import tzutc

_UTC = tzutc()
_MONTHS = {
    m: i
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
_HTTP_DATE = re.compile(
    r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), ([0-9]{2}) ([A-Z][a-z]{2}) ([0-9]{4}) "
    r"([0-9]{2}):([0-9]{2}):([0-9]{2}) GMT",
    re.ASCII,
)
_ISO_UTC = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?Z", re.ASCII
)


def fixed_format(value: str) -> datetime.datetime | None:
    """``value`` as an aware datetime (UTC) if it is an HTTP date or ISO 8601 in UTC, else None
    (an impossible date too: botocore's parser says what is wrong with it)."""
    http = _HTTP_DATE.fullmatch(value)
    try:
        if http is not None and http.group(2) in _MONTHS:
            day, month, year, hour, minute, second = http.groups()
            return datetime.datetime(
                int(year),
                _MONTHS[month],
                int(day),
                int(hour),
                int(minute),
                int(second),
                tzinfo=_UTC,
            )
        if _ISO_UTC.fullmatch(value):
            return datetime.datetime.fromisoformat(value[:-1]).replace(tzinfo=_UTC)
    except ValueError:  # a day or an hour out of range
        return None
    return None


def parse_timestamp(value: Any) -> datetime.datetime:
    """A timestamp of an AWS answer as an aware datetime, equal to botocore's parse of it."""
    if isinstance(value, str):
        fixed = fixed_format(value)
        if fixed is not None:
            return fixed
    parsed: datetime.datetime = botocore_parse_timestamp(value)
    return parsed
