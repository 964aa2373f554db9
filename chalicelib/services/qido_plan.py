"""How a QIDO query reaches the catalog: the designed key that yields its candidates.

Every query is answered by GetItem, BatchGetItem or Query on a designed key (never Scan). The
key is chosen among those of the levels the resource searches, in this order of preference:

1. a UID (a list): SOPInstanceUID, then SeriesInstanceUID (the by_uid index), then
   StudyInstanceUID (the study items themselves);
2. an exact value of an indexed study attribute (PatientID, AccessionNumber, StudyDescription,
   PatientName case-insensitively, ModalitiesInStudy): ``begins_with(value#)`` in that
   attribute's by_value partition;
3. below the study level: SOPClassUID (instances of one class), Modality (series of one
   modality, within a SeriesDate range if one is given), a SeriesDate range: the tenant's
   series or instances newest first (by_attr, by_list: ``catalog_resume.py``);
4. StudyDate (a date or a range, open ends allowed): the date index, newest first;
5. a prefix (``SMITH*``) of an indexed study attribute, or a fuzzy person name (word prefix);
6. any other wildcard on an indexed study attribute, e.g. OHIF's ``*smith*``: no key can serve
   a substring, so the attribute's by_value partition (keys only, ~100 bytes a study) is walked
   and matched on the key's value;
7. otherwise the tenant's studies, series or instances (the resource's level), newest first.

A source yields (position, reference) in a stable order (a reference None: a candidate the key
itself rejected); a candidate of a higher level than the resource's is expanded (its series or
instances) by ``qido_streams.py``. Every filter is also applied in memory to the items read
(``matching.py``); a source is ``served`` when its key answers every filter of the query, so
that an offset is skipped on index keys alone and the results left are counted on keys.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.dicomweb.attributes import VALUE_INDEXED
from chalicelib.dicomweb.matching import normalize_name, split_uid_list, value_matches
from chalicelib.dicomweb.query import Query
from chalicelib.dicomweb.resources import StudyRef
from chalicelib.services.qido_reads import QidoCatalog

_STUDY_KEYED = (*VALUE_INDEXED, "ModalitiesInStudy")

#: (position, reference or None) after a position, at most about ``page_size`` a request
Read = Callable[[str | None, int | None], Iterator[tuple[str, Any]]]
Filters = Mapping[str, tuple[str, ...]]


@dataclass(frozen=True)
class Source:
    """Candidates of one level from one designed key, in a stable order, with positions."""

    kind: str
    level: str  # STUDY | SERIES | INSTANCE
    served: bool  # the key answers every filter of the query
    read: Read
    walk: bool = False  # it rejects on index keys (a substring of an indexed value)


def _is_plain(value: str) -> bool:
    return "*" not in value and "?" not in value and "\\" not in value


def _prefix_of(value: str) -> str | None:
    """'SMITH*' -> 'SMITH'; None for any other wildcard use."""
    if value.endswith("*") and _is_plain(value[:-1]) and value[:-1]:
        return value[:-1]
    return None


def _single(filters: Filters, keyword: str) -> str | None:
    """The one value a filter gives (universal matching is no filter)."""
    values = filters.get(keyword)
    if values and len(values) == 1 and values[0] not in ("", "*"):
        return values[0]
    return None


def _index_value(keyword: str, value: str) -> str:
    return normalize_name(value) if keyword == "PatientName" else value


def _date_range(value: str) -> tuple[str | None, str | None]:
    """A DA value or range as its (low, high) ends; None for an open end."""
    low, dash, high = value.partition("-")
    if not dash:
        low = high = value
    return low or None, high or None


def _listed(refs: list[Any]) -> Read:
    """A list of references found up front, positioned by their index in it."""

    def read(after: str | None, _size: int | None) -> Iterator[tuple[str, Any]]:
        start = int(after) + 1 if after is not None and after.isdigit() else 0
        if after is not None and not after.isdigit():
            return
        for i in range(start, len(refs)):
            yield f"{i:06d}", refs[i]

    return read


def plan(
    catalog: QidoCatalog,
    tenant: str,
    query: Query,
    levels: tuple[str, ...],
    filters: Filters,
) -> Source:
    """The cheapest designed key that yields every candidate of the query. ``filters``: the
    query's effective filters (matching keys of ``levels``, universal matching left out)."""

    def served(*answered: str) -> bool:
        return set(filters) <= set(answered)

    found = _by_uid(catalog, tenant, levels, filters, served)
    if found is not None:
        return found
    if "STUDY" in levels:
        for keyword in _STUDY_KEYED:
            value = _single(filters, keyword)
            if value and _is_plain(value) and not (keyword == "PatientName" and query.fuzzy):
                wanted = _index_value(keyword, value)
                return Source(
                    "exact",
                    "STUDY",
                    served(keyword),
                    _valued(catalog, tenant, keyword, wanted, True),
                )
    found = _below_study(catalog, tenant, levels, filters, served)
    if found is not None:
        return found
    if "STUDY" in levels:
        found = _study_keys(catalog, tenant, query, filters, served)
        if found is not None:
            return found
    lowest = levels[-1]
    if lowest == "SERIES":
        return Source("series", "SERIES", served(), _series(catalog, tenant, None, None))
    if lowest == "INSTANCE":
        return Source("instances", "INSTANCE", served(), _instances(catalog, tenant, None))
    return Source("studies", "STUDY", served(), _dated(catalog, tenant, None, None))


def _by_uid(
    catalog: QidoCatalog,
    tenant: str,
    levels: tuple[str, ...],
    filters: Filters,
    served: Callable[..., bool],
) -> Source | None:
    sops, series, studies = (
        _single(filters, k) for k in ("SOPInstanceUID", "SeriesInstanceUID", "StudyInstanceUID")
    )
    if "INSTANCE" in levels and sops:
        uids = split_uid_list([sops])
        refs = _lazy(lambda: [r for u in uids for r in catalog.find_instances(tenant, u)])
        return Source("instance-uids", "INSTANCE", served("SOPInstanceUID"), refs)
    if "SERIES" in levels and series:
        uids = split_uid_list([series])
        refs = _lazy(lambda: [r for u in uids for r in catalog.find_series(tenant, u)])
        return Source("series-uids", "SERIES", served("SeriesInstanceUID"), refs)
    if "STUDY" in levels and studies:
        wanted = [StudyRef(tenant, u) for u in split_uid_list([studies])]
        return Source("study-uids", "STUDY", served("StudyInstanceUID"), _listed(wanted))
    return None


def _lazy(found: Callable[[], list[Any]]) -> Read:
    """``_listed`` of references looked up only when read."""

    def read(after: str | None, size: int | None) -> Iterator[tuple[str, Any]]:
        return _listed(found())(after, size)

    return read


def _below_study(
    catalog: QidoCatalog,
    tenant: str,
    levels: tuple[str, ...],
    filters: Filters,
    served: Callable[..., bool],
) -> Source | None:
    """SOPClassUID, Modality, SeriesDate: the tenant's instances or series on by_attr, by_list."""
    sop_class = _single(filters, "SOPClassUID")
    if "INSTANCE" in levels and sop_class and _is_plain(sop_class):
        read = _instances(catalog, tenant, sop_class)
        return Source("instances-of-class", "INSTANCE", served("SOPClassUID"), read)
    if "SERIES" not in levels:
        return None
    dates = _single(filters, "SeriesDate")
    low, high = _date_range(dates) if dates else (None, None)
    modality = _single(filters, "Modality")
    answered = ("SeriesDate",) if dates else ()
    if modality and _is_plain(modality):
        read = _series(catalog, tenant, modality, (low, high))
        return Source("series-of-modality", "SERIES", served("Modality", *answered), read)
    if dates:
        return Source(
            "series-dated", "SERIES", served(*answered), _series(catalog, tenant, None, (low, high))
        )
    return None


def _study_keys(
    catalog: QidoCatalog,
    tenant: str,
    query: Query,
    filters: Filters,
    served: Callable[..., bool],
) -> Source | None:
    """A StudyDate range, a prefix or fuzzy name, a substring walk."""
    dates = _single(filters, "StudyDate")
    if dates:
        low, high = _date_range(dates)
        return Source("date", "STUDY", served("StudyDate"), _dated(catalog, tenant, low, high))
    keyed = {k: v for k in _STUDY_KEYED if (v := _single(filters, k))}
    for keyword, value in keyed.items():
        if keyword == "PatientName" and query.fuzzy and _is_plain(value):
            words = [w for w in re.split(r"[\^ =]+", value.upper()) if w]
            if words:
                longest = max(words, key=len)
                read = _unique(_valued(catalog, tenant, "PatientNameWord", longest, False))
                return Source("fuzzy", "STUDY", False, read)
        start = _prefix_of(value)
        if start is not None:
            wanted = _index_value(keyword, start)
            return Source(
                "prefix", "STUDY", served(keyword), _valued(catalog, tenant, keyword, wanted, False)
            )
    for keyword, value in keyed.items():
        if keyword in VALUE_INDEXED:
            read = _walked(catalog, tenant, keyword, _index_value(keyword, value), query.fuzzy)
            return Source("walk", "STUDY", False, read, walk=True)
    return None


# --- the reads, as positions and references ---------------------------------------------------


def _valued(catalog: QidoCatalog, tenant: str, keyword: str, value: str, exact: bool) -> Read:
    def read(after: str | None, size: int | None) -> Iterator[tuple[str, Any]]:
        for position, _, ref in catalog.valued_studies(
            tenant, keyword, value, exact=exact, after=after, page_size=size
        ):
            yield position, ref

    return read


def _walked(catalog: QidoCatalog, tenant: str, keyword: str, pattern: str, fuzzy: bool) -> Read:
    """Every value of the attribute, matched on the index key: a study whose value does not
    match is rejected without reading it (its reference is None)."""
    vr = "PN" if keyword == "PatientName" else "LO"

    def read(after: str | None, _size: int | None) -> Iterator[tuple[str, Any]]:
        for position, value, ref in catalog.valued_studies(
            tenant, keyword, "", exact=False, after=after
        ):
            yield position, ref if value_matches(vr, pattern, [value], fuzzy, keyword) else None

    return read


def _unique(read: Read) -> Read:
    """A study listed under several words once (later listings rejected on their keys)."""

    def unique(after: str | None, size: int | None) -> Iterator[tuple[str, Any]]:
        seen: set[Any] = set()
        for position, ref in read(after, size):
            yield position, None if ref in seen else ref
            seen.add(ref)

    return unique


def _dated(catalog: QidoCatalog, tenant: str, low: str | None, high: str | None) -> Read:
    def read(after: str | None, size: int | None) -> Iterator[tuple[str, Any]]:
        return catalog.dated_studies(tenant, low, high, after=after, page_size=size)

    return read


def _series(
    catalog: QidoCatalog,
    tenant: str,
    modality: str | None,
    dates: tuple[str | None, str | None] | None,
) -> Read:
    low, high = dates or (None, None)

    def read(after: str | None, size: int | None) -> Iterator[tuple[str, Any]]:
        return catalog.listed_series(
            tenant, modality=modality, low=low, high=high, after=after, page_size=size
        )

    return read


def _instances(catalog: QidoCatalog, tenant: str, sop_class: str | None) -> Read:
    def read(after: str | None, size: int | None) -> Iterator[tuple[str, Any]]:
        return catalog.listed_instances(tenant, sop_class=sop_class, after=after, page_size=size)

    return read
