"""The catalog's typed reads (``CatalogReader``) over moto's DynamoDB: entries and references
in, entries and references out, each access pattern one request (or one per page)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from chalicelib.dicomweb.dicomjson import element, tag_hex
from chalicelib.dicomweb.resources import InstanceRef, SeriesRef, StudyRef
from chalicelib.services.ports import CatalogReader, InstanceRecord, StoredObject
from chalicelib.storage.catalog import DynamoCatalog
from chalicelib.storage.metering import AwsCallCounter
from chalicelib.storage.schema import catalog_table

TABLE = "catalog"
T = "t1"


def record(
    ref: InstanceRef,
    *,
    date: str = "20250101",
    patient_id: str = "P1",
    patient_name: str = "DOE^JANE",
    description: str = "",
    modality: str = "CT",
    number: int = 1,
) -> InstanceRecord:
    return InstanceRecord(
        ref=ref,
        study_attrs={tag_hex("StudyDate"): element("DA", date)},
        series_attrs={
            tag_hex("Modality"): element("CS", modality),
            tag_hex("SeriesNumber"): element("IS", number),
        },
        instance_attrs={tag_hex("InstanceNumber"): element("IS", number)},
        transfer_syntax="1.2.840.10008.1.2.1",
        object=StoredObject(f"dicom/{ref.tenant}/{ref.sop}.dcm", 100 + number, f"etag{number}"),
        modality=modality,
        patient_id=patient_id,
        patient_name=patient_name,
        study_description=description,
        study_date=date,
        study_time="120000",
        frames=b"\x01\x02",
        pixel_offset=64,
    )


@pytest.fixture
def counted(aws: None) -> tuple[DynamoCatalog, AwsCallCounter]:
    client = boto3.client("dynamodb", region_name="us-east-1")
    client.create_table(**catalog_table(TABLE))
    counter = AwsCallCounter()
    counter.attach(client)
    return DynamoCatalog(client, TABLE), counter


@pytest.fixture
def catalog(counted: tuple[DynamoCatalog, AwsCallCounter]) -> CatalogReader:
    writer, counter = counted
    writes = [
        record(InstanceRef(T, "1.1", "1.1.1", "1.1.1.1"), date="20240105", description="A#1"),
        record(
            InstanceRef(T, "1.1", "1.1.1", "1.1.1.2"), date="20240105", description="A#1", number=2
        ),
        record(
            InstanceRef(T, "1.1", "1.1.2", "1.1.2.1"),
            date="20240105",
            description="A#1",
            modality="MR",
        ),
        record(InstanceRef(T, "1.2", "1.2.1", "1.2.1.1"), date="20250301", patient_id="P10"),
        record(
            InstanceRef(T, "1.3", "1.3.1", "1.3.1.1"),
            date="20230710",
            patient_id="P2",
            patient_name="ROE^RICHARD",
            description="100% done",
        ),
        record(InstanceRef("t2", "1.1", "1.1.1", "1.1.1.1"), date="20250301"),
    ]
    for rec in writes:
        assert writer.index_instance(rec) == "created"
    counter.reset()
    return writer.reads


def calls(counter: AwsCallCounter) -> dict[str, int]:
    return {k.split(".")[1]: v["calls"] for k, v in counter.snapshot().items()}


def test_studies_in_input_order_in_one_batch_get(
    catalog: CatalogReader, counted: tuple[Any, AwsCallCounter]
) -> None:
    refs = [StudyRef(T, "1.3"), StudyRef(T, "9.9"), StudyRef(T, "1.1"), StudyRef(T, "1.3")]
    studies = catalog.get_studies(refs)
    assert [s.ref for s in studies] == [StudyRef(T, "1.3"), StudyRef(T, "1.1")]
    first = studies[1]
    assert (first.series_count, first.instance_count, first.modalities) == (2, 3, ("CT", "MR"))
    assert first.attrs[tag_hex("StudyDate")]["Value"] == ["20240105"]
    assert calls(counted[1]) == {"BatchGetItem": 1}
    assert catalog.get_studies([]) == []


def test_series_entries_carry_their_counts_and_metadata_version(catalog: CatalogReader) -> None:
    series = list(catalog.iter_series(StudyRef(T, "1.1")))
    assert [s.ref for s in series] == [SeriesRef(T, "1.1", "1.1.1"), SeriesRef(T, "1.1", "1.1.2")]
    assert [(s.instance_count, s.meta_version) for s in series] == [(2, 2), (1, 1)]
    assert series[1].attrs[tag_hex("Modality")]["Value"] == ["MR"]
    assert catalog.get_series(SeriesRef(T, "1.1", "1.1.1")) == series[0]
    assert catalog.get_series(SeriesRef(T, "1.1", "9.9")) is None
    many = [SeriesRef(T, "1.1", "1.1.2"), SeriesRef("t2", "1.1", "1.1.1")]
    assert [s.ref for s in catalog.get_series_many(many)] == many


def test_instances_of_a_study_or_a_series(catalog: CatalogReader) -> None:
    in_study = list(catalog.iter_instances(StudyRef(T, "1.1")))
    assert [i.ref.sop for i in in_study] == ["1.1.1.1", "1.1.1.2", "1.1.2.1"]
    in_series = list(catalog.iter_instances(SeriesRef(T, "1.1", "1.1.1")))
    assert in_series == in_study[:2]
    one = catalog.get_instance(InstanceRef(T, "1.1", "1.1.1", "1.1.1.2"))
    assert one is not None and one == in_study[1]
    assert (one.size, one.etag, one.transfer_syntax) == (102, "etag2", "1.2.840.10008.1.2.1")
    assert (one.frames, one.frames_encapsulated, one.pixel_offset) == (b"\x01\x02", False, 64)
    assert catalog.get_instance(InstanceRef(T, "1.1", "1.1.1", "9.9")) is None
    refs = [in_study[2].ref, InstanceRef(T, "1.1", "1.1.1", "9.9"), in_study[0].ref]
    assert [i.ref for i in catalog.get_instances(refs)] == [refs[0], refs[2]]


def test_series_and_instances_by_uid_alone(
    catalog: CatalogReader, counted: tuple[Any, AwsCallCounter]
) -> None:
    assert catalog.find_series(T, "1.1.2") == [SeriesRef(T, "1.1", "1.1.2")]
    assert catalog.find_series(T, "1.1.2.1") == []  # an instance's UID names no series
    assert catalog.find_instances(T, "1.1.2.1") == [InstanceRef(T, "1.1", "1.1.2", "1.1.2.1")]
    assert catalog.find_instances(T, "1.1.2") == []
    assert catalog.find_series("t2", "1.1.2") == []  # tenants never see each other's
    assert calls(counted[1]) == {"Query": 5}


def values(found: Iterator[tuple[str, StudyRef]]) -> list[tuple[str, str]]:
    return [(value, ref.study) for value, ref in found]


def test_studies_by_value_exact_prefix_and_walk(catalog: CatalogReader) -> None:
    exact = catalog.studies_with_value(T, "PatientID", "P1", exact=True)
    assert values(exact) == [("P1", "1.1")]
    prefix = catalog.studies_with_value(T, "PatientID", "P1", exact=False)
    assert values(prefix) == [("P1", "1.1"), ("P10", "1.2")]
    walked = catalog.studies_with_value(T, "PatientID", "", exact=False)
    assert values(walked) == [("P1", "1.1"), ("P10", "1.2"), ("P2", "1.3")]
    assert values(catalog.studies_with_value(T, "PatientNameWord", "RICH", exact=False)) == [
        ("RICHARD", "1.3")
    ]
    assert values(catalog.studies_with_value(T, "ModalitiesInStudy", "MR", exact=True)) == [
        ("MR", "1.1")
    ]
    assert list(catalog.studies_with_value("t2", "PatientID", "P10", exact=True)) == []


def test_values_with_separators_are_escaped_inside_storage(catalog: CatalogReader) -> None:
    description = catalog.studies_with_value(T, "StudyDescription", "A#1", exact=True)
    assert values(description) == [("A#1", "1.1")]
    assert values(catalog.studies_with_value(T, "StudyDescription", "A", exact=True)) == []
    assert values(catalog.studies_with_value(T, "StudyDescription", "100%", exact=False)) == [
        ("100% done", "1.3")
    ]


def test_studies_by_date_newest_first_within_da_bounds(
    catalog: CatalogReader, counted: tuple[Any, AwsCallCounter]
) -> None:
    def studies(low: str | None = None, high: str | None = None) -> list[str]:
        return [r.study for r in catalog.studies_by_date(T, low, high)]

    assert studies() == ["1.2", "1.1", "1.3"]
    assert studies("20240105", "20240105") == ["1.1"]  # one day: its whole day
    assert studies("20240101") == ["1.2", "1.1"]
    assert studies(None, "20240105") == ["1.1", "1.3"]
    assert studies("20240106", "20250228") == []
    counted[1].reset()
    paged = catalog.studies_by_date(T, page_size=1)
    assert next(paged) == StudyRef(T, "1.2")
    assert calls(counted[1]) == {"Query": 1}  # lazily: the next page is read only if wanted
