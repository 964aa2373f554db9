"""services/metadata.py: study, series and instance metadata as one Body (DICOM JSON,
gzip-encodable, or multipart DICOM+XML) with its ETag, or Empty(304) found from the catalog
alone (S3 and DynamoDB on moto, real datasets)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator

import pydicom
import pytest

from chalicelib.dicomweb.errors import NotAcceptable, NotFound
from chalicelib.dicomweb.media import parse_accept
from chalicelib.dicomweb.resources import InstanceRef, SeriesRef, StudyRef
from chalicelib.services.answers import Body, Empty
from chalicelib.services.metadata import Metadata
from chalicelib.storage.keys import bundles_prefix
from tests.factories import dataset, uid
from tests.unit.services.retrieval import BASE_URL, TENANT, Storage, sent_parts, storage

JSON = parse_accept("application/dicom+json")
XML = parse_accept('multipart/related; type="application/dicom+xml"')
SOP = "00080018"


@pytest.fixture
def s3() -> Iterator[Storage]:
    yield from storage()


@pytest.fixture
def stored(s3: Storage) -> list[InstanceRef]:
    study, series = uid(), uid()
    made: list[pydicom.Dataset] = [
        dataset(study=study, series=series, InstanceNumber=n) for n in (2, 1)
    ]
    made.append(dataset(study=study))  # a second series
    return [s3.put(ds) for ds in made]


def sops(body: bytes) -> list[str]:
    return [d[SOP]["Value"][0] for d in json.loads(body)]


def test_series_metadata_is_json_with_its_etag_and_absolute_uris(
    s3: Storage, stored: list[InstanceRef]
) -> None:
    ref = stored[0].series_ref
    body = Metadata(s3.store, s3.reads).retrieve_series_metadata(ref, JSON, None, BASE_URL)
    assert isinstance(body, Body) and not body.multipart and body.compressible
    assert body.media_type == "application/dicom+json"
    assert body.spill_to == bundles_prefix(TENANT, ref.study)
    data = body.parts[0].content
    assert isinstance(data, bytes)
    assert sops(data) == [stored[1].sop, stored[0].sop]  # by InstanceNumber
    uri = json.loads(data)[0]["7FE00010"]["BulkDataURI"]
    assert uri.startswith(f"{BASE_URL}/studies/{ref.study}/series/{ref.series}/instances/")
    etag = body.headers["ETag"]
    sent = s3.send(body, headers={"accept-encoding": "gzip"})
    assert sent.headers["Content-Encoding"] == "gzip" and sent.headers["ETag"] == etag
    assert gzip.decompress(sent.body) == data


def test_a_current_etag_is_304_from_one_getitem(s3: Storage, stored: list[InstanceRef]) -> None:
    ref = stored[0].series_ref
    metadata = Metadata(s3.store, s3.reads)
    body = metadata.retrieve_series_metadata(ref, JSON, None, BASE_URL)
    assert isinstance(body, Body)
    s3.counter.reset()
    again = metadata.retrieve_series_metadata(ref, JSON, body.headers["ETag"], BASE_URL)
    assert again == Empty(304) and s3.calls() == {"GetItem": 1}
    study = metadata.retrieve_study_metadata(ref.study_ref, JSON, None, BASE_URL)
    assert isinstance(study, Body)
    s3.counter.reset()
    current = metadata.retrieve_study_metadata(ref.study_ref, JSON, study.headers["ETag"], BASE_URL)
    assert current == Empty(304) and s3.calls() == {"Query": 1}


def test_study_and_instance_metadata(s3: Storage, stored: list[InstanceRef]) -> None:
    metadata = Metadata(s3.store, s3.reads)
    study = metadata.retrieve_study_metadata(stored[0].study_ref, JSON, None, BASE_URL)
    assert isinstance(study, Body)
    assert sorted(sops(study.parts[0].content)) == sorted(r.sop for r in stored)  # type: ignore[arg-type]
    one = metadata.retrieve_instance_metadata(stored[2], JSON, None, BASE_URL)
    assert isinstance(one, Body) and sops(one.parts[0].content) == [stored[2].sop]  # type: ignore[arg-type]
    assert one.spill_to == bundles_prefix(TENANT, stored[2].study)
    again = metadata.retrieve_instance_metadata(stored[2], JSON, one.headers["ETag"], BASE_URL)
    assert again == Empty(304)


def test_dicom_xml_is_one_part_per_instance_with_the_etag(
    s3: Storage, stored: list[InstanceRef]
) -> None:
    ref = stored[0].series_ref
    body = Metadata(s3.store, s3.reads).retrieve_series_metadata(ref, XML, None, BASE_URL)
    assert isinstance(body, Body) and body.multipart and body.media_type == "application/dicom+xml"
    assert len(body.parts) == 2 and body.headers["ETag"]
    sent = s3.send(body)
    got = sent_parts(sent)
    assert got[0].content.startswith(b"<?xml") and got[0].content_type == "application/dicom+xml"
    assert sent.headers["ETag"] == body.headers["ETag"]


def test_not_found_and_not_acceptable(s3: Storage, stored: list[InstanceRef]) -> None:
    metadata = Metadata(s3.store, s3.reads)
    with pytest.raises(NotFound):
        metadata.retrieve_study_metadata(StudyRef(TENANT, uid()), JSON, None, BASE_URL)
    with pytest.raises(NotFound):
        metadata.retrieve_series_metadata(SeriesRef(TENANT, uid(), uid()), JSON, None, BASE_URL)
    with pytest.raises(NotFound):
        metadata.retrieve_instance_metadata(
            InstanceRef(TENANT, uid(), uid(), uid()), JSON, None, BASE_URL
        )
    with pytest.raises(NotAcceptable):
        metadata.retrieve_series_metadata(
            stored[0].series_ref, parse_accept("image/png"), None, BASE_URL
        )
