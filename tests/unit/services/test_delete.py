"""services/delete.py over moto's versioned S3 and the catalog: every version of the stored and
derived objects goes, the catalog entries go inline (an instance through the indexer's
reconcile, a series or a study in one transaction at its level), the 204 comes only once none
is left, and another instance sharing a key prefix stays."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import boto3
import pytest

from chalicelib.config import Settings
from chalicelib.dicomweb.errors import NotFound
from chalicelib.dicomweb.resources import InstanceRef, SeriesRef, StudyRef
from chalicelib.observability import logger
from chalicelib.services.answers import Empty
from chalicelib.services.delete import Delete
from chalicelib.services.indexer import Indexer
from chalicelib.storage import keys
from chalicelib.storage.catalog import DynamoCatalog
from chalicelib.storage.metering import AwsCallCounter
from chalicelib.storage.objects import S3ObjectStore
from chalicelib.storage.schema import catalog_table
from tests.factories import dataset, to_bytes

T = "t1"
TABLE = "catalog"


@dataclass
class Archive:
    store: S3ObjectStore
    catalog: DynamoCatalog
    indexer: Indexer
    counter: AwsCallCounter

    @property
    def delete(self) -> Delete:
        return Delete(self.store, self.catalog, self.indexer)

    def stored(self, study: str, series: str, sop: str, modality: str = "CT") -> InstanceRef:
        """Two versions of the instance, indexed (its metadata fragment written)."""
        ref = InstanceRef(T, study, series, sop)
        data = to_bytes(dataset(study=study, series=series, sop=sop, modality=modality))
        self.store.put(keys.instance_key(ref), data, "application/dicom")
        self.store.put(keys.instance_key(ref), data, "application/dicom")  # a second version
        self.indexer.handle_key(keys.instance_key(ref))
        return ref

    def dynamodb_calls(self) -> dict[str, int]:
        snap = self.counter.snapshot()
        return {k.split(".")[1]: v["calls"] for k, v in snap.items() if k.startswith("dynamodb")}


@pytest.fixture
def archive(store: S3ObjectStore) -> Iterator[Archive]:
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    dynamodb.create_table(**catalog_table(TABLE))
    catalog = DynamoCatalog(dynamodb, TABLE)
    counter = AwsCallCounter()
    counter.attach(dynamodb)
    yield Archive(store, catalog, Indexer(store, catalog, Settings()), counter)


def versions(store: S3ObjectStore, prefix: str) -> list[str]:
    return [key for key, _ in store.list_versions(prefix)]


def test_an_instance_goes_with_every_version_its_neighbour_stays(archive: Archive) -> None:
    store, reads = archive.store, archive.catalog.reads
    gone = archive.stored("1.2", "1.2.3", "1.2.3.4")
    kept = archive.stored("1.2", "1.2.3", "1.2.3.45")  # its key starts with the other's
    bundle = keys.bundles_prefix(T, "1.2") + "answer"
    store.put(bundle, b"composed", "application/octet-stream")
    assert archive.delete.delete(gone) == Empty(204)
    assert versions(store, keys.instance_key(gone)) == []
    assert versions(store, keys.instance_metadata_key(gone)) == []
    assert versions(store, keys.bundles_prefix(T, "1.2")) == []  # answers that held it
    assert len(versions(store, keys.instance_key(kept))) == 2
    # the catalog, at once, with exact counts
    assert [e.ref for e in reads.iter_instances(StudyRef(T, "1.2"))] == [kept]
    (study,) = reads.get_studies([StudyRef(T, "1.2")])
    assert (study.series_count, study.instance_count) == (1, 1)
    with pytest.raises(NotFound):
        archive.delete.delete(gone)


def test_a_series_and_a_study_with_what_was_derived(archive: Archive) -> None:
    store, reads = archive.store, archive.catalog.reads
    a = archive.stored("1.2", "1.2.3", "1.2.3.4")
    b = archive.stored("1.2", "1.2.9", "1.2.9.4", modality="MR")
    archive.delete.delete(SeriesRef(T, "1.2", "1.2.3"))
    assert versions(store, keys.series_prefix(SeriesRef(T, "1.2", "1.2.3"))) == []
    assert versions(store, keys.instance_key(b)) != []
    assert [s.ref for s in reads.iter_series(StudyRef(T, "1.2"))] == [b.series_ref]
    assert [e.ref for e in reads.iter_instances(StudyRef(T, "1.2"))] == [b]
    assert reads.get_instances([a, b]) == reads.get_instances([b])  # left behind: hidden
    (study,) = reads.get_studies([StudyRef(T, "1.2")])
    assert (study.series_count, study.instance_count, study.modalities) == (1, 1, ("MR",))
    archive.delete.delete(StudyRef(T, "1.2"))
    assert versions(store, keys.study_prefix(StudyRef(T, "1.2"))) == []
    assert versions(store, keys.derived_prefix(T)) == []
    assert versions(store, keys.instance_metadata_key(a)) == []
    assert reads.get_studies([StudyRef(T, "1.2")]) == []
    assert list(reads.iter_series(StudyRef(T, "1.2"))) == []
    assert list(reads.iter_instances(StudyRef(T, "1.2"))) == []
    assert list(reads.studies_with_value(T, "PatientID", "PID-1", exact=True)) == []
    with pytest.raises(NotFound):
        archive.delete.delete(StudyRef(T, "1.2"))


def test_what_the_catalog_still_lists_is_deleted_on_a_retry(archive: Archive) -> None:
    """S3 holds nothing any more (a first attempt failed after it), the catalog still lists
    the series: a retry removes it and answers 204."""
    ref = archive.stored("1.2", "1.2.3", "1.2.3.4")
    archive.store.delete_versions(
        archive.store.list_versions(keys.study_prefix(StudyRef(T, "1.2")))
    )
    assert archive.delete.delete(ref.series_ref) == Empty(204)
    assert archive.catalog.reads.get_series(ref.series_ref) is None
    with pytest.raises(NotFound):
        archive.delete.delete(ref.series_ref)


@pytest.mark.parametrize("instances", [2, 20])
def test_the_catalog_side_of_a_series_delete_does_not_grow_with_it(
    archive: Archive, instances: int
) -> None:
    for n in range(instances):
        archive.stored("1.2", "1.2.3", f"1.2.3.{n + 1}")
    archive.stored("1.2", "1.2.9", "1.2.9.1", modality="MR")
    archive.counter.reset()
    archive.delete.delete(SeriesRef(T, "1.2", "1.2.3"))
    # GetItem of the series, one transaction, ModalitiesInStudy from the series left (a Query
    # of them, one of the modality entries, a DeleteItem of CT's, an UpdateItem of the study)
    # and the conditional drop of an empty study
    assert archive.dynamodb_calls() == {
        "GetItem": 1,
        "TransactWriteItems": 1,
        "Query": 2,
        "DeleteItem": 2,
        "UpdateItem": 1,
    }


def test_only_a_bundle_left_is_nothing_to_delete(archive: Archive) -> None:
    bundle = keys.bundles_prefix(T, "1.2") + "answer"
    archive.store.put(bundle, b"composed", "application/octet-stream")
    with pytest.raises(NotFound):
        archive.delete.delete(StudyRef(T, "1.3"))


def test_the_log_line_counts_the_versions(archive: Archive) -> None:
    ref = archive.stored("1.2", "1.2.3", "1.2.3.4")
    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    stream, level = handler.stream, logger.log_level
    written = io.StringIO()
    handler.setStream(written)
    logger.setLevel("INFO")
    try:
        archive.delete.delete(ref)
    finally:
        handler.setStream(stream)
        logger.setLevel(level)
    (line,) = [json.loads(x) for x in written.getvalue().splitlines()]
    assert (line["message"], line["transaction"], line["count"]) == ("delete", "delete", 3)
