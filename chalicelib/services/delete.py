"""DELETE of a study, series or instance (non-standard, as in the seed tutorial).

Removes every version of the stored objects (the bucket is versioned: a delete marker alone
would leave the patient data) and of the derived objects (metadata fragments and documents,
thumbnails), and answers only once S3 holds none of them. The catalog follows through S3's
ObjectRemoved events, handled by the indexer like any other (QIDO within the indexing
delay); WADO reads S3, so it stops serving at once. A delete that fails halfway is completed by
a retry; a delete of something that is already gone is 404.
"""

from __future__ import annotations

from collections.abc import Sequence

from chalicelib.dicomweb.errors import NotFound
from chalicelib.dicomweb.resources import InstanceRef, SeriesRef, StudyRef
from chalicelib.observability import logger
from chalicelib.services.answers import Empty
from chalicelib.services.ports import ObjectStore
from chalicelib.storage import keys

#: (key, version id) of one stored version
Version = tuple[str, str]


def _prefixes(ref: StudyRef | SeriesRef | InstanceRef) -> list[str]:
    """The stored objects first, then everything derived from them, composed answers
    (bundles) of the enclosing study and series included."""
    if isinstance(ref, InstanceRef):
        return [
            keys.instance_key(ref),
            keys.instance_metadata_key(ref),
            # the series' metadata documents embed the instance: rebuilt on the next read
            keys.series_metadata_prefix(SeriesRef(ref.tenant, ref.study, ref.series)),
            f"{keys.series_derived_prefix(ref)}thumbnails/{ref.sop}/",
            keys.bundles_prefix(ref.tenant, ref.study, ref.series),
            keys.bundles_prefix(ref.tenant, ref.study),
        ]
    if isinstance(ref, SeriesRef):
        return [
            keys.series_prefix(ref),
            keys.series_derived_prefix(ref),
            keys.bundles_prefix(ref.tenant, ref.study),
        ]
    return [keys.study_prefix(ref), f"{keys.derived_prefix(ref.tenant)}{ref.study}/"]


def _left(
    ref: StudyRef | SeriesRef | InstanceRef, prefix: str, versions: Sequence[Version]
) -> list[Version]:
    """The versions under ``prefix`` that belong to ``ref`` (an instance's exact keys only:
    another SOP may share its key as a prefix)."""
    if isinstance(ref, InstanceRef):
        return [v for v in versions if v[0] == prefix or prefix.endswith("/")]
    return list(versions)


class Delete:
    def __init__(self, store: ObjectStore) -> None:
        self._store = store

    def delete(self, ref: StudyRef | SeriesRef | InstanceRef) -> Empty:
        """Delete every version under the resource's keys; 204 once none is left, 404 when
        there was nothing to delete."""
        deleted = 0
        found_any = False
        for prefix in _prefixes(ref):
            versions = _left(ref, prefix, self._store.list_versions(prefix))
            found_any = found_any or (bool(versions) and "/bundles/" not in prefix)
            self._store.delete_versions(versions)
            deleted += len(versions)
        if not found_any:
            raise NotFound("nothing to delete")
        for prefix in _prefixes(ref):  # answer only once every version is gone
            if _left(ref, prefix, self._store.list_versions(prefix)):
                raise RuntimeError("versions remain after the delete; retry it")
        logger.info("delete", extra={"transaction": "delete", "count": deleted})
        return Empty(204)
