"""How a QIDO query reaches the catalog: the designed key that yields its candidate studies.

Every query is answered by GetItem, BatchGetItem or Query on a designed key (never Scan), in
this order of preference:

1. StudyInstanceUID (a list): the study items themselves;
2. an exact value of an indexed attribute (PatientID, AccessionNumber, StudyDescription,
   PatientName case-insensitively, ModalitiesInStudy; Modality at series or instance level):
   ``begins_with(value#)`` in that attribute's value partition;
3. StudyDate (a date or a range, open ends allowed): the date index, newest first;
4. a prefix (``SMITH*``) of an indexed attribute, or a fuzzy person name (word prefix):
   ``begins_with(prefix)``;
5. any other wildcard on an indexed attribute, e.g. OHIF's ``*smith*``: no key can serve a
   substring, so the attribute's value partition (index keys only, about 100 bytes a study)
   is walked and matched in memory, bounded by ``max_candidates``;
6. otherwise the tenant's studies newest first, bounded the same way.

Every other filter is applied in memory to the items read (``matching.py``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from chalicelib.dicomweb.attributes import VALUE_INDEXED
from chalicelib.dicomweb.matching import normalize_name, split_uid_list, value_matches
from chalicelib.dicomweb.query import Query
from chalicelib.dicomweb.resources import StudyRef
from chalicelib.services.ports import CatalogReader

_STUDY_KEYED = (*VALUE_INDEXED, "ModalitiesInStudy")


@dataclass
class Source:
    """Candidate studies, in a stable order, and how they were found."""

    studies: Iterator[StudyRef]
    kind: str  # uids | exact | date | prefix | walk | all
    bounded: bool  # True when the source reads without a selective key (examined is capped)


def _is_plain(value: str) -> bool:
    return "*" not in value and "?" not in value and "\\" not in value


def _prefix_of(value: str) -> str | None:
    """'SMITH*' -> 'SMITH'; None for any other wildcard use."""
    if value.endswith("*") and _is_plain(value[:-1]) and value[:-1]:
        return value[:-1]
    return None


def _study_filters(query: Query, level: str) -> dict[str, str]:
    """Single-valued study-level key candidates; Modality stands for ModalitiesInStudy below
    the study level."""
    out: dict[str, str] = {}
    for keyword in _STUDY_KEYED:
        values = query.filters.get(keyword)
        if values and len(values) == 1 and values[0] not in ("", "*"):
            out[keyword] = values[0]
    modality = query.filters.get("Modality")
    if level != "STUDY" and modality and len(modality) == 1 and _is_plain(modality[0]):
        out.setdefault("ModalitiesInStudy", modality[0])
    return out


def _index_value(keyword: str, value: str) -> str:
    return normalize_name(value) if keyword == "PatientName" else value


def _date_range(value: str) -> tuple[str | None, str | None]:
    """A DA value or range as its (low, high) ends; None for an open end."""
    low, dash, high = value.partition("-")
    if not dash:
        low = high = value
    return low or None, high or None


def plan_studies(catalog: CatalogReader, tenant: str, query: Query, level: str) -> Source:
    """The cheapest designed key that yields every study the query can match."""
    page = query.offset + query.limit + 1
    uids = query.filters.get("StudyInstanceUID")
    if uids and any(v not in ("", "*") for v in uids):
        wanted = [StudyRef(tenant, u) for u in split_uid_list(uids)]
        return Source(iter(wanted), "uids", bounded=False)

    filters = _study_filters(query, level)
    for keyword, value in filters.items():
        if _is_plain(value) and not (keyword == "PatientName" and query.fuzzy):
            entries = catalog.studies_with_value(
                tenant, keyword, _index_value(keyword, value), exact=True, page_size=page
            )
            return Source((ref for _, ref in entries), "exact", bounded=False)

    dates = query.filters.get("StudyDate")
    if dates and len(dates) == 1 and dates[0] not in ("", "*"):
        low, high = _date_range(dates[0])
        found = catalog.studies_by_date(tenant, low, high, page_size=page)
        return Source(found, "date", bounded=False)

    for keyword, value in filters.items():
        if keyword == "PatientName" and query.fuzzy and _is_plain(value):
            words = [w for w in re.split(r"[\^ =]+", value.upper()) if w]
            if words:
                longest = max(words, key=len)
                entries = catalog.studies_with_value(
                    tenant, "PatientNameWord", longest, exact=False
                )
                return Source(_unique(ref for _, ref in entries), "prefix", bounded=False)
        start = _prefix_of(value)
        if start is not None:
            entries = catalog.studies_with_value(
                tenant, keyword, _index_value(keyword, start), exact=False, page_size=page
            )
            return Source((ref for _, ref in entries), "prefix", bounded=False)

    for keyword, value in filters.items():
        if keyword in VALUE_INDEXED:
            pattern = _index_value(keyword, value)
            vr = "PN" if keyword == "PatientName" else "LO"
            walked = (
                ref
                for v, ref in catalog.studies_with_value(tenant, keyword, "", exact=False)
                if value_matches(vr, pattern, [v], query.fuzzy, keyword)
            )
            return Source(walked, "walk", bounded=True)

    # Nothing selective. Without other filters every key read is a result: read just a page.
    size = page if not query.filters else None
    return Source(catalog.studies_by_date(tenant, page_size=size), "all", bounded=True)


def _unique(found: Iterator[StudyRef]) -> Iterator[StudyRef]:
    seen: set[StudyRef] = set()
    for ref in found:
        if ref not in seen:
            seen.add(ref)
            yield ref
