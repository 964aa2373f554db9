"""QIDO-RS (PS3.18 10.6): the six search resources, answered from the catalog with
Query/GetItem on designed keys (``qido_plan.py``), never Scan.

Results come in a stable order (the key's order: newest study first, value order, or sort-key
order within a study), so pages are disjoint and cover every match. DynamoDB has no offset:
an offset is served by reading past it (bounded by ``query.MAX_OFFSET``). What matches, what a
result returns and the page answered are decided in ``qido_search.py``; the answer is
``application/dicom+json``, or ``multipart/related`` of ``application/dicom+xml`` parts (one
Native DICOM Model document per result), with a ``Warning`` header for what was ignored or cut.

Read after write and after DELETE: every catalog item is read consistently, and the rule is
that a series is a result only while its study item exists, an instance only while its series
and study items exist (a series or study DELETE removes those items at once and leaves the
instance items for the indexer). The paths that read parents anyway check it here; the others
read instances from the catalog, which leaves out what a DELETE left behind (its tombstones).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from chalicelib.dicomweb.dicomjson import tag_hex
from chalicelib.dicomweb.dicomxml import to_xml
from chalicelib.dicomweb.matching import split_uid_list
from chalicelib.dicomweb.media import DICOM_XML
from chalicelib.dicomweb.query import Query
from chalicelib.dicomweb.resources import SeriesRef, StudyRef
from chalicelib.dicomweb.warnings import warning_header
from chalicelib.services.answers import Body, BodyPart, json_body
from chalicelib.services.catalog_json import instance_json, series_json, study_json
from chalicelib.services.ports import CatalogReader, InstanceEntry, JsonDict
from chalicelib.services.qido_plan import plan_studies
from chalicelib.services.qido_search import (
    LEVELS,
    MAX_CANDIDATES,
    Search,
    SearchResult,
    matching_keys,
)

#: ``LEVELS``, ``matching_keys`` and ``MAX_CANDIDATES`` are named here, the QIDO service's
#: module, by the routes, the OpenAPI description and docs/conformance.md.
__all__ = ["LEVELS", "MAX_CANDIDATES", "Qido", "SearchRequest", "matching_keys"]

#: Studies read per BatchGetItem when a walk filters them in memory (the most one call reads).
STUDY_CHUNK = 100


@dataclass(frozen=True)
class SearchRequest:
    """A search as the edge parsed it: the query, whether the client asked for DICOM XML, the
    service's public root (for RetrieveURLs) and the host named in Warning headers."""

    query: Query
    xml: bool
    base_url: str
    host: str


def _answer(result: SearchResult, req: SearchRequest) -> Body:
    headers = warning_header(req.host, result.warnings)
    if req.xml:
        parts = [BodyPart(to_xml(match), DICOM_XML) for match in result.matches]
        return Body.of_parts(parts, DICOM_XML, headers=headers)
    return json_body(result.matches, headers=headers)


def _matching(s: Search, results: Iterable[JsonDict]) -> Iterator[JsonDict]:
    return (r for r in results if s.matches(r))


def _wanted(values: Sequence[str] | None) -> bool:
    """A UID filter that names UIDs (not universal matching)."""
    return bool(values) and any(v not in ("", "*") for v in values or ())


def _study_ref(tenant: str, study: JsonDict) -> StudyRef:
    return StudyRef(tenant, study[tag_hex("StudyInstanceUID")]["Value"][0])


class Qido:
    def __init__(self, catalog: CatalogReader) -> None:
        self._catalog = catalog

    # --- the six resources ----------------------------------------------------------------

    def search_for_studies(self, tenant: str, req: SearchRequest) -> Body:
        s = _started(req, "studies")
        studies, bounded = self._studies(s, tenant, req.base_url)
        return _answer(s.page(_matching(s, studies), bounded), req)

    def search_for_series(self, ref: StudyRef, req: SearchRequest) -> Body:
        """The series of one study."""
        s = _started(req, "study-series")
        items = (series_json(e, req.base_url) for e in self._catalog.iter_series(ref))
        return _answer(s.page(_matching(s, items), False), req)

    def search_for_all_series(self, tenant: str, req: SearchRequest) -> Body:
        s = _started(req, "series")
        uids = req.query.filters.get("SeriesInstanceUID")
        if _wanted(uids):
            found = self._series_by_uid(tenant, split_uid_list(uids or []), req.base_url)
            return _answer(s.page(_matching(s, found), False), req)
        studies, bounded = self._studies(s, tenant, req.base_url)

        def gen() -> Iterator[JsonDict]:
            for study in studies:
                for series in self._catalog.iter_series(_study_ref(tenant, study)):
                    yield study | series_json(series, req.base_url)

        return _answer(s.page(_matching(s, gen()), bounded), req)

    def search_for_instances_in_series(self, ref: SeriesRef, req: SearchRequest) -> Body:
        s = _started(req, "series-instances")
        items = (instance_json(e, req.base_url) for e in self._catalog.iter_instances(ref))
        return _answer(s.page(_matching(s, items), False), req)

    def search_for_instances_in_study(self, ref: StudyRef, req: SearchRequest) -> Body:
        s = _started(req, "study-instances")
        base_url = req.base_url
        series = {e.ref.series: series_json(e, base_url) for e in self._catalog.iter_series(ref)}

        def gen() -> Iterator[JsonDict]:
            for instance in self._catalog.iter_instances(ref):
                if (parent := series.get(instance.ref.series)) is not None:
                    yield parent | instance_json(instance, base_url)

        return _answer(s.page(_matching(s, gen()), False), req)

    def search_for_all_instances(self, tenant: str, req: SearchRequest) -> Body:
        s = _started(req, "instances")
        catalog, base_url, filters = self._catalog, req.base_url, req.query.filters
        sops = filters.get("SOPInstanceUID")
        if _wanted(sops):
            found = [
                r for uid in split_uid_list(sops or []) for r in catalog.find_instances(tenant, uid)
            ]
            with_parents = self._with_parents(catalog.get_instances(found), base_url)
            return _answer(s.page(_matching(s, with_parents), False), req)
        series_uids = filters.get("SeriesInstanceUID")
        if _wanted(series_uids):
            wanted = [
                r
                for uid in split_uid_list(series_uids or [])
                for r in catalog.find_series(tenant, uid)
            ]
            refs = [e.ref for e in catalog.get_series_many(wanted)]
            gen: Iterator[JsonDict] = (
                r
                for ref in refs
                for r in self._with_parents(list(catalog.iter_instances(ref)), base_url)
            )
            return _answer(s.page(_matching(s, gen), False), req)
        studies, bounded = self._studies(s, tenant, base_url)

        def all_instances() -> Iterator[JsonDict]:
            for study in studies:
                ref = _study_ref(tenant, study)
                series = {e.ref.series: series_json(e, base_url) for e in catalog.iter_series(ref)}
                for instance in catalog.iter_instances(ref):
                    if (parent := series.get(instance.ref.series)) is not None:
                        yield study | parent | instance_json(instance, base_url)

        return _answer(s.page(_matching(s, all_instances()), bounded), req)

    # --- reading the catalog ----------------------------------------------------------------

    def _studies(self, s: Search, tenant: str, base_url: str) -> tuple[Iterator[JsonDict], bool]:
        """Matching-candidate studies in the source's order, read in BatchGetItem chunks no
        larger than what the page still needs (so reading one more result to know there is
        more costs one item, not a chunk)."""
        source = plan_studies(self._catalog, tenant, s.query, s.levels[-1])
        wanted = s.query.offset + s.query.limit + 1
        refs = s.bound(source.studies, source.bounded)

        def gen() -> Iterator[JsonDict]:
            produced = 0
            while True:
                # a walk filtered in memory may reject many: read full chunks there
                walk = source.bounded and bool(s.query.filters)
                size = STUDY_CHUNK if walk else min(STUDY_CHUNK, max(1, wanted - produced))
                chunk = list(itertools.islice(refs, size))
                if not chunk:
                    return
                for study in self._catalog.get_studies(chunk):
                    produced += 1
                    yield study_json(study, base_url)

        return gen(), source.bounded

    def _parents(self, refs: Iterable[StudyRef], base_url: str) -> dict[StudyRef, JsonDict]:
        """Study JSON of these studies (one BatchGetItem)."""
        wanted = sorted(set(refs), key=lambda r: r.study)
        return {e.ref: study_json(e, base_url) for e in self._catalog.get_studies(wanted)}

    def _series_by_uid(self, tenant: str, uids: list[str], base_url: str) -> Iterator[JsonDict]:
        catalog = self._catalog
        found = catalog.get_series_many(
            [r for uid in uids for r in catalog.find_series(tenant, uid)]
        )
        studies = self._parents((e.ref.study_ref for e in found), base_url)
        for series in found:
            if (study := studies.get(series.ref.study_ref)) is not None:
                yield study | series_json(series, base_url)

    def _with_parents(self, instances: list[InstanceEntry], base_url: str) -> Iterator[JsonDict]:
        """Instances with their series' and study's attributes (one BatchGetItem for each);
        an instance whose series or study item is gone (deleted) is not one."""
        studies = self._parents((i.ref.study_ref for i in instances), base_url)
        wanted = sorted({i.ref.series_ref for i in instances}, key=lambda r: (r.study, r.series))
        series = {e.ref: series_json(e, base_url) for e in self._catalog.get_series_many(wanted)}
        for instance in instances:
            study = studies.get(instance.ref.study_ref)
            parent = series.get(instance.ref.series_ref)
            if study is not None and parent is not None:
                yield study | parent | instance_json(instance, base_url)


def _started(req: SearchRequest, resource: str) -> Search:
    """A search of ``resource``, its query's unknown and unsupported keys already warned of."""
    s = Search(req.query, resource)
    s.check()
    return s
