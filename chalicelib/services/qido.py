"""QIDO-RS (PS3.18 10.6): the six search resources, answered from the catalog with
Query/GetItem on designed keys (``qido_plan.py``), never Scan.

Results come in a stable order (the key's order: newest study first, value order, or sort-key
order within a study), so pages are disjoint and cover every match. DynamoDB has no offset:
an offset is served by reading past it (bounded by ``query.MAX_OFFSET``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from chalicelib.dicomweb import attributes
from chalicelib.dicomweb.dicomjson import element, tag_hex
from chalicelib.dicomweb.matching import split_uid_list, value_matches
from chalicelib.dicomweb.query import Query, vr_of
from chalicelib.dicomweb.resources import SeriesRef, StudyRef
from chalicelib.services.ports import (
    CatalogReader,
    InstanceEntry,
    JsonDict,
    SeriesEntry,
    StudyEntry,
)
from chalicelib.services.qido_plan import plan_studies

#: How many candidates a query without a selective key examines before it stops with a
#: Warning: enough to answer completely for a tenant of 20,000 studies.
MAX_CANDIDATES = 20_000
#: When the server's cap cut a page, at most this many further matches are counted.
MAX_COUNTED = 10_000

LEVELS = {
    "studies": ("STUDY",),
    "study-series": ("SERIES",),
    "series": ("STUDY", "SERIES"),
    "series-instances": ("INSTANCE",),
    "study-instances": ("SERIES", "INSTANCE"),
    "instances": ("STUDY", "SERIES", "INSTANCE"),
}
_COMPUTED = {
    "STUDY": attributes.COMPUTED_STUDY,
    "SERIES": attributes.COMPUTED_SERIES,
    "INSTANCE": attributes.COMPUTED_INSTANCE,
}
_UIDS = {"STUDY": "StudyInstanceUID", "SERIES": "SeriesInstanceUID", "INSTANCE": "SOPInstanceUID"}


@dataclass(frozen=True)
class SearchResult:
    matches: list[JsonDict]
    warnings: list[str] = field(default_factory=list)


@dataclass
class _Search:
    query: Query
    resource: str
    base_url: str
    warnings: list[str] = field(default_factory=list)
    examined: int = 0

    @property
    def levels(self) -> tuple[str, ...]:
        return LEVELS[self.resource]

    def supported(self) -> set[str]:
        out = {k for level in self.levels for k in attributes.STORED[level]}
        out |= {_UIDS[level] for level in self.levels}
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
        returnable = supported | {k for level in self.levels for k in _COMPUTED[level]}
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
            wanted |= set(_COMPUTED[level])
        wanted |= set(q.includefield) | {_UIDS[level] for level in ("STUDY", "SERIES")}
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
        for item in found:
            self.examined += 1
            if bounded and self.examined > MAX_CANDIDATES:
                self.examined = MAX_CANDIDATES
                return
            yield item


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


# --- DICOM JSON of catalog entries --------------------------------------------------------


def study_json(study: StudyEntry, base_url: str) -> JsonDict:
    out = dict(study.attrs)
    out[tag_hex("StudyInstanceUID")] = element("UI", study.ref.study)
    out[tag_hex("ModalitiesInStudy")] = element("CS", *study.modalities)
    out[tag_hex("NumberOfStudyRelatedSeries")] = element("IS", study.series_count)
    out[tag_hex("NumberOfStudyRelatedInstances")] = element("IS", study.instance_count)
    out[tag_hex("RetrieveURL")] = element("UR", f"{base_url}/studies/{study.ref.study}")
    return out


def series_json(series: SeriesEntry, base_url: str) -> JsonDict:
    ref = series.ref
    out = dict(series.attrs)
    out[tag_hex("StudyInstanceUID")] = element("UI", ref.study)
    out[tag_hex("SeriesInstanceUID")] = element("UI", ref.series)
    out[tag_hex("NumberOfSeriesRelatedInstances")] = element("IS", series.instance_count)
    out[tag_hex("RetrieveURL")] = element(
        "UR", f"{base_url}/studies/{ref.study}/series/{ref.series}"
    )
    return out


def instance_json(instance: InstanceEntry, base_url: str) -> JsonDict:
    ref = instance.ref
    out = dict(instance.attrs)
    out[tag_hex("StudyInstanceUID")] = element("UI", ref.study)
    out[tag_hex("SeriesInstanceUID")] = element("UI", ref.series)
    out[tag_hex("SOPInstanceUID")] = element("UI", ref.sop)
    out[tag_hex("AvailableTransferSyntaxUID")] = element("UI", instance.transfer_syntax)
    out[tag_hex("RetrieveURL")] = element(
        "UR", f"{base_url}/studies/{ref.study}/series/{ref.series}/instances/{ref.sop}"
    )
    return out


# --- the six resources --------------------------------------------------------------------


def _studies(catalog: CatalogReader, s: _Search, tenant: str) -> tuple[Iterator[JsonDict], bool]:
    """Matching-candidate studies in the source's order, read in BatchGetItem chunks no larger
    than what the page still needs (so reading one more result to know there is more costs one
    item, not a chunk)."""
    source = plan_studies(catalog, tenant, s.query, s.levels[-1])
    wanted = s.query.offset + s.query.limit + 1
    refs = s.bound(source.studies, source.bounded)

    def gen() -> Iterator[JsonDict]:
        produced = 0
        while True:
            # a walk filtered in memory may reject many: read full chunks there
            walk = source.bounded and bool(s.query.filters)
            size = 100 if walk else min(100, max(1, wanted - produced))
            chunk = list(itertools.islice(refs, size))
            if not chunk:
                return
            for study in catalog.get_studies(chunk):
                produced += 1
                yield study_json(study, s.base_url)

    return gen(), source.bounded


def search_for_studies(
    catalog: CatalogReader, tenant: str, query: Query, base_url: str
) -> SearchResult:
    s = _Search(query, "studies", base_url)
    s.check()
    studies, bounded = _studies(catalog, s, tenant)
    return s.page((r for r in studies if s.matches(r)), bounded)


def search_for_series(
    catalog: CatalogReader, ref: StudyRef, query: Query, base_url: str
) -> SearchResult:
    s = _Search(query, "study-series", base_url)
    s.check()
    items = (series_json(e, base_url) for e in catalog.iter_series(ref))
    return s.page((r for r in items if s.matches(r)), False)


def search_for_all_series(
    catalog: CatalogReader, tenant: str, query: Query, base_url: str
) -> SearchResult:
    s = _Search(query, "series", base_url)
    s.check()
    uids = query.filters.get("SeriesInstanceUID")
    if uids and any(v not in ("", "*") for v in uids):
        results = _series_by_uid(catalog, tenant, split_uid_list(uids), base_url)
        return s.page((r for r in results if s.matches(r)), False)
    studies, bounded = _studies(catalog, s, tenant)

    def gen() -> Iterator[JsonDict]:
        for study in studies:
            ref = _study_ref(tenant, study)
            for series in catalog.iter_series(ref):
                yield study | series_json(series, base_url)

    return s.page((r for r in gen() if s.matches(r)), bounded)


def _study_ref(tenant: str, study: JsonDict) -> StudyRef:
    return StudyRef(tenant, study[tag_hex("StudyInstanceUID")]["Value"][0])


def _parents(
    catalog: CatalogReader, refs: Iterable[StudyRef], base_url: str
) -> dict[StudyRef, JsonDict]:
    """Study JSON of these studies (one BatchGetItem)."""
    wanted = sorted(set(refs), key=lambda r: r.study)
    return {e.ref: study_json(e, base_url) for e in catalog.get_studies(wanted)}


def _series_by_uid(
    catalog: CatalogReader, tenant: str, uids: list[str], base_url: str
) -> Iterator[JsonDict]:
    found = catalog.get_series_many([r for uid in uids for r in catalog.find_series(tenant, uid)])
    studies = _parents(catalog, (e.ref.study_ref for e in found), base_url)
    for series in found:
        yield studies.get(series.ref.study_ref, {}) | series_json(series, base_url)


def search_for_instances_in_series(
    catalog: CatalogReader, ref: SeriesRef, query: Query, base_url: str
) -> SearchResult:
    s = _Search(query, "series-instances", base_url)
    s.check()
    items = (instance_json(e, base_url) for e in catalog.iter_instances(ref))
    return s.page((r for r in items if s.matches(r)), False)


def search_for_instances_in_study(
    catalog: CatalogReader, ref: StudyRef, query: Query, base_url: str
) -> SearchResult:
    s = _Search(query, "study-instances", base_url)
    s.check()
    series = {e.ref.series: series_json(e, base_url) for e in catalog.iter_series(ref)}

    def gen() -> Iterator[JsonDict]:
        for instance in catalog.iter_instances(ref):
            parent = series.get(instance.ref.series, {})
            yield parent | instance_json(instance, base_url)

    return s.page((r for r in gen() if s.matches(r)), False)


def search_for_all_instances(
    catalog: CatalogReader, tenant: str, query: Query, base_url: str
) -> SearchResult:
    s = _Search(query, "instances", base_url)
    s.check()
    sops = query.filters.get("SOPInstanceUID")
    if sops and any(v not in ("", "*") for v in sops):
        found = [r for uid in split_uid_list(sops) for r in catalog.find_instances(tenant, uid)]
        instances = catalog.get_instances(found)
        with_parents = _with_parents(catalog, instances, base_url)
        return s.page((r for r in with_parents if s.matches(r)), False)
    series_uids = query.filters.get("SeriesInstanceUID")
    if series_uids and any(v not in ("", "*") for v in series_uids):
        refs = [
            e.ref
            for e in catalog.get_series_many(
                [r for uid in split_uid_list(series_uids) for r in catalog.find_series(tenant, uid)]
            )
        ]
        gen: Iterator[JsonDict] = (
            r
            for ref in refs
            for r in _with_parents(catalog, list(catalog.iter_instances(ref)), base_url)
        )
        return s.page((r for r in gen if s.matches(r)), False)
    studies, bounded = _studies(catalog, s, tenant)

    def all_instances() -> Iterator[JsonDict]:
        for study in studies:
            ref = _study_ref(tenant, study)
            series = {e.ref.series: series_json(e, base_url) for e in catalog.iter_series(ref)}
            for instance in catalog.iter_instances(ref):
                parent = series.get(instance.ref.series, {})
                yield study | parent | instance_json(instance, base_url)

    return s.page((r for r in all_instances() if s.matches(r)), bounded)


def _with_parents(
    catalog: CatalogReader, instances: list[InstanceEntry], base_url: str
) -> Iterator[JsonDict]:
    """Instances with their series' and study's attributes (one BatchGetItem for each)."""
    studies = _parents(catalog, (i.ref.study_ref for i in instances), base_url)
    wanted = sorted({i.ref.series_ref for i in instances}, key=lambda r: (r.study, r.series))
    series = {e.ref: series_json(e, base_url) for e in catalog.get_series_many(wanted)}
    for instance in instances:
        parent = series.get(instance.ref.series_ref, {})
        yield studies.get(instance.ref.study_ref, {}) | parent | instance_json(instance, base_url)
