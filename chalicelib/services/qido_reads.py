"""What QIDO reads from the catalog beyond ``ports.CatalogReader``: reads that resume.

Each yields (position, result) and reads ``after=`` a position it gave, at the cost of what it
then returns (a page), whatever came before: QIDO's cursors are made of these positions. A
position is opaque here (a sort key of the read, without the tenant); one that does not belong
to the read yields nothing. ``storage.catalog_resume.ResumableReads`` implements them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from chalicelib.dicomweb.resources import InstanceRef, SeriesRef, StudyRef
from chalicelib.services.ports import CatalogReader, InstanceEntry, SeriesEntry


class QidoCatalog(CatalogReader, Protocol):
    def dated_studies(
        self,
        tenant: str,
        low: str | None = None,
        high: str | None = None,
        *,
        after: str | None = None,
        page_size: int | None = None,
    ) -> Iterator[tuple[str, StudyRef]]:
        """A tenant's studies newest first, within the StudyDate range [low, high] if given."""
        ...

    def valued_studies(
        self,
        tenant: str,
        keyword: str,
        value: str,
        *,
        exact: bool,
        after: str | None = None,
        page_size: int | None = None,
    ) -> Iterator[tuple[str, str, StudyRef]]:
        """(position, value, study) of the studies whose indexed ``keyword`` equals ``value``
        (``exact``) or starts with it, in value order ('' and not exact: every value)."""
        ...

    def listed_series(
        self,
        tenant: str,
        *,
        modality: str | None = None,
        low: str | None = None,
        high: str | None = None,
        after: str | None = None,
        page_size: int | None = None,
    ) -> Iterator[tuple[str, SeriesRef]]:
        """A tenant's series newest first (by SeriesDate, else their study's date), of one
        Modality and within a DA range [low, high] when given."""
        ...

    def listed_instances(
        self,
        tenant: str,
        *,
        sop_class: str | None = None,
        after: str | None = None,
        page_size: int | None = None,
    ) -> Iterator[tuple[str, InstanceRef]]:
        """A tenant's instances newest first (by their series' date, a series' together), of
        one SOPClassUID when given."""
        ...

    def series_in_study(
        self, ref: StudyRef, *, after: str | None = None, page_size: int | None = None
    ) -> Iterator[tuple[str, SeriesEntry]]:
        """A study's series in UID order."""
        ...

    def instances_in(
        self,
        ref: StudyRef | SeriesRef,
        *,
        after: str | None = None,
        page_size: int | None = None,
    ) -> Iterator[tuple[str, InstanceEntry]]:
        """A study's or a series' instances in (series, SOP) UID order, without what a DELETE
        left behind."""
        ...
