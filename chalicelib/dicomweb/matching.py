"""Attribute matching (PS3.4 C.2.2.2): single value, universal, wildcard, range, UID list,
person names case-insensitively, fuzzy word-prefix matching on person names."""

from __future__ import annotations

import re
from collections.abc import Iterable

from chalicelib.dicomweb.errors import BadRequest

# re.ASCII: \d is 0-9 only, not every script's digits
_DATE = re.compile(r"^\d{8}\Z", re.ASCII)
_TIME = re.compile(r"^\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)?\Z", re.ASCII)
_DATETIME = re.compile(r"^\d{4,14}(\.\d{1,6})?([+-]\d{4})?\Z", re.ASCII)


#: The most wildcards (``*`` and ``?``) one matching value may hold; more is a 400.
MAX_WILDCARDS = 64


def wildcard_match(pattern: str, value: str) -> bool:
    """DICOM wildcards: '*' any run of characters, '?' one character; nothing else special.

    The greedy two-pointer glob: on a mismatch, back up only to the most recent '*' and let it
    absorb one more character. Earlier stars never need revisiting (whatever a later star can
    absorb, it absorbs), so the work is at most len(pattern) * len(value) steps, never the
    exponential backtracking a regular expression with several '.*' can take."""
    p = v = 0
    star = -1  # index in pattern just after the last '*' seen
    mark = 0  # index in value where that star's run currently ends
    while v < len(value):
        if p < len(pattern) and pattern[p] == "*":
            star, mark = p + 1, v
            p += 1
        elif p < len(pattern) and (pattern[p] == "?" or pattern[p] == value[v]):
            p += 1
            v += 1
        elif star >= 0:
            mark += 1
            p, v = star, mark
        else:
            return False
    while p < len(pattern) and pattern[p] == "*":
        p += 1
    return p == len(pattern)


def _check_wildcards(query: str, name: str) -> None:
    if query.count("*") + query.count("?") > MAX_WILDCARDS:
        raise BadRequest(
            f"{name} has more than {MAX_WILDCARDS} wildcards (* and ?)", code="InvalidParameter"
        )


def split_uid_list(values: Iterable[str]) -> list[str]:
    out: list[str] = []
    for value in values:
        out.extend(v.strip() for v in re.split(r"[\\,]", value) if v.strip())
    return out


def _check_range_part(vr: str, part: str, name: str) -> None:
    pattern = {"DA": _DATE, "TM": _TIME, "DT": _DATETIME}[vr]
    if part and not pattern.match(part):
        raise BadRequest(f"{name} has a malformed {vr} value", code="InvalidParameter")


def validate_value(vr: str, query: str, name: str) -> None:
    """400 for a malformed date, time or datetime value or range (PS3.18 8.3.4.1), or for a
    value with more than MAX_WILDCARDS wildcards."""
    _check_wildcards(query, name)
    if vr not in ("DA", "TM", "DT") or query in ("", "*"):
        return
    q = _normalize_time(query) if vr == "TM" else query
    low, dash, high = q.partition("-")
    if dash and not (low or high):
        raise BadRequest(f"{name} has an empty range", code="InvalidParameter")
    for part in (low, high) if dash else (q,):
        _check_range_part(vr, part, name)


def _normalize_time(value: str) -> str:
    return value.replace(":", "")


def value_matches(vr: str, query: str, candidates: list[str], fuzzy: bool, name: str) -> bool:
    """Does any of the element's values match the query value?"""
    if query in ("", "*"):
        return True
    _check_wildcards(query, name)
    if vr in ("DA", "TM", "DT"):
        q = _normalize_time(query) if vr == "TM" else query
        if "-" in q:
            low, _, high = q.partition("-")
            _check_range_part(vr, low, name)
            _check_range_part(vr, high, name)
            for c in candidates:
                c = _normalize_time(c) if vr == "TM" else c
                if (not low or c >= low) and (not high or c[: len(high)] <= high):
                    return True
            return False
        _check_range_part(vr, q, name)
        return any((_normalize_time(c) if vr == "TM" else c).startswith(q) for c in candidates)
    if vr == "UI":
        wanted = set(split_uid_list([query]))
        return any(c in wanted for c in candidates)
    if vr == "PN":
        q = query.upper()
        names = [c.upper() for c in candidates]
        if fuzzy and "*" not in q and "?" not in q:
            words = [w for w in re.split(r"[\^ =]+", q) if w]
            return any(
                all(any(nw.startswith(w) for nw in re.split(r"[\^ =]+", n)) for w in words)
                for n in names
            )
        if "*" in q or "?" in q:
            return any(wildcard_match(q, n) for n in names)
        return any(n.rstrip("^") == q.rstrip("^") for n in names)
    if "*" in query or "?" in query:
        return any(wildcard_match(query, c) for c in candidates)
    return any(c == query for c in candidates)


def normalize_name(name: str) -> str:
    """Person names are matched case-insensitively: upper-case, trailing empty components off
    (how a name is indexed, and how an exact or prefix query value is looked up)."""
    return name.strip().upper().rstrip("^=")


def name_words(name: str) -> list[str]:
    """The words of a person name, for fuzzy matching: every component of every group
    (alphabetic, ideographic, phonetic), upper-case, each once, sorted."""
    words = {w for w in normalize_name(name).replace("=", "^").replace(" ", "^").split("^") if w}
    return sorted(words)
