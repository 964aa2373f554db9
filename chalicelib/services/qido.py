"""QIDO-RS (PS3.18 10.6): the six search resources, answered from the catalog with
Query/GetItem on designed keys (``qido_plan.py``), never Scan, at the cost of the page.

Results come in a stable order (the key's: newest first, value order, or sort-key order within
a study), so pages are disjoint and cover every match. What matches, what a result returns and
where a page ends are decided in ``qido_search.py``; the candidates are read in
``qido_streams.py``. The answer is ``application/dicom+json``, or ``multipart/related`` of
``application/dicom+xml`` parts (one Native DICOM Model document per result), with a
``Warning`` header for what was ignored or cut, and, when there may be more, ``Link: <next>;
rel="next"``: the same search at the next offset with a cursor (``qido_cursor.py``), which
reads on from where this page ended instead of reading past the offset.

An offset without a cursor is read past: on index keys alone when the key answers every
filter (a plain listing, an exact PatientID, a SOPClassUID, a Modality...), otherwise through
the items. Read after write and after DELETE: every catalog item is read consistently; a
series is a result only while its study item exists, an instance only while its series and
study items exist (a series or study DELETE removes those items at once and leaves the
instance items, hidden by its tombstones, for the indexer).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

from chalicelib.dicomweb.dicomxml import to_xml
from chalicelib.dicomweb.media import DICOM_XML
from chalicelib.dicomweb.query import CURSOR, Query
from chalicelib.dicomweb.resources import SeriesRef, StudyRef
from chalicelib.dicomweb.warnings import warning_header
from chalicelib.services import qido_cursor
from chalicelib.services.answers import Body, BodyPart, json_body
from chalicelib.services.qido_plan import Source, plan
from chalicelib.services.qido_reads import QidoCatalog
from chalicelib.services.qido_search import (
    LEVELS,
    MAX_CANDIDATES,
    MAX_EXAMINED,
    Page,
    Search,
    matching_keys,
)
from chalicelib.services.qido_streams import CHUNK, Candidate, Position, Streams

#: ``LEVELS``, ``matching_keys``, ``MAX_CANDIDATES`` and ``MAX_EXAMINED`` are named here, the
#: QIDO service's module, by the routes, the OpenAPI description and docs/conformance.md.
__all__ = ["LEVELS", "MAX_CANDIDATES", "MAX_EXAMINED", "Qido", "SearchRequest", "matching_keys"]


@dataclass(frozen=True)
class SearchRequest:
    """A search as the edge parsed it: the query, whether the client asked for DICOM XML, the
    service's public root (for RetrieveURLs and the next link) and the host named in Warning
    headers."""

    query: Query
    xml: bool
    base_url: str
    host: str


class _Budget:
    """How many more candidates a page can use: the rest of the page and one more when every
    candidate is a result; a whole chunk when a filter may reject them."""

    def __init__(self, wanted: int, filtered: bool) -> None:
        self.wanted, self.filtered, self.seen = wanted, filtered, 0

    def need(self) -> int:
        return CHUNK if self.filtered else max(1, self.wanted - self.seen)

    def counted(self, candidates: Iterator[Candidate]) -> Iterator[Candidate]:
        for candidate in candidates:
            self.seen += 1
            yield candidate


class Qido:
    def __init__(self, catalog: QidoCatalog) -> None:
        self._catalog = catalog

    # --- the six resources ----------------------------------------------------------------

    def search_for_studies(self, tenant: str, req: SearchRequest) -> Body:
        return self._search(tenant, req, "studies")

    def search_for_all_series(self, tenant: str, req: SearchRequest) -> Body:
        return self._search(tenant, req, "series")

    def search_for_all_instances(self, tenant: str, req: SearchRequest) -> Body:
        return self._search(tenant, req, "instances")

    def search_for_series(self, ref: StudyRef, req: SearchRequest) -> Body:
        """The series of one study."""
        return self._search(ref.tenant, req, "study-series", ref)

    def search_for_instances_in_study(self, ref: StudyRef, req: SearchRequest) -> Body:
        return self._search(ref.tenant, req, "study-instances", ref)

    def search_for_instances_in_series(self, ref: SeriesRef, req: SearchRequest) -> Body:
        return self._search(ref.tenant, req, "series-instances", ref)

    # --- one search -------------------------------------------------------------------------

    def _search(
        self,
        tenant: str,
        req: SearchRequest,
        resource: str,
        scope: StudyRef | SeriesRef | None = None,
    ) -> Body:
        s = Search(req.query, resource)
        s.check()
        q, filters = req.query, s.filters()
        source = plan(self._catalog, tenant, q, s.levels, filters) if scope is None else None
        kind = source.kind if source is not None else resource
        uids = _uids(scope)
        fingerprint = qido_cursor.fingerprint(resource, uids, q)
        resume = (
            qido_cursor.decode(q.cursor, fingerprint, q.offset, kind).position if q.cursor else None
        )
        skip = 0 if resume is not None else q.offset
        filtered = not source.served if source is not None else bool(filters)
        budget = _Budget(skip + q.limit + 1, filtered)
        streams = Streams(self._catalog, tenant, req.base_url)
        level = s.levels[-1]
        if source is None:
            assert scope is not None
            candidates = self._partition(streams, scope, level, resume)
        elif source.level == level:
            after = resume[0] if resume is not None else None
            refs = source.read(after, self._page_size(q, skip, source, filters))
            if skip and source.served:  # the offset read past on index keys alone
                refs = itertools.islice(refs, skip, None)
                budget.wanted -= skip
                skip = 0
            candidates = streams.direct(refs, level, budget.need)
        else:
            size = min(CHUNK, skip + q.limit + 1)
            candidates = streams.expanded(source, level, resume, budget.need, size)
        page = s.page(budget.counted(candidates), skip)
        headers = warning_header(req.host, s.warnings + self._warnings(s, page, source))
        if page.resume is not None:
            token = qido_cursor.encode(
                qido_cursor.Cursor(q.offset + len(page.matches), kind, page.resume), fingerprint
            )
            headers["Link"] = (
                f'<{_next_url(req, resource, uids, len(page.matches), token)}>; rel="next"'
            )
        if req.xml:
            parts = [BodyPart(to_xml(match), DICOM_XML) for match in page.matches]
            return Body.of_parts(parts, DICOM_XML, headers=headers)
        return json_body(page.matches, headers=headers)

    @staticmethod
    def _page_size(q: Query, skip: int, source: Source, filters: object) -> int | None:
        """What the source's first Query reads: the page (after the offset) and one more when
        every candidate is a result; a largest page when a filter may reject some; 1 MB of
        keys for a walk (it rejects on the keys)."""
        if source.walk:
            return None
        wanted = skip + q.limit + 1
        return wanted if source.served else min(1000, max(CHUNK, wanted))

    def _partition(
        self, streams: Streams, scope: StudyRef | SeriesRef, level: str, resume: Position | None
    ) -> Iterator[Candidate]:
        """A study's series, a study's or a series' instances: its own partition."""
        after = resume[0] if resume is not None else None
        if level == "SERIES":
            assert isinstance(scope, StudyRef)
            return streams.study_series(scope, after)
        return (Candidate((at,), attrs) for at, attrs in streams.instances(scope, after))

    def _warnings(self, s: Search, page: Page, source: Source | None) -> list[str]:
        q, out = s.query, []
        if page.cut:
            out.append(
                f"The search stopped after examining {s.examined} candidates; results may "
                "continue: follow the Link header's next URL, or add a UID, an exact value or a "
                "date range"
            )
        elif page.resume is not None and q.capped:
            budget = max(q.limit, CHUNK)
            counted = self._count_after(source, page.resume, budget)
            if counted is None:
                out.append("There are additional results that can be requested")
            elif counted > budget:
                out.append(f"There are more than {budget} additional results that can be requested")
            else:
                out.append(f"There are {counted} additional results that can be requested")
        return out

    @staticmethod
    def _count_after(source: Source | None, resume: Position, budget: int) -> int | None:
        """How many results follow the page, counted on index keys (at most ``budget`` + 1)
        when the key answers every filter; None when only reading the items could tell."""
        if source is None or not source.served or len(resume) != 1 or source.walk:
            return None
        return sum(1 for _ in itertools.islice(source.read(resume[0], budget + 1), budget + 1))


def _uids(scope: StudyRef | SeriesRef | None) -> tuple[str, ...]:
    if scope is None:
        return ()
    return (scope.study, scope.series) if isinstance(scope, SeriesRef) else (scope.study,)


PATHS = {
    "studies": "/studies",
    "series": "/series",
    "instances": "/instances",
    "study-series": "/studies/{0}/series",
    "study-instances": "/studies/{0}/instances",
    "series-instances": "/studies/{0}/series/{1}/instances",
}


def _next_url(
    req: SearchRequest, resource: str, uids: Sequence[str], answered: int, token: str
) -> str:
    """The same search, at the next page: the standard's offset, and the cursor."""
    q = req.query
    params: list[tuple[str, str]] = [(k, v) for k, values in q.filters.items() for v in values]
    include = (["all"] if q.include_all else []) + list(q.includefield)
    if include:
        params.append(("includefield", ",".join(include)))
    if q.fuzzy:
        params.append(("fuzzymatching", "true"))
    if not q.capped:
        params.append(("limit", str(q.limit)))
    params += [("offset", str(q.offset + answered)), (CURSOR, token)]
    return f"{req.base_url}{PATHS[resource].format(*uids)}?{urlencode(params)}"
