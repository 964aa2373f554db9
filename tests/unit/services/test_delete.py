"""services/delete.py over moto's versioned S3: every version of the stored and derived objects
goes, the 204 comes only once none is left, and another instance sharing a key prefix stays."""

from __future__ import annotations

import io
import json
import logging

import pytest

from chalicelib.dicomweb.errors import NotFound
from chalicelib.dicomweb.resources import InstanceRef, SeriesRef, StudyRef
from chalicelib.observability import logger
from chalicelib.services.answers import Empty
from chalicelib.services.delete import Delete
from chalicelib.storage import keys
from chalicelib.storage.objects import S3ObjectStore
from tests.factories import dataset, to_bytes

T = "t1"


def stored(store: S3ObjectStore, study: str, series: str, sop: str) -> InstanceRef:
    ref = InstanceRef(T, study, series, sop)
    data = to_bytes(dataset(study=study, series=series, sop=sop))
    store.put(keys.instance_key(ref), data, "application/dicom")
    store.put(keys.instance_key(ref), data, "application/dicom")  # a second version
    store.put(keys.instance_metadata_key(ref), b"{}", "application/json")
    return ref


def versions(store: S3ObjectStore, prefix: str) -> list[str]:
    return [key for key, _ in store.list_versions(prefix)]


def test_an_instance_goes_with_every_version_its_neighbour_stays(store: S3ObjectStore) -> None:
    gone = stored(store, "1.2", "1.2.3", "1.2.3.4")
    kept = stored(store, "1.2", "1.2.3", "1.2.3.45")  # its key starts with the other's
    bundle = keys.bundles_prefix(T, "1.2") + "answer"
    store.put(bundle, b"composed", "application/octet-stream")
    assert Delete(store).delete(gone) == Empty(204)
    assert versions(store, keys.instance_key(gone)) == []
    assert versions(store, keys.instance_metadata_key(gone)) == []
    assert versions(store, keys.bundles_prefix(T, "1.2")) == []  # answers that held it
    assert len(versions(store, keys.instance_key(kept))) == 2
    with pytest.raises(NotFound):
        Delete(store).delete(gone)


def test_a_series_and_a_study_with_what_was_derived(store: S3ObjectStore) -> None:
    a = stored(store, "1.2", "1.2.3", "1.2.3.4")
    b = stored(store, "1.2", "1.2.9", "1.2.9.4")
    Delete(store).delete(SeriesRef(T, "1.2", "1.2.3"))
    assert versions(store, keys.series_prefix(SeriesRef(T, "1.2", "1.2.3"))) == []
    assert versions(store, keys.instance_key(b)) != []
    Delete(store).delete(StudyRef(T, "1.2"))
    assert versions(store, keys.study_prefix(StudyRef(T, "1.2"))) == []
    assert versions(store, keys.derived_prefix(T)) == []
    assert versions(store, keys.instance_metadata_key(a)) == []
    with pytest.raises(NotFound):
        Delete(store).delete(StudyRef(T, "1.2"))


def test_only_a_bundle_left_is_nothing_to_delete(store: S3ObjectStore) -> None:
    store.put(keys.bundles_prefix(T, "1.2") + "answer", b"composed", "application/octet-stream")
    with pytest.raises(NotFound):
        Delete(store).delete(StudyRef(T, "1.3"))


def test_the_log_line_counts_the_versions(store: S3ObjectStore) -> None:
    ref = stored(store, "1.2", "1.2.3", "1.2.3.4")
    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    stream, level = handler.stream, logger.log_level
    written = io.StringIO()
    handler.setStream(written)
    logger.setLevel("INFO")
    try:
        Delete(store).delete(ref)
    finally:
        handler.setStream(stream)
        logger.setLevel(level)
    (line,) = [json.loads(x) for x in written.getvalue().splitlines()]
    assert (line["message"], line["transaction"], line["count"]) == ("delete", "delete", 3)
