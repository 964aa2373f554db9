"""QIDO-RS (PS3.18 10.6): search the catalog with Query/GetItem on designed keys, never Scan."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from chalicelib.dicomweb.dicomjson import element, tag_hex
from chalicelib.dicomweb.matching import split_uid_list, value_matches
from chalicelib.dicomweb.query import Query, vr_of
from chalicelib.dicomweb.resources import SeriesRef, StudyRef
from chalicelib.services.ports import InstanceEntry, JsonDict, SeriesEntry, StudyEntry
from chalicelib.storage.catalog import DynamoCatalog

#: Study-level attributes answered from a designed key (exact values only).
_VALUE_KEYS = ("PatientID", "AccessionNumber", "ModalitiesInStudy")


@dataclass(frozen=True)
class SearchResult:
    matches: list[JsonDict]
    warnings: list[str] = field(default_factory=list)


def _candidates(attrs: JsonDict, keyword: str) -> list[str]:
    values = attrs.get(tag_hex(keyword), {}).get("Value") or []
    out: list[str] = []
    for v in values:
        if isinstance(v, dict):
            out.append(str(v.get("Alphabetic", "")))
        else:
            out.append(str(v))
    return out


def _matches(attrs: JsonDict, query: Query, skip: Sequence[str] = ()) -> bool:
    for keyword, values in query.filters.items():
        if keyword in skip:
            continue
        candidates = _candidates(attrs, keyword)
        for value in values:
            if not value_matches(vr_of(keyword), value, candidates, query.fuzzy, keyword):
                return False
    return True


def _page(items: list[JsonDict], query: Query) -> list[JsonDict]:
    return items[query.offset : query.offset + query.limit]


def _warnings(query: Query) -> list[str]:
    return [f"{name} is not a supported query attribute" for name in query.unknown]


def study_json(study: StudyEntry, base_url: str) -> JsonDict:
    out = dict(study.attrs)
    out[tag_hex("ModalitiesInStudy")] = element("CS", *study.modalities)
    out[tag_hex("NumberOfStudyRelatedSeries")] = element("IS", study.series_count)
    out[tag_hex("NumberOfStudyRelatedInstances")] = element("IS", study.instance_count)
    out[tag_hex("RetrieveURL")] = element("UR", f"{base_url}/studies/{study.ref.study}")
    return out


def series_json(series: SeriesEntry, base_url: str) -> JsonDict:
    ref = series.ref
    out = dict(series.attrs)
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
    out[tag_hex("AvailableTransferSyntaxUID")] = element("UI", instance.transfer_syntax)
    out[tag_hex("RetrieveURL")] = element(
        "UR", f"{base_url}/studies/{ref.study}/series/{ref.series}/instances/{ref.sop}"
    )
    return out


def _sorted(items: list[JsonDict], keyword: str) -> list[JsonDict]:
    def key(item: JsonDict) -> tuple[float, str]:
        values = item.get(tag_hex(keyword), {}).get("Value") or [None]
        try:
            return (float(values[0]), "")
        except (TypeError, ValueError):
            return (float("inf"), str(values[0]))

    return sorted(items, key=key)


def search_for_studies(
    catalog: DynamoCatalog, tenant: str, query: Query, base_url: str
) -> SearchResult:
    fetch = query.offset + query.limit
    uids = query.filters.get("StudyInstanceUID")
    if uids:
        studies = catalog.get_studies(tenant, split_uid_list(uids))
    else:
        keyed = next(
            (
                (k, v)
                for k in _VALUE_KEYS
                if (v := query.value(k)) and "*" not in v and "?" not in v and "\\" not in v
            ),
            None,
        )
        if keyed:
            studies, _ = catalog.studies_by_value(tenant, keyed[0], keyed[1], fetch)
        else:
            studies, _ = catalog.recent_studies(tenant, fetch)
    results = [study_json(s, base_url) for s in studies]
    matched = [r for r in results if _matches(r, query)]
    return SearchResult(_page(matched, query), _warnings(query))


def search_for_series(
    catalog: DynamoCatalog, ref: StudyRef, query: Query, base_url: str
) -> SearchResult:
    results = [series_json(s, base_url) for s in catalog.study_series(ref)]
    matched = _sorted([r for r in results if _matches(r, query)], "SeriesNumber")
    return SearchResult(_page(matched, query), _warnings(query))


def _search_instances(
    entries: Callable[[], list[InstanceEntry]], query: Query, base_url: str
) -> SearchResult:
    results = [instance_json(i, base_url) for i in entries()]
    matched = _sorted([r for r in results if _matches(r, query)], "InstanceNumber")
    return SearchResult(_page(matched, query), _warnings(query))


def search_for_instances_in_series(
    catalog: DynamoCatalog, ref: SeriesRef, query: Query, base_url: str
) -> SearchResult:
    return _search_instances(lambda: catalog.series_instances(ref), query, base_url)


def search_for_instances_in_study(
    catalog: DynamoCatalog, ref: StudyRef, query: Query, base_url: str
) -> SearchResult:
    return _search_instances(lambda: catalog.study_instances(ref), query, base_url)
