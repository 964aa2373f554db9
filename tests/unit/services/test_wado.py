"""services/wado.py: study, series and instance retrieval answer one Body whatever the size;
``max_inline`` only chooses how the objects are read (S3 and DynamoDB on moto, real
datasets)."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator

import pydicom
import pytest

from chalicelib.dicomweb.errors import NotAcceptable, NotFound
from chalicelib.dicomweb.media import parse_accept
from chalicelib.dicomweb.resources import InstanceRef, SeriesRef, StudyRef
from chalicelib.services.answers import ObjectSlice, ZipArchive
from chalicelib.services.wado import Wado
from chalicelib.storage.keys import bundles_prefix, instance_key
from tests.factories import dataset, to_bytes, uid
from tests.unit.services.retrieval import TENANT, Storage, parts_of, sent_parts, storage

ELE = "1.2.840.10008.1.2.1"
IMPLICIT = "1.2.840.10008.1.2"
ANY = parse_accept('multipart/related; type="application/dicom"; transfer-syntax=*')
AS_IMPLICIT = parse_accept(
    f'multipart/related; type="application/dicom"; transfer-syntax={IMPLICIT}'
)
SINGLE = parse_accept("application/dicom")
ZIP = parse_accept("application/zip")


@pytest.fixture
def s3() -> Iterator[Storage]:
    yield from storage()


@pytest.fixture
def series(s3: Storage) -> list[pydicom.Dataset]:
    study, series = uid(), uid()
    made = [dataset(study=study, series=series, InstanceNumber=n) for n in (1, 2, 3)]
    for ds in made:
        s3.put(ds)
    return made


def series_ref(ds: pydicom.Dataset) -> SeriesRef:
    return SeriesRef(TENANT, ds.StudyInstanceUID, ds.SeriesInstanceUID)


def instance_ref(ds: pydicom.Dataset) -> InstanceRef:
    return InstanceRef(TENANT, ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)


def test_series_under_max_inline_is_read_in_one_listing_and_a_get_each(
    s3: Storage, series: list[pydicom.Dataset]
) -> None:
    body = Wado(s3.store, s3.reads, 1 << 20).retrieve_series(series_ref(series[0]), ANY)
    assert s3.calls() == {"ListObjectsV2": 1, "GetObject": 3}
    assert body.multipart and body.media_type == "application/dicom"
    assert sorted(p.content for p in body.parts) == sorted(to_bytes(d) for d in series)  # type: ignore[type-var]
    assert {p.content_type for p in body.parts} == {f"application/dicom; transfer-syntax={ELE}"}
    first = series[0]
    assert body.spill_to == bundles_prefix(TENANT, first.StudyInstanceUID, first.SeriesInstanceUID)


def test_series_over_max_inline_is_left_unread_and_spilled_by_respond(
    s3: Storage, series: list[pydicom.Dataset]
) -> None:
    body = Wado(s3.store, s3.reads, 100).retrieve_series(series_ref(series[0]), ANY)
    assert s3.calls() == {"ListObjectsV2": 1, "Query": 1}  # the syntaxes from the catalog
    assert all(isinstance(p.content, ObjectSlice) and p.content.whole for p in body.parts)
    under = s3.send(body)
    assert sorted(p.content for p in sent_parts(under)) == sorted(to_bytes(d) for d in series)
    over = s3.send(body, limit=1000)
    key, content_type, data = s3.followed(over)
    assert key.startswith(body.spill_to)
    assert sorted(p.content for p in parts_of(content_type, data)) == sorted(
        to_bytes(d) for d in series
    )


def test_over_max_inline_an_unindexed_object_costs_one_ranged_header_read(s3: Storage) -> None:
    ds = dataset()
    s3.put(ds, index=False)
    body = Wado(s3.store, s3.reads, 100).retrieve_series(series_ref(ds), ANY)
    assert s3.calls() == {"ListObjectsV2": 1, "Query": 1, "GetObject": 1}
    assert body.parts[0].content_type.endswith(ELE)


def test_over_max_inline_only_the_instances_to_convert_are_read(
    s3: Storage, series: list[pydicom.Dataset]
) -> None:
    body = Wado(s3.store, s3.reads, 100).retrieve_series(series_ref(series[0]), AS_IMPLICIT)
    assert all(isinstance(p.content, bytes) for p in body.parts)
    assert {p.content_type for p in body.parts} == {
        f"application/dicom; transfer-syntax={IMPLICIT}"
    }
    converted = pydicom.dcmread(io.BytesIO(body.parts[0].content))  # type: ignore[arg-type]
    assert converted.file_meta.TransferSyntaxUID == IMPLICIT


def test_study_of_two_series_spills_under_the_study(s3: Storage) -> None:
    study = uid()
    made = [dataset(study=study), dataset(study=study)]
    for ds in made:
        s3.put(ds)
    body = Wado(s3.store, s3.reads, 1 << 20).retrieve_study(StudyRef(TENANT, study), ANY)
    assert len(body.parts) == 2 and body.spill_to == bundles_prefix(TENANT, study)


def test_zip_is_one_archive_of_the_stored_objects(
    s3: Storage, series: list[pydicom.Dataset]
) -> None:
    body = Wado(s3.store, s3.reads, 1 << 20).retrieve_series(series_ref(series[0]), ZIP)
    assert s3.calls() == {"ListObjectsV2": 1}
    (part,) = body.parts
    assert isinstance(part.content, ZipArchive) and body.media_type == "application/zip"
    sent = s3.send(body)
    names = zipfile.ZipFile(io.BytesIO(sent.body)).namelist()
    first = series[0]
    assert sorted(names) == sorted(
        f"{d.StudyInstanceUID}/{d.SeriesInstanceUID}/{d.SOPInstanceUID}.dcm" for d in series
    )
    assert names[0].startswith(f"{first.StudyInstanceUID}/")


def test_instance_under_max_inline_is_one_get(s3: Storage, series: list[pydicom.Dataset]) -> None:
    ds = series[0]
    body = Wado(s3.store, s3.reads, 1 << 20).retrieve_instance(instance_ref(ds), SINGLE)
    assert s3.calls() == {"GetObject": 1}
    assert not body.multipart and body.parts[0].content == to_bytes(ds)
    assert body.media_type == f"application/dicom; transfer-syntax={ELE}"
    multipart = Wado(s3.store, s3.reads, 1 << 20).retrieve_instance(instance_ref(ds), ANY)
    assert multipart.multipart and len(multipart.parts) == 1


def test_instance_over_max_inline_redirects_to_the_object_itself(
    s3: Storage, series: list[pydicom.Dataset]
) -> None:
    ds = series[0]
    body = Wado(s3.store, s3.reads, 100).retrieve_instance(instance_ref(ds), SINGLE)
    assert s3.calls() == {"GetObject": 1, "GetItem": 1}  # the GET's body left unread
    assert body.parts[0].content == ObjectSlice.of_object(
        instance_key(instance_ref(ds)),
        len(to_bytes(ds)),
        body.parts[0].content.etag,  # type: ignore[union-attr]
    )
    key, _, data = s3.followed(s3.send(body, limit=100))
    assert key == instance_key(instance_ref(ds)) and data == to_bytes(ds)
    assert s3.send(body).body == to_bytes(ds)


def test_instance_over_max_inline_converted(s3: Storage, series: list[pydicom.Dataset]) -> None:
    ds = series[0]
    implicit = parse_accept(f"application/dicom; transfer-syntax={IMPLICIT}")
    body = Wado(s3.store, s3.reads, 100).retrieve_instance(instance_ref(ds), implicit)
    got = pydicom.dcmread(io.BytesIO(body.parts[0].content))  # type: ignore[arg-type]
    assert got.file_meta.TransferSyntaxUID == IMPLICIT and got.SOPInstanceUID == ds.SOPInstanceUID


def test_not_found_and_not_acceptable(s3: Storage, series: list[pydicom.Dataset]) -> None:
    wado = Wado(s3.store, s3.reads, 1 << 20)
    missing = InstanceRef(TENANT, uid(), uid(), uid())
    with pytest.raises(NotFound):
        wado.retrieve_instance(missing, SINGLE)
    with pytest.raises(NotFound):
        wado.retrieve_series(missing.series_ref, ANY)
    with pytest.raises(NotFound):
        wado.retrieve_study(missing.study_ref, ZIP)
    jpeg = parse_accept("application/dicom; transfer-syntax=1.2.840.10008.1.2.4.50")
    for max_inline in (1 << 20, 100):
        with pytest.raises(NotAcceptable):
            Wado(s3.store, s3.reads, max_inline).retrieve_instance(instance_ref(series[0]), jpeg)


def test_an_object_deleted_after_the_listing_is_left_out(
    s3: Storage, series: list[pydicom.Dataset]
) -> None:
    body = Wado(s3.store, s3.reads, 100).retrieve_series(series_ref(series[0]), ANY)
    s3.store.delete(instance_key(instance_ref(series[1])))
    sent = s3.send(body)
    assert len(sent_parts(sent)) == 2
