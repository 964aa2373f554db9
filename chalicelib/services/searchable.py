"""Searchable on 200: what a STOW stored is indexed before the STOW answers.

Each stored instance goes through the indexer's own reconcile (``Indexer.handle_key``: the
one code path that writes the catalog, with its invariants — fragment before catalog, exact
counts, one change-feed entry), up to ``INDEXERS`` at a time; then the STOW waits until the
catalog's eventually consistent indexes answer for them (``Indexer.wait_searchable``). The S3
event that follows finds them ``unchanged``: it stays the safety net, and the only path for S3
drops.

An instance that cannot be indexed in time (the catalog stays contended or throttled through
its retries, or its index entries do not show within ``Settings.index_visible_timeout``) is
withdrawn: the version this request wrote is deleted by its VersionId (a previous version of
the same instance, if any, is current again, untouched) and the part is reported failed,
0xA700 with the reason. So 200 always means searchable.

Time, at most: the catalog retries a conflicted transaction 10 times (about 4 s of backoff in
all), this retries a throttled or failing one ``RETRIES`` times, and the wait is 5 s: about
17 s in the worst case, inside API Gateway's 29 s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from chalicelib.clock import SYSTEM, Clock
from chalicelib.dicomweb.errors import FailureReason
from chalicelib.observability import logger
from chalicelib.pools import ContextPool
from chalicelib.services.indexer import Indexer
from chalicelib.services.ports import (
    InstanceRecord,
    ObjectStore,
    StorageError,
    StorageUnavailable,
)
from chalicelib.services.stow_outcomes import FailedInstance, StoredInstance
from chalicelib.storage.keys import instance_key

INDEXERS = 8
#: Instances indexed together: one catalog transaction for those of one series (at most
#: ``storage.catalog.MAX_BATCH``), so a series' counters move once a batch, not per instance.
INDEX_BATCH = 16
#: Attempts of one instance's indexing when storage is throttled or failing for now.
RETRIES = 3


def _pause(attempt: int) -> float:
    return min(1.0, 0.1 * float(2**attempt))


class Searchable:
    def __init__(self, indexer: Indexer, store: ObjectStore, clock: Clock = SYSTEM) -> None:
        self._indexer = indexer
        self._store = store
        self._clock = clock

    def index_key(self, key: str) -> InstanceRecord | StorageError:
        """Index the object at ``key`` now (retrying while storage is busy): its record, or
        why it could not be indexed."""
        failure: StorageError = StorageUnavailable("NotIndexed")
        for attempt in range(RETRIES):
            try:
                # refresh: skip the "catalog holds it already" read, a GetItem per instance
                # that can only say no (this request just wrote a new version)
                outcome = self._indexer.handle_key(key, refresh=True)
            except StorageUnavailable as exc:
                failure = exc
                self._clock.sleep(_pause(attempt))
                continue
            except StorageError as exc:
                return exc
            if outcome.record is None:  # deleted by another request meanwhile
                return StorageError("NotFound", outcome.action)
            return outcome.record
        return failure

    def index_keys(self, keys: Sequence[str]) -> dict[str, InstanceRecord | StorageError]:
        """Index these objects now, their catalog writes batched (``Indexer.index_batch``);
        if the batch fails on storage, each key again on its own, with retries."""
        try:
            outcomes = self._indexer.index_batch(keys)
        except StorageError:
            return {key: self.index_key(key) for key in keys}
        return {
            key: o.record if o.record is not None else StorageError("NotFound", o.action)
            for key, o in zip(keys, outcomes, strict=True)
        }

    def make_searchable(
        self, stored: Sequence[StoredInstance]
    ) -> list[StoredInstance | FailedInstance]:
        """``stored``, each one either searchable by every read now or withdrawn and failed."""
        keys = list(dict.fromkeys(instance_key(s.ref) for s in stored))
        if not keys:
            return []
        batches = [keys[i : i + INDEX_BATCH] for i in range(0, len(keys), INDEX_BATCH)]
        indexed: dict[str, InstanceRecord | StorageError] = {}
        with ContextPool(max_workers=min(INDEXERS, len(batches))) as pool:
            for done in pool.map(self.index_keys, batches):
                indexed.update(done)
        return self.confirm(stored, indexed)

    def confirm(
        self,
        stored: Sequence[StoredInstance],
        indexed: Mapping[str, InstanceRecord | StorageError],
    ) -> list[StoredInstance | FailedInstance]:
        """Wait until the indexes answer for what ``index_key`` indexed (``indexed``: by key);
        an instance not indexed, or not visible in time, is withdrawn and failed."""
        records = [r for r in indexed.values() if isinstance(r, InstanceRecord)]
        try:
            late = set(self._indexer.wait_searchable(records))
        except StorageError:  # the indexes could not be asked: nothing is known searchable
            late = {r.ref for r in records}
        failed = {
            key: result
            for key, result in indexed.items()
            if not isinstance(result, InstanceRecord) or result.ref in late
        }
        out: list[StoredInstance | FailedInstance] = []
        for item in stored:
            key = instance_key(item.ref)
            if key in failed:
                out.append(self._withdraw(item, key, failed[key]))
            else:
                out.append(item)
        for key in failed:
            self._settle(key)
        if failed:
            logger.warning("stow withdrew instances", extra={"count": len(failed)})
        return out

    def _withdraw(
        self, item: StoredInstance, key: str, cause: InstanceRecord | StorageError
    ) -> FailedInstance:
        """Delete the version this request wrote; the part is reported failed."""
        if item.version_id:
            self._store.delete_versions([(key, item.version_id)])
        if isinstance(cause, InstanceRecord):
            why = "its index entries did not become visible in time"
        elif cause.code == "NotFound":
            return item.failed(
                FailureReason.PROCESSING_FAILURE,
                "the instance was deleted by another request while it was stored",
            )
        else:
            why = f"the catalog stayed busy ({cause.code or type(cause).__name__})"
        return item.failed(
            FailureReason.OUT_OF_RESOURCES,
            f"stored, but it could not be made searchable: {why}; nothing of it was kept, "
            "send it again",
        )

    def _settle(self, key: str) -> None:
        """Make the catalog match the key again now that the version is gone (best effort:
        the version's removal event does it otherwise)."""
        try:
            self._indexer.handle_key(key, refresh=True)
        except StorageError as exc:
            logger.warning("settling a withdrawn instance failed", extra={"aws_error": exc.code})
