"""Rebuild the catalog from S3, the one truth (``python -m chalicelib.cli reindex``).

Every object under ``dicom/{tenant}/`` goes through the indexer's own reconciliation (the code
the S3 events run, so a rebuild is what the events would have built); then every instance the
catalog lists whose object is gone is reconciled too, which removes it. Idempotent and safe
while the service runs: each step is the same conditional write an event would make. Cost: one
LIST per 1,000 objects, a ranged GET and a few writes per instance, one Query per study.
The change feed is history, not state: it is left as it is.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from chalicelib.dicomweb.resources import StudyRef
from chalicelib.services.indexer import Indexer
from chalicelib.services.ports import ObjectStore
from chalicelib.storage.catalog_reads import instance_entry
from chalicelib.storage.keys import instance_key, tenant_dicom_prefix


def reindex(
    store: ObjectStore,
    catalog: Any,
    indexer: Indexer,
    tenant: str,
    progress: Callable[[Counter[str]], None] | None = None,
) -> Counter[str]:
    """Reconcile one tenant's catalog with its objects; counts of each outcome."""
    counts: Counter[str] = Counter()
    seen: set[str] = set()
    start: str | None = None
    while True:
        objects, start = store.list(tenant_dicom_prefix(tenant), start_after=start)
        for obj in objects:
            seen.add(obj.key)
            counts[indexer.handle_key(obj.key).action] += 1
        if progress is not None:
            progress(counts)
        if start is None:
            break
    for study_pk, _ in list(catalog.study_keys_by_date(tenant)):
        study = StudyRef(tenant, study_pk.partition("#")[2])
        for item in list(catalog.iter_instances(study)):
            key = instance_key(instance_entry(item).ref)
            if key not in seen:
                counts[indexer.handle_key(key).action] += 1
    return counts
