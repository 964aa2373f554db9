"""QIDO-RS query parameters -> a frozen ``Query`` (PS3.18 8.3.4, 10.6.1)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from chalicelib.dicomweb.dictionary import dictionary_vr, keyword_for_tag, tag_for_keyword
from chalicelib.dicomweb.errors import BadRequest
from chalicelib.dicomweb.matching import validate_value

#: DynamoDB has no offset: an offset is served by reading past it, so it is bounded (a page
#: reached by the ``cursor`` of a previous answer's next link is not: it reads no further).
MAX_OFFSET = 10_000
#: Where the previous page ended (``services/qido_cursor.py``): not a PS3.18 parameter, it comes
#: back from the ``Link: <...>; rel="next"`` of an answer.
CURSOR = "cursor"
MAX_CURSOR = 4096

_TAG = re.compile(r"^[0-9A-Fa-f]{8}\Z")
RESERVED = {"limit", "offset", "includefield", "fuzzymatching", "apikey"}


@dataclass(frozen=True)
class Query:
    filters: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # keyword -> values
    includefield: tuple[str, ...] = ()
    include_all: bool = False
    limit: int = 100
    offset: int = 0
    #: True when the server's cap set the page size (no limit asked, or one above the maximum)
    capped: bool = True
    fuzzy: bool = False
    unknown: tuple[str, ...] = ()  # attributes ignored (reported in a Warning header)
    #: the ``cursor`` of a next link, as given ('' when none)
    cursor: str = ""

    def value(self, keyword: str) -> str | None:
        values = self.filters.get(keyword)
        return values[0] if values else None


def attribute_keyword(name: str) -> str | None:
    """'PatientName' or '00100010' -> 'PatientName'; None for unknown attributes (and for
    '': pydicom's dictionary holds an element whose keyword is empty)."""
    if not name:
        return None
    if _TAG.match(name):
        keyword = keyword_for_tag(int(name, 16))
        return keyword or None
    return name if tag_for_keyword(name) is not None else None


def vr_of(keyword: str) -> str:
    tag = tag_for_keyword(keyword)
    return dictionary_vr(tag) if tag is not None else "UN"


def _int_param(params: Mapping[str, Sequence[str]], name: str, default: int) -> int:
    values = params.get(name)
    if not values:
        return default
    text = values[-1].strip()
    if not re.fullmatch(r"[0-9]{1,9}", text):  # ASCII digits: \d takes any script's
        raise BadRequest(f"{name} must be a non-negative integer", code="InvalidParameter")
    return int(text)


def parse_query(
    params: Mapping[str, Sequence[str]] | None, default_limit: int, max_limit: int
) -> Query:
    """Parse multi-value query parameters (already percent-decoded by the gateway)."""
    params = params or {}
    asked = _int_param(params, "limit", 0)
    limit = asked or default_limit
    offset = _int_param(params, "offset", 0)
    cursor = (params.get(CURSOR) or [""])[-1].strip()
    if len(cursor) > MAX_CURSOR:
        raise BadRequest(f"{CURSOR} is longer than any this service gives", code="InvalidParameter")
    if offset > MAX_OFFSET and not cursor:
        raise BadRequest(
            f"offset must be at most {MAX_OFFSET}: narrow the query, or page by the next links "
            "(Link header) of the answers, which go any depth",
            code="InvalidParameter",
        )
    fuzzy_values = params.get("fuzzymatching") or ["false"]
    fuzzy_text = fuzzy_values[-1].strip().lower()
    if fuzzy_text not in ("true", "false"):
        raise BadRequest("fuzzymatching must be true or false", code="InvalidParameter")
    include: list[str] = []
    include_all = False
    unknown: list[str] = []
    for raw in params.get("includefield", []):
        for name in raw.split(","):
            name = name.strip()
            if not name:
                continue
            if name.lower() == "all":
                include_all = True
                continue
            keyword = attribute_keyword(name)
            if keyword:
                include.append(keyword)
            else:
                unknown.append(name)
    filters: dict[str, tuple[str, ...]] = {}
    for name, values in params.items():
        if name in RESERVED or name == CURSOR:
            continue
        keyword = attribute_keyword(name)
        if keyword is None:
            unknown.append(name)
            continue
        for value in values:
            validate_value(vr_of(keyword), value, name)
        merged = filters.get(keyword, ()) + tuple(values)
        if vr_of(keyword) == "UI" and len(merged) > 1:
            merged = ("\\".join(merged),)  # a repeated UID parameter is one list (OR)
        filters[keyword] = merged
    return Query(
        filters=filters,
        includefield=tuple(dict.fromkeys(include)),
        include_all=include_all,
        limit=min(limit, max_limit),
        offset=offset,
        capped=not asked or asked > max_limit,
        fuzzy=fuzzy_text == "true",
        unknown=tuple(unknown),
        cursor=cursor,
    )
