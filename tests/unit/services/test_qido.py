"""services/qido.py: the six QIDO resources over a real catalog (moto's DynamoDB, filled by the
indexer from real pydicom instances in moto's S3), answered as one Body: DICOM JSON, or
multipart DICOM XML, with the Warning header for what was ignored or cut."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.config import Settings
from chalicelib.dicomweb.dicomjson import tag_hex
from chalicelib.dicomweb.media import DICOM_JSON, DICOM_XML
from chalicelib.dicomweb.query import parse_query
from chalicelib.dicomweb.resources import InstanceRef, SeriesRef, StudyRef
from chalicelib.services.answers import Body
from chalicelib.services.indexer import Indexer
from chalicelib.services.qido import LEVELS, Qido, SearchRequest, matching_keys
from chalicelib.services.qido_search import Search
from chalicelib.storage.catalog import DynamoCatalog
from chalicelib.storage.keys import instance_key
from chalicelib.storage.metering import AwsCallCounter
from chalicelib.storage.objects import S3ObjectStore
from chalicelib.storage.schema import catalog_table
from tests.factories import dataset, to_bytes, uid

T = "t1"
BASE = "https://dicomweb.example/prod"
HOST = "dicomweb.example"


class Catalog:
    """Two studies of one patient, a third of another; stored and indexed as the service
    does it."""

    def __init__(self) -> None:
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="qido-unit")
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(**catalog_table("catalog"))
        self.counter = AwsCallCounter()
        self.counter.attach(dynamodb)
        store = S3ObjectStore(s3, "qido-unit")
        catalog = DynamoCatalog(dynamodb, "catalog")
        indexer = Indexer(store, catalog, Settings())
        self.qido = Qido(catalog.reads)
        self.study, self.other, self.third = uid(), uid(), uid()
        self.series = [uid(), uid()]
        self.refs: list[InstanceRef] = []
        made = [
            dataset(study=self.study, series=self.series[0], modality="CT", StudyDate="20240105"),
            dataset(study=self.study, series=self.series[0], modality="CT", StudyDate="20240105"),
            dataset(study=self.study, series=self.series[1], modality="MR", StudyDate="20240105"),
            dataset(study=self.other, modality="MR", StudyDate="20250301"),
            dataset(study=self.third, modality="CT", PatientID="PID-2", StudyDate="20230710"),
        ]
        for ds in made:
            ref = InstanceRef(T, ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)
            store.put(instance_key(ref), to_bytes(ds), "application/dicom")
            indexer.handle_key(instance_key(ref))
            self.refs.append(ref)
        self.counter.reset()


@pytest.fixture
def cat() -> Iterator[Catalog]:
    with mock_aws():
        yield Catalog()


def req(params: dict[str, list[str]] | None = None, xml: bool = False) -> SearchRequest:
    return SearchRequest(parse_query(params or {}, 100, 1000), xml, BASE, HOST)


def matches(body: Body) -> list[dict[str, Any]]:
    assert body.media_type == DICOM_JSON and not body.multipart and body.status == 200
    (part,) = body.parts
    assert isinstance(part.content, bytes)
    found: list[dict[str, Any]] = json.loads(part.content)
    return found


def values(found: list[dict[str, Any]], keyword: str) -> list[Any]:
    return [m[tag_hex(keyword)]["Value"][0] for m in found]


def test_studies_newest_first_with_their_retrieve_url(cat: Catalog) -> None:
    body = cat.qido.search_for_studies(T, req())
    found = matches(body)
    assert values(found, "StudyInstanceUID") == [cat.other, cat.study, cat.third]
    assert values(found, "RetrieveURL")[1] == f"{BASE}/studies/{cat.study}"
    assert values(found, "NumberOfStudyRelatedInstances")[1] == 3
    assert "Warning" not in body.headers


def test_a_key_matches_and_the_ignored_are_warned_of(cat: Catalog) -> None:
    params = {"PatientID": ["PID-2"], "NoSuchAttribute": ["x"], "includefield": ["Rows"]}
    body = cat.qido.search_for_studies(T, req(params))
    assert values(matches(body), "StudyInstanceUID") == [cat.third]
    warning = body.headers["Warning"]
    assert warning.startswith(f'299 {HOST} "NoSuchAttribute is not a known attribute')
    assert "Rows is not available and was not included" in warning


def test_the_servers_cap_is_warned_of_with_the_count_left(cat: Catalog) -> None:
    query = parse_query({}, 1, 1000)  # no limit asked: the server's default (1) applies
    body = cat.qido.search_for_studies(T, SearchRequest(query, False, BASE, HOST))
    assert len(matches(body)) == 1
    assert "There are 2 additional results that can be requested" in body.headers["Warning"]


def test_xml_is_one_native_dicom_model_part_per_match(cat: Catalog) -> None:
    body = cat.qido.search_for_studies(T, req({"Foo": ["1"]}, xml=True))
    assert body.multipart and body.media_type == DICOM_XML and len(body.parts) == 3
    assert "Warning" in body.headers
    for part in body.parts:
        assert part.content_type == DICOM_XML and isinstance(part.content, bytes)
        assert ET.fromstring(part.content).tag.endswith("}NativeDicomModel")


def test_series_of_a_study_and_of_every_study(cat: Catalog) -> None:
    ref = StudyRef(T, cat.study)
    found = matches(cat.qido.search_for_series(ref, req()))
    assert sorted(values(found, "SeriesInstanceUID")) == sorted(cat.series)
    assert tag_hex("PatientID") not in found[0]  # the study's attributes are not searched here
    mr = matches(cat.qido.search_for_all_series(T, req({"Modality": ["MR"]})))
    assert sorted(values(mr, "StudyInstanceUID")) == sorted([cat.study, cat.other])
    assert values(mr, "PatientID") == ["PID-1", "PID-1"]


def test_series_by_uid_reads_no_study_index(cat: Catalog) -> None:
    found = matches(cat.qido.search_for_all_series(T, req({"SeriesInstanceUID": [cat.series[1]]})))
    assert values(found, "SeriesInstanceUID") == [cat.series[1]]
    assert values(found, "StudyInstanceUID") == [cat.study]
    assert cat.counter.calls("dynamodb.Query") == 1  # the series UID index, nothing else


def test_instances_of_a_series_of_a_study_and_of_every_study(cat: Catalog) -> None:
    in_series = cat.qido.search_for_instances_in_series(
        SeriesRef(T, cat.study, cat.series[0]), req()
    )
    assert sorted(values(matches(in_series), "SOPInstanceUID")) == sorted(
        r.sop for r in cat.refs[:2]
    )
    in_study = matches(cat.qido.search_for_instances_in_study(StudyRef(T, cat.study), req()))
    assert len(in_study) == 3 and set(values(in_study, "Modality")) == {"CT", "MR"}
    url = values(in_study, "RetrieveURL")[0]
    assert url.startswith(f"{BASE}/studies/{cat.study}/series/")
    everything = matches(cat.qido.search_for_all_instances(T, req()))
    assert len(everything) == 5


def test_instances_by_sop_or_series_uid(cat: Catalog) -> None:
    sop = cat.refs[3]
    by_sop = matches(cat.qido.search_for_all_instances(T, req({"SOPInstanceUID": [sop.sop]})))
    assert values(by_sop, "StudyInstanceUID") == [sop.study]
    assert values(by_sop, "PatientID") == ["PID-1"]  # with its study's attributes
    by_series = cat.qido.search_for_all_instances(
        T, req({"SeriesInstanceUID": [cat.series[0]]}, xml=True)
    )
    assert len(by_series.parts) == 2


def test_no_match_is_an_empty_list(cat: Catalog) -> None:
    assert matches(cat.qido.search_for_studies(T, req({"PatientID": ["nobody"]}))) == []
    assert matches(cat.qido.search_for_series(StudyRef(T, uid()), req())) == []


def test_matching_keys_are_the_levels_supported_keys() -> None:
    for resource in LEVELS:
        keys = matching_keys(resource)
        assert (
            keys == sorted(keys)
            and set(keys) == Search(parse_query({}, 1, 1), resource).supported()
        )
    assert "ModalitiesInStudy" in matching_keys("studies")
    assert "SOPInstanceUID" in matching_keys("instances")
    assert "PatientID" not in matching_keys("series-instances")


def test_more_results_are_linked_and_counted_on_keys_only_where_the_key_answers(
    cat: Catalog,
) -> None:
    """Served by its key (no filter): the cap's count, on index keys. A filter the key does not
    answer: no count (it would take reading the items), but the same next link."""
    query = parse_query({}, 1, 1000)
    body = cat.qido.search_for_all_instances(T, SearchRequest(query, False, BASE, HOST))
    assert "There are 4 additional results that can be requested" in body.headers["Warning"]
    assert body.headers["Link"].startswith(f"<{BASE}/instances?offset=1&cursor=")
    filtered = parse_query({"Rows": ["16"]}, 1, 1000)
    body = cat.qido.search_for_all_instances(T, SearchRequest(filtered, False, BASE, HOST))
    assert 'additional results that can be requested"' in body.headers["Warning"]
    assert "There are additional results" in body.headers["Warning"]
    assert body.headers["Link"].startswith(f"<{BASE}/instances?Rows=16&offset=1&cursor=")
    assert cat.counter.calls("dynamodb.Scan") == 0
