"""Series metadata documents are rebuilt incrementally: the previous document and only the
fragments whose ETag changed are read, and the result is byte for byte what a rebuild from
every fragment gives."""

from __future__ import annotations

import gzip
import json

from chalicelib.dicomweb.resources import SeriesRef
from chalicelib.services import metadata
from chalicelib.storage import keys
from tests.conftest import TENANT, LocalStack
from tests.factories import dataset, multipart_body, to_bytes

DICOM_JSON = {"Accept": "application/dicom+json"}
STOW = 'multipart/related; type="application/dicom"; boundary=test-boundary'


def store(stack: LocalStack, *instances: bytes) -> None:
    r = stack.post("/studies", data=multipart_body(list(instances)), headers={"Content-Type": STOW})
    assert r.status_code == 200, r.text
    stack.drain()


def from_scratch(stack: LocalStack, ref: SeriesRef) -> bytes:
    """The document rebuilt from every fragment: the stored documents and manifests removed."""
    s3_store = stack.deps.store
    listed, _ = s3_store.list(keys.series_metadata_prefix(ref))
    for o in listed:
        s3_store.delete(o.key)
    version = metadata.series_version(stack.deps.catalog_reads, ref)
    return metadata._rebuild(s3_store, ref, version)


def test_one_more_instance_reads_one_fragment_and_matches_a_full_rebuild(
    stack: LocalStack,
) -> None:
    first = dataset(InstanceNumber=1)
    study, series = first.StudyInstanceUID, first.SeriesInstanceUID
    ref = SeriesRef(TENANT, study, series)
    path = f"/studies/{study}/series/{series}/metadata"
    store(
        stack,
        *[to_bytes(dataset(study=study, series=series, InstanceNumber=n)) for n in range(2, 21)],
        to_bytes(first),
    )
    stack.counter.reset()
    assert len(stack.get(path, headers=DICOM_JSON).json()) == 20
    assert stack.counter.calls("s3.GetObject") == 1 + 20  # no document yet, then every fragment

    store(stack, to_bytes(dataset(study=study, series=series, InstanceNumber=21)))
    stack.counter.reset()
    got = stack.get(path, headers=DICOM_JSON)
    assert len(got.json()) == 21
    # the new version's document (missing), the previous manifest and document, one fragment
    assert stack.counter.calls("s3.GetObject") == 4
    incremental = stack.deps.store.get(
        keys.series_metadata_key(ref, metadata.series_version(stack.deps.catalog_reads, ref))
    )
    assert incremental is not None
    assert gzip.decompress(incremental) == from_scratch(stack, ref)
    numbers = [d["00200013"]["Value"][0] for d in got.json()]
    assert numbers == sorted(numbers)
    # older versions' documents and manifests are removed, the current ones kept
    listed, _ = stack.deps.store.list(keys.series_metadata_prefix(ref))
    assert {keys.series_metadata_version(o.key) for o in listed} == {
        metadata.series_version(stack.deps.catalog_reads, ref)
    }


def test_a_replaced_instance_is_read_again(stack: LocalStack) -> None:
    first = dataset(InstanceNumber=1, SeriesDescription="before")
    study, series, sop = first.StudyInstanceUID, first.SeriesInstanceUID, first.SOPInstanceUID
    other = dataset(study=study, series=series, InstanceNumber=2)
    store(stack, to_bytes(first), to_bytes(other))
    path = f"/studies/{study}/series/{series}/metadata"
    assert stack.get(path, headers=DICOM_JSON).status_code == 200
    replaced = dataset(study=study, series=series, sop=sop, InstanceNumber=1)
    replaced.SeriesDescription = "after"
    store(stack, to_bytes(replaced))
    stack.counter.reset()
    docs = stack.get(path, headers=DICOM_JSON).json()
    assert stack.counter.calls("s3.GetObject") == 4  # document, manifest, old document, 1
    (entry,) = [d for d in docs if d["00080018"]["Value"] == [sop]]
    assert entry["0008103E"]["Value"] == ["after"]
    assert json.dumps(docs).count('"before"') == 0


def test_a_stored_document_is_read_back_one_instance_at_a_time() -> None:
    entries = [{"00080018": {"vr": "UI", "Value": ["1.2"]}}, {"x": ["],[", {"y": "}"}]}, {}]
    document = json.dumps(entries, separators=(",", ":")).encode()
    assert list(metadata._entries(document)) == entries
    assert list(metadata._entries(b"[]")) == []
