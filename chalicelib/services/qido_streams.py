"""QIDO's candidates as DICOM JSON, each with the position a next page would start after.

A source (``qido_plan.py``) yields references; here they are read in BatchGetItem chunks no
larger than the page still needs (``need``), with their parents (a series with its study, an
instance with its series and study: an instance is a result only while both exist), or, when
the source is of a higher level than the resource's, expanded: each study into its series or
instances, each series into its instances (one Query of the study's or series' partition,
paged at what the page needs).

A position is a tuple: ``(p,)`` after the source's candidate at p, whole; ``(p, study, i)`` or
``(p, study, series, i)`` inside the study or series found at p, after its item at i. Resuming
reads the rest of that study or series, then the source after p.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from chalicelib.dicomweb.resources import SeriesRef, StudyRef
from chalicelib.services.catalog_json import instance_json, series_json, study_json
from chalicelib.services.ports import JsonDict
from chalicelib.services.qido_plan import Source
from chalicelib.services.qido_reads import QidoCatalog

#: The most one BatchGetItem reads.
CHUNK = 100
#: Parents (studies, series) read in the first chunk of an expansion, before how many
#: candidates each gives is known; later chunks follow the rate seen.
FIRST_PARENTS = 10

Position = tuple[str, ...]
Need = Callable[[], int]  # how many more candidates the page can use (>= 1)


class Candidate(NamedTuple):
    position: Position
    attrs: JsonDict | None  # None: rejected before matching (a key's value, an item gone)
    read: bool = True  # an item was read for it (False: rejected on an index key alone)


def _chunks(refs: Iterator[tuple[str, Any]], need: Need) -> Iterator[list[tuple[str, Any]]]:
    while True:
        chunk = list(itertools.islice(refs, max(1, min(CHUNK, need()))))
        if not chunk:
            return
        yield chunk


class Streams:
    """The candidates of one search, read from ``catalog`` for ``tenant``."""

    def __init__(self, catalog: QidoCatalog, tenant: str, base_url: str) -> None:
        self._catalog = catalog
        self._tenant = tenant
        self._base = base_url

    # --- a source of the resource's own level ------------------------------------------------

    def direct(
        self, refs: Iterator[tuple[str, Any]], level: str, need: Need
    ) -> Iterator[Candidate]:
        for chunk in _chunks(refs, need):
            wanted = [ref for _, ref in chunk if ref is not None]
            found = self._read(level, wanted) if wanted else {}
            for position, ref in chunk:
                if ref is None:
                    yield Candidate((position,), None, read=False)
                else:
                    yield Candidate((position,), found.get(ref))

    def _read(self, level: str, refs: list[Any]) -> dict[Any, JsonDict]:
        """Items of one level by reference, as DICOM JSON with their parents' attributes; a
        reference not catalogued (or whose parents are gone) is left out."""
        catalog, base = self._catalog, self._base
        if level == "STUDY":
            return {e.ref: study_json(e, base) for e in catalog.get_studies(refs)}
        if level == "SERIES":
            series = catalog.get_series_many(refs)
            studies = self._read("STUDY", _unique(e.ref.study_ref for e in series))
            return {
                e.ref: studies[e.ref.study_ref] | series_json(e, base)
                for e in series
                if e.ref.study_ref in studies
            }
        instances = catalog.get_instances(refs)
        parents = self._read("SERIES", _unique(e.ref.series_ref for e in instances))
        return {
            e.ref: parents[e.ref.series_ref] | instance_json(e, base)
            for e in instances
            if e.ref.series_ref in parents
        }

    # --- a source of a higher level, expanded ----------------------------------------------

    def expanded(
        self, source: Source, level: str, resume: Position | None, need: Need, size: int
    ) -> Iterator[Candidate]:
        """Each candidate of ``source`` (studies or series) expanded into its series or
        instances (``level``), from ``resume`` on."""
        after = None
        if resume is not None:
            after = resume[0]
            if len(resume) > 1:
                yield from self._resumed(source.level, level, resume)
        refs = source.read(after, size)
        expanded, gave = 0, 0  # parents expanded so far, and the candidates they gave

        def parents_needed() -> int:
            # a parent gives many candidates: read as many as the page still needs at the
            # rate seen so far, not one per candidate (100 series for a page of 100 instances)
            if not expanded:
                return min(need(), FIRST_PARENTS)
            return max(1, math.ceil(need() * expanded / max(gave, expanded)))

        for chunk in _chunks(refs, parents_needed):
            wanted = [ref for _, ref in chunk if ref is not None]
            parents = self._read(source.level, wanted) if wanted else {}
            for position, ref in chunk:
                attrs = parents.get(ref) if ref is not None else None
                if attrs is None:
                    yield Candidate((position,), None, read=ref is not None)
                    continue
                expanded += 1
                for candidate in self._children(position, ref, attrs, level, None):
                    gave += 1
                    yield candidate

    def _resumed(self, outer: str, level: str, resume: Position) -> Iterator[Candidate]:
        """The rest of the study or series a cursor stopped in."""
        if outer == "STUDY" and len(resume) == 3:
            ref: Any = StudyRef(self._tenant, resume[1])
        elif outer == "SERIES" and len(resume) == 4:
            ref = SeriesRef(self._tenant, resume[1], resume[2])
        else:
            return
        attrs = self._read(outer, [ref]).get(ref)
        if attrs is not None:
            yield from self._children(resume[0], ref, attrs, level, resume[-1])

    def _children(
        self, position: str, ref: Any, attrs: JsonDict, level: str, after: str | None
    ) -> Iterator[Candidate]:
        """A study's series or instances, or a series' instances, with the parent's
        attributes, positioned inside the parent."""
        uids = (ref.study,) if isinstance(ref, StudyRef) else (ref.study, ref.series)
        if level == "SERIES":
            for at, series in self._catalog.series_in_study(ref, after=after, page_size=CHUNK):
                yield Candidate((position, *uids, at), attrs | series_json(series, self._base))
            return
        for at, found in self.instances(ref, after):
            yield Candidate((position, *uids, at), attrs | found if found is not None else None)

    # --- a study's or a series' own partition -----------------------------------------------

    def study_series(self, ref: StudyRef, after: str | None) -> Iterator[Candidate]:
        for at, series in self._catalog.series_in_study(ref, after=after, page_size=CHUNK):
            yield Candidate((at,), series_json(series, self._base))

    def instances(
        self, ref: StudyRef | SeriesRef, after: str | None
    ) -> Iterator[tuple[str, JsonDict | None]]:
        """A series' instances; or a study's, with their series' attributes (None: its series
        is gone, what a DELETE left)."""
        series: dict[SeriesRef, JsonDict] | None = None
        if isinstance(ref, StudyRef):
            series = {e.ref: series_json(e, self._base) for e in self._catalog.iter_series(ref)}
        for at, entry in self._catalog.instances_in(ref, after=after, page_size=CHUNK):
            found = instance_json(entry, self._base)
            if series is None:
                yield at, found
            elif (parent := series.get(entry.ref.series_ref)) is not None:
                yield at, parent | found
            else:
                yield at, None


def _unique(refs: Any) -> list[Any]:
    return list(dict.fromkeys(refs))
