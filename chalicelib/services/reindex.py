"""Rebuild the catalog from S3, the one truth (``python -m dicomweb_cli reindex``).

Every object under ``import/{tenant}/`` (a presigned upload whose event never ran: imported,
which moves it under ``dicom/``), then every object under ``dicom/{tenant}/``, goes through the
indexer's own reconciliation (the code the S3 events run, so a rebuild is what the events would
have built); then every instance the
catalog lists whose object is gone is reconciled too, which removes it. Idempotent and safe
while the service runs: each step is the same conditional write an event would make. Cost: one
LIST per 1,000 objects, a ranged GET and a few writes per instance, one Query per study.
The change feed is history, not state: it is left as it is.

It is also the migration of a catalog written by an older version: an instance the catalog
holds without the current listing keys (by_list, by_attr: ``keys.LIST_KEYS_VERSION``) is not
"held", so its reconcile writes the keys on its item and its series' (issue 24), nothing else.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from chalicelib.services.indexer import Indexer
from chalicelib.services.ports import CatalogReader, ObjectStore
from chalicelib.storage.keys import import_prefix, instance_key, tenant_dicom_prefix


def reindex(
    store: ObjectStore,
    catalog: CatalogReader,
    indexer: Indexer,
    tenant: str,
    progress: Callable[[Counter[str]], None] | None = None,
) -> Counter[str]:
    """Reconcile one tenant's catalog with its objects; counts of each outcome."""
    counts: Counter[str] = Counter()
    seen: set[str] = set()
    for prefix in (import_prefix(tenant), tenant_dicom_prefix(tenant)):
        start: str | None = None
        while True:
            objects, start = store.list(prefix, start_after=start)
            for obj in objects:
                seen.add(obj.key)
                counts[indexer.handle_key(obj.key).action] += 1
            if progress is not None:
                progress(counts)
            if start is None:
                break
    for study in list(catalog.studies_by_date(tenant)):
        for entry in list(catalog.iter_instances(study)):
            key = instance_key(entry.ref)
            if key not in seen:
                counts[indexer.handle_key(key).action] += 1
    return counts
