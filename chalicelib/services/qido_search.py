"""One QIDO search as the standard defines its outcome: which attributes of the levels searched
are matching keys, which results match, which attributes each result returns, and the page of
them that is answered, with the warnings the client is owed (PS3.18 8.3.4.1, 10.6.1.3).

What it reads is the caller's (``services/qido.py`` reads the catalog); this module only
decides, on DICOM JSON, so a result's shape and matching are the same whatever the resource.

Every page costs a page, whatever the tenant's size: a search reads the candidates its key
yields until the page is full and one more candidate shows there may be more, or until it has
rejected ``MAX_EXAMINED`` items (a filter no key answers: ``InstanceNumber=7``) or
``MAX_CANDIDATES`` index keys (a substring walk), and then stops where it is: the answer says
so, and its next link resumes there (``qido_cursor.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from chalicelib.dicomweb import attributes
from chalicelib.dicomweb.dicomjson import tag_hex
from chalicelib.dicomweb.matching import value_matches
from chalicelib.dicomweb.query import Query, vr_of
from chalicelib.services.ports import JsonDict
from chalicelib.services.qido_streams import Candidate, Position

#: Index keys a search rejects on their value (a substring of an indexed study attribute,
#: matched on the by_value keys, ~100 bytes each) before it stops, in one request.
MAX_CANDIDATES = 20_000
#: Items a search reads and rejects (a filter no key answers) before it stops, in one request:
#: about one largest page's reads.
MAX_EXAMINED = 1_000

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

    def filters(self) -> dict[str, tuple[str, ...]]:
        """The filters that select: matching keys of the levels searched, universal matching
        (an empty value or ``*``) left out."""
        supported = self.supported()
        return {
            k: v
            for k, v in self.query.filters.items()
            if k in supported and any(x not in ("", "*") for x in v)
        }

    def page(self, candidates: Iterable[Candidate], skip: int = 0) -> Page:
        """The matches after ``skip`` of them, at most ``limit``, and where the next page
        starts: after the last match answered when one more candidate shows there may be more,
        after the last candidate examined when the bound stopped the search."""
        q = self.query
        out: list[JsonDict] = []
        skipped = keys = items = 0
        last: Position | None = None
        for candidate in candidates:
            if len(out) >= q.limit:
                return Page(out, last, cut=False)
            last = candidate.position
            if candidate.attrs is not None and self.matches(candidate.attrs):
                if skipped < skip:
                    skipped += 1
                else:
                    out.append(self.shape(candidate.attrs))
                continue
            if candidate.read:
                items += 1
            else:
                keys += 1
            if items >= MAX_EXAMINED or keys >= MAX_CANDIDATES:
                self.examined = items + keys
                return Page(out, last, cut=True)
        return Page(out, None, cut=False)


@dataclass(frozen=True)
class Page:
    """One page of a search: its matches, and the position the next page starts after (None:
    nothing more); ``cut``: the bound on what one request examines stopped it first."""

    matches: list[JsonDict]
    resume: Position | None
    cut: bool


def matching_keys(resource: str) -> list[str]:
    """The matching keys of a QIDO resource (``LEVELS``), sorted: what its search matches on
    (the OpenAPI description lists them as its query parameters)."""
    return sorted(Search(Query(), resource).supported())


def _known(keyword: str) -> bool:
    try:
        tag_hex(keyword)
    except KeyError:
        return False
    return True


def _candidates(attrs: JsonDict, keyword: str) -> list[str]:
    values = attrs.get(tag_hex(keyword), {}).get("Value") or []
    return [str(v.get("Alphabetic", "")) if isinstance(v, dict) else str(v) for v in values]
