"""The catalog's listing keys (by_list, by_attr) and the reads that resume (``catalog_resume.py``)
over moto's DynamoDB: series and instances newest first across the write shards, of one
Modality or SOPClassUID, in a date range; every read resumed after any position it gave reads
on exactly where it stopped; the keys are written by indexing and re-written by a reconcile of
an item indexed before them (the backfill ``cli reindex`` runs)."""

from __future__ import annotations

import dataclasses
from typing import Any

import boto3
import pytest

from chalicelib.dicomweb.dicomjson import element, tag_hex
from chalicelib.dicomweb.resources import InstanceRef, SeriesRef, StudyRef
from chalicelib.services.ports import InstanceRecord, StoredObject
from chalicelib.storage import keys
from chalicelib.storage.catalog import DynamoCatalog
from chalicelib.storage.metering import AwsCallCounter
from chalicelib.storage.schema import catalog_table
from chalicelib.storage.visibility import DynamoIndexVisibility, index_entries

TABLE = "catalog"
T = "t1"
CT, SC = "1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.7"


def rec(
    study: str,
    series: str,
    sop: str,
    *,
    day: int = 1,
    series_day: int | None = None,
    modality: str = "CT",
    sop_class: str = CT,
    etag: str = "e1",
    tenant: str = T,
) -> InstanceRecord:
    series_attrs = {tag_hex("Modality"): element("CS", modality)} if modality else {}
    if series_day is not None:
        series_attrs[tag_hex("SeriesDate")] = element("DA", f"202403{series_day:02d}")
        series_attrs[tag_hex("SeriesTime")] = element("TM", "080000")
    return InstanceRecord(
        ref=InstanceRef(tenant, study, series, sop),
        study_attrs={tag_hex("StudyDate"): element("DA", f"202401{day:02d}")},
        series_attrs=series_attrs,
        instance_attrs={tag_hex("SOPClassUID"): element("UI", sop_class)},
        transfer_syntax="1.2.840.10008.1.2.1",
        object=StoredObject(f"dicom/{tenant}/{study}/{series}/{sop}.dcm", 10, etag),
        modality=modality,
        patient_id="P1",
        study_date=f"202401{day:02d}",
        study_time="120000",
    )


@pytest.fixture
def db(aws: None) -> tuple[DynamoCatalog, Any, AwsCallCounter]:
    client = boto3.client("dynamodb", region_name="us-east-1")
    client.create_table(**catalog_table(TABLE))
    counter = AwsCallCounter()
    counter.attach(client)
    return DynamoCatalog(client, TABLE), client, counter


def filled(db: Any, studies: int = 12) -> list[InstanceRecord]:
    """``studies`` studies on days 1..n, two series each (CT, MR), two instances a series; one
    instance in three of class SC; another tenant's study on the newest day."""
    catalog, _, counter = db
    made = []
    for s in range(studies):
        for m, modality in enumerate(("CT", "MR")):
            for i in range(2):
                made.append(
                    rec(
                        f"1.{s}",
                        f"1.{s}.{m}",
                        f"1.{s}.{m}.{i}",
                        day=s + 1,
                        modality=modality,
                        sop_class=SC if (s + m + i) % 3 == 0 else CT,
                    )
                )
    made.append(rec("9.9", "9.9.9", "9.9.9.9", day=28, tenant="t2"))
    for r in made:
        catalog.index_instance(r)
    counter.reset()
    return [r for r in made if r.ref.tenant == T]


def raw(client: Any, pk: str, sk: str) -> dict[str, Any]:
    got = client.get_item(TableName=TABLE, Key={"pk": {"S": pk}, "sk": {"S": sk}})
    return {k: next(iter(v.values())) for k, v in got["Item"].items()}


def calls(counter: AwsCallCounter) -> dict[str, int]:
    return {k.split(".")[1]: int(v["calls"]) for k, v in counter.snapshot().items()}


def test_series_and_instance_items_carry_their_listing_keys(db: Any) -> None:
    catalog, client, _ = db
    catalog.index_instance(rec("1.1", "1.1.1", "1.1.1.1", day=5, series_day=7))
    series = raw(client, f"{T}#1.1", "SERIES#1.1.1")
    shard = keys.list_shard("1.1.1")
    assert series["lst_pk"] == f"{T}#SERIES#{shard}"
    assert series["lst_sk"] == keys.series_list_sk(
        "20240307120000", "1.1", "1.1.1"
    )  # its date, its study's time
    assert (series["atr_pk"], series["atr_sk"]) == (
        f"{T}#SERIES#Modality#CT#{shard}",
        series["lst_sk"],
    )
    instance = raw(client, f"{T}#1.1", "INSTANCE#1.1.1#1.1.1.1")
    shard = keys.list_shard("1.1.1.1")
    assert instance["lst_pk"] == f"{T}#INSTANCE#{shard}"
    assert instance["lst_sk"].startswith(series["lst_sk"] + "#")  # with its series, by its date
    assert instance["atr_pk"] == f"{T}#INSTANCE#SOPClassUID#{CT}#{shard}"
    assert int(instance["kv"]) == int(series["kv"]) == keys.LIST_KEYS_VERSION
    # a series without SeriesDate is listed by its study's date and time
    catalog.index_instance(rec("1.2", "1.2.1", "1.2.1.1", day=9))
    assert raw(client, f"{T}#1.2", "SERIES#1.2.1")["lst_sk"].startswith("20240109120000#")


def test_a_value_gone_takes_its_attribute_key_with_it(db: Any) -> None:
    catalog, client, _ = db
    catalog.index_instance(rec("1.1", "1.1.1", "1.1.1.1"))
    again = rec("1.1", "1.1.1", "1.1.1.1", modality="", sop_class="", etag="e2")
    assert catalog.index_instance(again) == "replaced"
    for sk in ("SERIES#1.1.1", "INSTANCE#1.1.1#1.1.1.1"):
        item = raw(client, f"{T}#1.1", sk)
        assert "lst_pk" in item and "atr_pk" not in item and "atr_sk" not in item


def test_series_newest_first_across_the_shards(db: Any) -> None:
    catalog, client, counter = db
    made = filled(db)
    shards = {raw(client, f"{T}#{r.ref.study}", f"SERIES#{r.ref.series}")["lst_pk"] for r in made}
    assert len(shards) > 1  # the test spreads over several write shards
    listed = [ref for _, ref in catalog.reads.listed_series(T)]
    days = [int(ref.study.split(".")[1]) for ref in listed]
    assert days == sorted(days, reverse=True) and len(listed) == 24
    assert {ref.series for ref in listed} == {r.ref.series for r in made}
    mr = [ref.series for _, ref in catalog.reads.listed_series(T, modality="MR")]
    assert mr == [ref.series for ref in listed if ref.series.endswith(".1")]
    ranged = [r.study for _, r in catalog.reads.listed_series(T, low="20240103", high="20240105")]
    assert ranged == ["1.4", "1.4", "1.3", "1.3", "1.2", "1.2"]
    assert list(catalog.reads.listed_series("t3")) == []
    counter.reset()
    first = catalog.reads.listed_series(T, page_size=4)
    assert [next(first) for _ in range(4)]
    assert calls(counter) == {"Query": keys.LIST_SHARDS}  # one page of each shard


def test_a_shard_that_runs_short_reads_on_in_quarter_shares(db: Any) -> None:
    """Each shard's first Query reads its share of the page (plus SHARD_SLACK); one that runs
    short is short by the hash's spread, not a whole share: its next Queries read a quarter
    share (at least twice the slack), which kept a deep offset at ~1,250 entries per 1,000."""
    from chalicelib.storage.catalog_resume import SHARD_SLACK

    catalog, client, _ = db
    filled(db, studies=40)  # 80 series over the shards
    limits: list[tuple[str, int]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        if params.get("IndexName") == "by_list":
            limits.append((params["KeyConditionExpression"], params.get("Limit", 0)))

    client.meta.events.register("provide-client-params.dynamodb.Query", record)
    page = 200  # more than there are: every shard runs out after its first page
    listed = list(catalog.reads.listed_series(T, page_size=page))
    share = -(-page // keys.LIST_SHARDS) + SHARD_SLACK
    assert len(listed) == 80 and [limit for _, limit in limits] == [share] * keys.LIST_SHARDS
    limits.clear()
    page = 40  # the shards hold ~20 each: most read a second, smaller, page
    share = -(-page // keys.LIST_SHARDS) + SHARD_SLACK
    more = max(2 * SHARD_SLACK, share // 4)
    assert len(list(catalog.reads.listed_series(T, page_size=page))) == 80
    firsts = limits[: keys.LIST_SHARDS]
    assert [limit for _, limit in firsts] == [share] * keys.LIST_SHARDS
    assert limits[keys.LIST_SHARDS :] and {limit for _, limit in limits[keys.LIST_SHARDS :]} == {
        more
    }


def test_instances_newest_first_and_by_sop_class(db: Any) -> None:
    catalog, _, _ = db
    made = filled(db)
    listed = [ref for _, ref in catalog.reads.listed_instances(T)]
    assert sorted(r.sop for r in listed) == sorted(r.ref.sop for r in made)
    days = [int(ref.study.split(".")[1]) for ref in listed]
    assert days == sorted(days, reverse=True)
    runs = [ref.series_ref for ref in listed]
    assert all(runs[i] == runs[i + 1] for i in range(0, len(runs), 2))  # a series together
    sc = [ref.sop for _, ref in catalog.reads.listed_instances(T, sop_class=SC)]
    assert sorted(sc) == sorted(
        r.ref.sop for r in made if (r.instance_attrs[tag_hex("SOPClassUID")]["Value"] == [SC])
    )


@pytest.mark.parametrize("page", [1, 3, 7])
def test_every_read_resumes_exactly_after_a_position_it_gave(db: Any, page: int) -> None:
    catalog, _, _ = db
    made = filled(db)
    reads = catalog.reads
    study = StudyRef(T, "1.3")

    def resumed(read: Any) -> list[Any]:
        """Read ``page`` results at a time, each read starting after the last position."""
        out: list[Any] = []
        after = None
        while True:
            got = list(_take(read(after), page))
            out += [rest for _, *rest in got]
            if len(got) < page:
                return out
            after = got[-1][0]

    cases = {
        "series": lambda a: reads.listed_series(T, after=a, page_size=page),
        "MR series": lambda a: reads.listed_series(T, modality="MR", after=a, page_size=page),
        "dated series": lambda a: reads.listed_series(T, low="20240102", high="20240110", after=a),
        "instances": lambda a: reads.listed_instances(T, after=a, page_size=page),
        "SC instances": lambda a: reads.listed_instances(T, sop_class=SC, after=a),
        "studies": lambda a: reads.dated_studies(T, after=a, page_size=page),
        "dated studies": lambda a: reads.dated_studies(T, "20240104", "20240109", after=a),
        "values": lambda a: reads.valued_studies(T, "ModalitiesInStudy", "", exact=False, after=a),
        "exact": lambda a: reads.valued_studies(T, "PatientID", "P1", exact=True, after=a),
        "a study's series": lambda a: reads.series_in_study(study, after=a, page_size=page),
        "a study's instances": lambda a: reads.instances_in(study, after=a, page_size=page),
    }
    for name, read in cases.items():
        whole = [rest for _, *rest in read(None)]
        assert whole, name
        assert resumed(read) == whole, name
    assert len(made) == 48


def test_a_position_outside_the_read_yields_nothing(db: Any) -> None:
    catalog, _, _ = db
    filled(db)
    reads = catalog.reads
    assert list(reads.valued_studies(T, "PatientID", "P1", exact=True, after="P2#1.1")) == []
    assert list(reads.dated_studies(T, "20240105", None, after="20240101000000#1.0")) == []
    assert list(reads.series_in_study(StudyRef(T, "1.1"), after="INSTANCE#x")) == []
    assert list(reads.instances_in(StudyRef(T, "1.1"), after="x" * 2000)) == []


def test_resuming_inside_a_deleted_series_still_hides_its_instances(db: Any) -> None:
    catalog, _, _ = db
    filled(db)
    series = SeriesRef(T, "1.2", "1.2.0")
    first, _ = next(iter(catalog.reads.instances_in(StudyRef(T, "1.2"))))
    assert catalog.remove_series(series)
    rest = [e.ref.series for _, e in catalog.reads.instances_in(StudyRef(T, "1.2"), after=first)]
    assert rest == ["1.2.1", "1.2.1"]


def test_an_item_indexed_before_the_listing_keys_is_re_keyed_when_reconciled(db: Any) -> None:
    catalog, client, _ = db
    made = rec("1.1", "1.1.1", "1.1.1.1")
    catalog.index_instance(made)
    for sk in ("SERIES#1.1.1", "INSTANCE#1.1.1#1.1.1.1"):  # as the code before them wrote it
        client.update_item(
            TableName=TABLE,
            Key={"pk": {"S": f"{T}#1.1"}, "sk": {"S": sk}},
            UpdateExpression="REMOVE lst_pk, lst_sk, atr_pk, atr_sk, kv",
        )
    assert list(catalog.reads.listed_instances(T)) == []
    assert not catalog.holds(made.ref, "e1", None)  # so the indexer reconciles it in full
    assert catalog.index_instance(made) == "unchanged"
    assert [r.sop for _, r in catalog.reads.listed_instances(T)] == ["1.1.1.1"]
    assert [r.series for _, r in catalog.reads.listed_series(T, modality="CT")] == ["1.1.1"]
    assert catalog.holds(made.ref, "e1", None)


def test_a_stow_waits_for_the_listing_entries_too(db: Any) -> None:
    catalog, client, _ = db
    made = rec("1.1", "1.1.1", "1.1.1.1")
    entries = index_entries(made)
    assert {e[0] for e in entries} == {"by_uid", "by_date", "by_value", "by_list", "by_attr"}
    assert sum(e[0] in ("by_list", "by_attr") for e in entries) == 4
    visibility = DynamoIndexVisibility(client, TABLE)
    assert visibility.wait_visible([made], timeout=0) == [made.ref]  # not written yet
    catalog.index_instance(made)
    assert visibility.wait_visible([made], timeout=0) == []
    no_class = dataclasses.replace(made, instance_attrs={})
    assert sum(e[0] == "by_attr" for e in index_entries(no_class)) == 1


def _take(it: Any, n: int) -> Any:
    for i, x in enumerate(it):
        if i >= n:
            return
        yield x
