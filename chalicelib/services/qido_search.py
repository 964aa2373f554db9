"""One QIDO search as the standard defines its outcome: which attributes of the levels searched
are matching keys, which results match, which attributes each result returns, and the page of
them that is answered, with the warnings the client is owed (PS3.18 8.3.4.1, 10.6.1.3).

What it reads is the caller's (``services/qido.py`` walks the catalog); this module only
decides, on DICOM JSON, so a result's shape and matching are the same whatever the resource.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from chalicelib.dicomweb import attributes
from chalicelib.dicomweb.dicomjson import tag_hex
from chalicelib.dicomweb.matching import value_matches
from chalicelib.dicomweb.query import Query, vr_of
from chalicelib.services.ports import JsonDict

#: How many candidates a query without a selective key examines before it stops with a
#: Warning: enough to answer completely for a tenant of 20,000 studies.
MAX_CANDIDATES = 20_000
#: When the server's cap cut a page, at most this many further matches are counted.
MAX_COUNTED = 10_000

#: The levels each QIDO resource searches, the lowest last (its results are that level's).
LEVELS = {
    "studies": ("STUDY",),
    "study-series": ("SERIES",),
    "series": ("STUDY", "SERIES"),
    "series-instances": ("INSTANCE",),
    "study-instances": ("SERIES", "INSTANCE"),
    "instances": ("STUDY", "SERIES", "INSTANCE"),
}
COMPUTED = {
    "STUDY": attributes.COMPUTED_STUDY,
    "SERIES": attributes.COMPUTED_SERIES,
    "INSTANCE": attributes.COMPUTED_INSTANCE,
}
UIDS = {"STUDY": "StudyInstanceUID", "SERIES": "SeriesInstanceUID", "INSTANCE": "SOPInstanceUID"}


@dataclass(frozen=True)
class SearchResult:
    matches: list[JsonDict]
    warnings: list[str] = field(default_factory=list)


@dataclass
class Search:
    """A query against one resource; collects the warnings while it runs."""

    query: Query
    resource: str
    warnings: list[str] = field(default_factory=list)
    examined: int = 0

    @property
    def levels(self) -> tuple[str, ...]:
        return LEVELS[self.resource]

    def supported(self) -> set[str]:
        """The matching keys of the levels searched."""
        out = {k for level in self.levels for k in attributes.STORED[level]}
        out |= {UIDS[level] for level in self.levels}
        if "STUDY" in self.levels:
            out.add("ModalitiesInStudy")
        return out

    def check(self) -> None:
        """Unknown or unsupported attributes are ignored, with a Warning (PS3.18 8.3.4.1)."""
        supported = self.supported()
        for name in self.query.unknown:
            self.warnings.append(f"{name} is not a known attribute and was ignored")
        for keyword in self.query.filters:
            if keyword not in supported:
                self.warnings.append(f"{keyword} is not supported for matching and was ignored")
        returnable = supported | {k for level in self.levels for k in COMPUTED[level]}
        for keyword in self.query.includefield:
            if keyword not in returnable:
                self.warnings.append(f"{keyword} is not available and was not included")

    def matches(self, attrs: JsonDict) -> bool:
        supported = self.supported()
        for keyword, values in self.query.filters.items():
            if keyword not in supported:
                continue
            candidates = _candidates(attrs, keyword)
            for value in values:
                if not value_matches(vr_of(keyword), value, candidates, self.query.fuzzy, keyword):
                    return False
        return True

    def shape(self, attrs: JsonDict) -> JsonDict:
        """Keep the default attributes of the levels, the included ones, and the computed."""
        q = self.query
        wanted: set[str] = set()
        for level in self.levels:
            wanted |= set(attributes.STORED[level] if q.include_all else attributes.DEFAULT[level])
            wanted |= set(COMPUTED[level])
        wanted |= set(q.includefield) | {UIDS[level] for level in ("STUDY", "SERIES")}
        allowed = {tag_hex(k) for k in wanted if _known(k)}
        return {tag: value for tag, value in attrs.items() if tag in allowed}

    def page(self, results: Iterable[JsonDict], bounded: bool) -> SearchResult:
        """Apply offset and limit; warn when the server's cap (or the bound) cut the answer."""
        q = self.query
        out: list[JsonDict] = []
        stream = iter(results)
        skipped = 0
        for item in stream:
            if skipped < q.offset:
                skipped += 1
                continue
            if len(out) < q.limit:
                out.append(self.shape(item))
                continue
            if q.capped:
                more = 1 + sum(1 for _ in _take(stream, MAX_COUNTED - 1))
                counted = f"{more}" if more < MAX_COUNTED else f"more than {MAX_COUNTED - 1}"
                self.warnings.append(
                    f"There are {counted} additional results that can be requested"
                )
            break
        if bounded and self.examined >= MAX_CANDIDATES:
            self.warnings.append(
                f"The search stopped after examining {MAX_CANDIDATES} candidates; results may "
                "be incomplete: add an exact PatientID, AccessionNumber, UID or a StudyDate range"
            )
        return SearchResult(out, self.warnings)

    def bound(self, found: Iterator[Any], bounded: bool) -> Iterator[Any]:
        """``found`` counted as examined; cut at ``MAX_CANDIDATES`` when ``bounded``."""
        for item in found:
            self.examined += 1
            if bounded and self.examined > MAX_CANDIDATES:
                self.examined = MAX_CANDIDATES
                return
            yield item


def matching_keys(resource: str) -> list[str]:
    """The matching keys of a QIDO resource (``LEVELS``), sorted: what its search matches on
    (the OpenAPI description lists them as its query parameters)."""
    return sorted(Search(Query(), resource).supported())


def _take(it: Iterator[Any], n: int) -> Iterator[Any]:
    for i, item in enumerate(it):
        if i >= n:
            return
        yield item


def _known(keyword: str) -> bool:
    try:
        tag_hex(keyword)
    except KeyError:
        return False
    return True


def _candidates(attrs: JsonDict, keyword: str) -> list[str]:
    values = attrs.get(tag_hex(keyword), {}).get("Value") or []
    return [str(v.get("Alphabetic", "")) if isinstance(v, dict) else str(v) for v in values]
