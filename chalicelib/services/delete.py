"""DELETE of a study, series or instance (non-standard, as in the seed tutorial).

Removes every version of the stored objects (the bucket is versioned: a delete marker alone
would leave the patient data) and of the derived objects (metadata fragments and documents,
thumbnails), and the catalog entries, and answers 204 only once no read finds what it removed:
S3 holds none of it (WADO, instance metadata) and the catalog lists none of it (QIDO at every
level, by UID too; study and series metadata).

The catalog changes inline, through the catalog's own removal (exact counts, one change-feed
entry per instance):

- an instance: once its S3 versions (and its derived objects) are gone, the indexer's
  reconcile for its key (``Indexer.handle_key``), as its ObjectRemoved event will (which then
  finds it ``absent``);
- a series or a study, which may hold thousands of instances: one transaction at its level
  (``CatalogWriter.remove_series`` / ``remove_study``: the series items, or the study item and
  its series items, go; a tombstone per series hides its instance items from every read), made
  *before* the S3 versions go, so the indexer's per-instance clean-up (the ObjectRemoved events)
  never races it; every instance item it leaves is then removed by the indexer as its event
  arrives, ending in exactly the catalog a rebuild from S3 gives. A study of more than 49
  series takes one transaction per 49 series (TransactWriteItems' 100 items), each leaving a
  consistent catalog, the study item in the last; the 204 comes after the last.

The largest DELETE within API Gateway's 29 s: the catalog side is about 10 calls whatever the
size (a GetItem, two Queries, one TransactWriteItems per 49 series, a DeleteItem per value entry
of the study). The S3 side grows with the versions: for the stored and the derived prefix
(about one metadata fragment per instance) ListObjectVersions (1,000 a page) and DeleteObjects
(1,000 a request), then one listing each to confirm. On moto a study of 500 instances took
4 + 2 S3 calls and 10 catalog calls (8.5 s, the catalog 0.13 s), one of 2,000 7 + 5 and the
same 10 (179 s: moto's DeleteObjects walks the bucket per key). By the cost model's latencies
(ListObjectVersions 25 ms, DeleteObjects 30 ms) that is 0.15 s + 0.11 s per 1,000 instances,
~250,000 instances in 29 s; assuming 0.3 s per 1,000-version page and 1 s per 1,000-version
DeleteObjects (AWS publishes no figure), 2.6 s per 1,000: **about 10,000 instances** (one
version each), the figure docs/conformance.md (3.9) states. A larger study: series by series.

A delete that fails half-way answers 503 and is completed by a retry (each step is idempotent;
a series or study the catalog already hides while S3 still holds some of it is 204 on the
retry, not 404); a delete of something neither S3 nor the catalog holds is 404.
"""

from __future__ import annotations

from collections.abc import Sequence

from chalicelib.dicomweb.errors import NotFound
from chalicelib.dicomweb.resources import InstanceRef, SeriesRef, StudyRef
from chalicelib.observability import logger
from chalicelib.services.answers import Empty
from chalicelib.services.indexer import Indexer
from chalicelib.services.ports import CatalogWriter, ObjectStore
from chalicelib.storage import keys

#: (key, version id) of one stored version
Version = tuple[str, str]

Resource = StudyRef | SeriesRef | InstanceRef


def _stored(ref: Resource) -> list[str]:
    """Where the stored objects are."""
    if isinstance(ref, InstanceRef):
        return [keys.instance_key(ref)]
    if isinstance(ref, SeriesRef):
        return [keys.series_prefix(ref)]
    return [keys.study_prefix(ref)]


def _derived(ref: Resource) -> list[str]:
    """Everything derived from the stored objects, composed answers (bundles) of the
    enclosing study and series included."""
    if isinstance(ref, InstanceRef):
        return [
            keys.instance_metadata_key(ref),
            # the series' metadata documents embed the instance: rebuilt on the next read
            keys.series_metadata_prefix(SeriesRef(ref.tenant, ref.study, ref.series)),
            f"{keys.series_derived_prefix(ref)}thumbnails/{ref.sop}/",
            keys.bundles_prefix(ref.tenant, ref.study, ref.series),
            keys.bundles_prefix(ref.tenant, ref.study),
        ]
    if isinstance(ref, SeriesRef):
        return [keys.series_derived_prefix(ref), keys.bundles_prefix(ref.tenant, ref.study)]
    return [f"{keys.derived_prefix(ref.tenant)}{ref.study}/"]


def _left(ref: Resource, prefix: str, versions: Sequence[Version]) -> list[Version]:
    """The versions under ``prefix`` that belong to ``ref`` (an instance's exact keys only:
    another SOP may share its key as a prefix)."""
    if isinstance(ref, InstanceRef):
        return [v for v in versions if v[0] == prefix or prefix.endswith("/")]
    return list(versions)


class Delete:
    def __init__(self, store: ObjectStore, catalog: CatalogWriter, indexer: Indexer) -> None:
        self._store = store
        self._catalog = catalog
        self._indexer = indexer

    def delete(self, ref: Resource) -> Empty:
        """Delete every version under the resource's keys and its catalog entries; 204 once no
        read finds any of it, 404 when there was nothing to delete."""
        counted = [0]
        if isinstance(ref, InstanceRef):
            found = self._purge(ref, _stored(ref) + _derived(ref), counted)
            outcome = self._indexer.handle_key(keys.instance_key(ref))
            catalogued = outcome.action == "removed"
        else:
            if isinstance(ref, SeriesRef):
                catalogued = self._catalog.remove_series(ref)
            else:
                catalogued = self._catalog.remove_study(ref)
            found = self._purge(ref, _stored(ref) + _derived(ref), counted)
        if not (found or catalogued):
            raise NotFound("nothing to delete")
        for prefix in _stored(ref) + _derived(ref):  # answer only once every version is gone
            if _left(ref, prefix, self._store.list_versions(prefix)):
                raise RuntimeError("versions remain after the delete; retry it")
        logger.info("delete", extra={"transaction": "delete", "count": counted[0]})
        return Empty(204)

    def _purge(self, ref: Resource, prefixes: list[str], counted: list[int]) -> bool:
        """Delete every version under ``prefixes``; whether any was found (composed answers
        alone do not count: they are not the resource)."""
        found = False
        for prefix in prefixes:
            versions = _left(ref, prefix, self._store.list_versions(prefix))
            found = found or (bool(versions) and "/bundles/" not in prefix)
            self._store.delete_versions(versions)
            counted[0] += len(versions)
        return found
