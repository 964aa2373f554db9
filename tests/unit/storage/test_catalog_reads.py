"""The catalog's typed reads (``CatalogReader``) over moto's DynamoDB: entries and references
in, entries and references out, each access pattern one request (or one per page), every
base-table read consistent; and what a series or study DELETE leaves behind: hidden from every
read at once, removed by the clean-up until the catalog is what indexing what remains gives."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from chalicelib.dicomweb.dicomjson import element, tag_hex
from chalicelib.dicomweb.resources import InstanceRef, SeriesRef, StudyRef
from chalicelib.services.ports import CatalogReader, InstanceRecord, StoredObject
from chalicelib.storage import catalog_removal as catalog_module
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


# --- read after write: every base-table read is consistent --------------------------------


def test_every_base_table_read_is_consistent(
    catalog: CatalogReader, counted: tuple[DynamoCatalog, AwsCallCounter]
) -> None:
    """GetItem, Query and BatchGetItem on the base table ask for ConsistentRead; index
    Queries cannot (DynamoDB refuses it on a global secondary index)."""
    client = counted[0].reads._table.client
    seen: list[tuple[str, bool]] = []

    def capture(params: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name == "BatchGetItem":
            for table in params["RequestItems"].values():
                seen.append(("BatchGetItem", bool(table.get("ConsistentRead"))))
        elif "IndexName" not in params:
            seen.append((model.name, bool(params.get("ConsistentRead"))))

    client.meta.events.register("provide-client-params.dynamodb", capture)
    study, series = StudyRef(T, "1.1"), SeriesRef(T, "1.1", "1.1.1")
    instance = InstanceRef(T, "1.1", "1.1.1", "1.1.1.1")
    catalog.get_studies([study])
    list(catalog.iter_series(study))
    catalog.get_series(series)
    catalog.get_series_many([series])
    list(catalog.iter_instances(study))
    list(catalog.iter_instances(series))
    catalog.get_instance(instance)
    catalog.get_instances([instance])
    catalog.find_instances(T, "1.1.1.1")  # the by_uid index: not in ``seen``
    assert [name for name, _ in seen] == [
        "BatchGetItem",
        "Query",
        "GetItem",
        "BatchGetItem",
        "Query",
        "Query",
        "GetItem",
        "BatchGetItem",
    ]
    assert all(consistent for _, consistent in seen)


# --- what a series or study DELETE leaves, and its clean-up -------------------------------


def items(writer: DynamoCatalog) -> dict[tuple[str, str], dict[str, Any]]:
    """Every item of the table (a test may scan), history fields left out."""
    client = writer.reads._table.client
    got = client.scan(TableName=TABLE)["Items"]
    history = {"indexed_at", "meta_v"}
    return {
        (i["pk"]["S"], i["sk"]["S"]): {k: v for k, v in i.items() if k not in history} for i in got
    }


def rebuilt(records: list[InstanceRecord]) -> dict[tuple[str, str], dict[str, Any]]:
    """The catalog that indexing only these records gives (a rebuild from what S3 holds)."""
    client = boto3.client("dynamodb", region_name="us-east-1")
    client.delete_table(TableName=TABLE)
    client.create_table(**catalog_table(TABLE))
    writer = DynamoCatalog(client, TABLE)
    for rec in records:
        writer.index_instance(rec)
    return items(writer)


STUDY = StudyRef(T, "5.1")
CT, MR = SeriesRef(T, "5.1", "5.1.1"), SeriesRef(T, "5.1", "5.1.2")


def indexed(writer: DynamoCatalog, refs: list[tuple[InstanceRef, str]]) -> list[InstanceRecord]:
    made = [record(ref, modality=modality, number=i + 1) for i, (ref, modality) in enumerate(refs)]
    for rec in made:
        writer.index_instance(rec)
    return made


def study_of_two_series(writer: DynamoCatalog) -> list[InstanceRecord]:
    ct = [(InstanceRef(T, "5.1", CT.series, f"{CT.series}.{n}"), "CT") for n in (1, 2, 3)]
    mr = [(InstanceRef(T, "5.1", MR.series, f"{MR.series}.{n}"), "MR") for n in (1, 2)]
    return indexed(writer, ct + mr)


def test_a_series_removed_hides_its_instances_and_the_clean_up_converges(
    counted: tuple[DynamoCatalog, AwsCallCounter],
) -> None:
    writer, reads = counted[0], counted[0].reads
    made = study_of_two_series(writer)
    assert writer.remove_series(MR) is True
    # at once: the series, its instances (by path and by reference) and its counts are gone
    assert [s.ref for s in reads.iter_series(STUDY)] == [CT]
    assert reads.get_series(MR) is None and reads.get_series_many([MR]) == []
    assert list(reads.iter_instances(MR)) == []
    assert [e.ref.series for e in reads.iter_instances(STUDY)] == [CT.series] * 3
    assert reads.get_instances([r.ref for r in made[3:]]) == []
    (study,) = reads.get_studies([STUDY])
    assert (study.series_count, study.instance_count, study.modalities) == (1, 3, ("CT",))
    assert list(reads.studies_with_value(T, "ModalitiesInStudy", "MR", exact=True)) == []
    # the by_uid index still lists what is left behind: its items exist until the clean-up
    assert reads.find_instances(T, made[3].ref.sop) == [made[3].ref]
    assert writer.remove_series(MR) is False
    # the clean-up, as the indexer does it on each ObjectRemoved event, twice for the second
    assert [writer.remove_instance(r.ref) for r in made[3:]] == [True, True]
    assert writer.remove_instance(made[4].ref) is False
    assert items(writer) == rebuilt(made[:3])


def test_a_study_removed_in_several_transactions_converges(
    counted: tuple[DynamoCatalog, AwsCallCounter], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(catalog_module, "SERIES_PER_TRANSACTION", 2)
    writer, counter = counted
    refs = [(InstanceRef(T, "5.1", f"5.1.{s}", f"5.1.{s}.1"), "CT") for s in range(1, 6)]
    made = indexed(writer, refs)
    kept = indexed(writer, [(InstanceRef(T, "6.1", "6.1.1", "6.1.1.1"), "MR")])
    counter.reset()
    assert writer.remove_study(STUDY) is True
    assert calls(counter)["TransactWriteItems"] == 3  # 2 + 2 + (1 and the study)
    reads = writer.reads
    assert reads.get_studies([STUDY]) == [] and list(reads.iter_series(STUDY)) == []
    assert list(reads.iter_instances(STUDY)) == []
    assert list(reads.studies_by_date(T)) == [StudyRef(T, "6.1")]
    assert writer.remove_study(STUDY) is False
    assert all(writer.remove_instance(r.ref) for r in made)
    assert items(writer) == rebuilt(kept)


def test_what_a_delete_left_is_never_counted_off_a_series_created_again(
    counted: tuple[DynamoCatalog, AwsCallCounter],
) -> None:
    writer, reads = counted[0], counted[0].reads
    made = study_of_two_series(writer)
    writer.remove_series(MR)
    (again,) = indexed(writer, [(InstanceRef(T, "5.1", MR.series, f"{MR.series}.9"), "MR")])
    assert [e.ref for e in reads.iter_instances(MR)] == [again.ref]  # the old ones hidden
    assert [e.ref for e in reads.get_instances([made[3].ref, again.ref])] == [again.ref]
    assert all(writer.remove_instance(r.ref) for r in made[3:])
    series = reads.get_series(MR)
    assert series is not None and series.instance_count == 1
    assert items(writer) == rebuilt([*made[:3], again])


def test_an_instance_left_behind_is_dropped_before_it_is_stored_again(
    counted: tuple[DynamoCatalog, AwsCallCounter],
) -> None:
    writer = counted[0]
    made = study_of_two_series(writer)
    writer.remove_series(MR)
    assert writer.drop_left_behind(made[0].ref) is False  # counted: stays
    assert writer.drop_left_behind(made[3].ref) is True
    assert writer.index_instance(made[3]) == "created"
    assert writer.remove_instance(made[4].ref) is True
    assert items(writer) == rebuilt([*made[:4]])


def test_a_series_that_changed_since_it_was_read_is_read_again(
    counted: tuple[DynamoCatalog, AwsCallCounter],
) -> None:
    """An instance indexed between the DELETE's read of the series and its transaction: the
    transaction fails its condition and the DELETE reads the series again (counts exact)."""
    writer = counted[0]
    made = study_of_two_series(writer)
    late = record(InstanceRef(T, "5.1", MR.series, f"{MR.series}.7"), modality="MR", number=7)
    client = writer.reads._table.client
    fired = []

    def index_first(**_: Any) -> None:
        if not fired:
            fired.append(1)
            writer.index_instance(late)

    client.meta.events.register("before-call.dynamodb.TransactWriteItems", index_first)
    try:
        assert writer.remove_series(MR) is True
    finally:
        client.meta.events.unregister("before-call.dynamodb.TransactWriteItems", index_first)
    (study,) = writer.reads.get_studies([STUDY])
    assert (study.series_count, study.instance_count) == (1, 3)
    assert all(writer.remove_instance(r.ref) for r in [*made[3:], late])
    assert items(writer) == rebuilt(made[:3])
