"""Interoperability with dicomweb-client (``dicomweb_client.DICOMwebClient``), the Python
DICOMweb client library, over real HTTP against the in-process stack.

Every public method of ``DICOMwebClient`` 0.61 is called:

* supported, results checked: ``store_instances`` (also chunked, after ``set_chunk_size``),
  ``search_for_studies`` / ``_series`` / ``_instances`` (search_filters, fields, limit/offset,
  get_remaining, fuzzymatching), ``retrieve_study`` / ``_series`` / ``_instance``,
  ``iter_study`` / ``iter_series``, ``retrieve_{study,series,instance}_metadata``,
  ``retrieve_instance_frames``, ``iter_instance_frames``, ``retrieve_instance_rendered``,
  ``retrieve_series_rendered``, ``retrieve_instance_frames_rendered``, ``retrieve_bulkdata``,
  ``iter_bulkdata``, ``delete_study`` / ``_series`` / ``_instance``, ``set_http_retry_params``
  (a 503 is retried), and the static ``lookup_keyword`` / ``lookup_tag``.
* not in the client, so not covered here: study-level rendered, thumbnails, zip, the change
  feed, uploads (``tests/service/test_rendered.py`` and others test them over HTTP).

Found with it and fixed (regression tests below): an instance converted to another transfer
syntax came back under a new SOP Instance UID; an instance DELETE left its series' metadata
documents (with the instance's attributes) in S3.

What the service refuses, and the status the client raises:

* ``retrieve_instance_frames_rendered`` with more than one frame number: ``400``
  (InvalidFrameList: a rendered frame is one frame, no multi-frame GIF or video).
* rendered media types other than JPEG, PNG and GIF (``image/jp2``): ``406``.
* ``retrieve_instance_frames`` in a compressed type (``image/jp2``, ``image/dicom-rle``) of
  frames stored uncompressed: ``406`` (frames are served as stored or decoded, never encoded).
* ``retrieve_*`` in a transfer syntax the service does not write (JPEG Baseline, JPEG-LS,
  JPEG 2000 lossy): ``406``. JPEG 2000 Lossless works for images of at least 32 x 32 pixels;
  OpenJPEG's six resolution levels cannot encode smaller ones, answered ``406`` as well.
* ``retrieve_bulkdata(byte_range=...)``: the Range header is ignored; ``200`` with the whole
  value (HTTP allows a server to ignore Range).
* ``store_instances`` of a dataset that is not a Part 10 file: ``409`` with FailureReason
  ``0xC000`` (and, in the private elements the client parses with the rest, the part's
  position and the reason in words). pydicom's ``dcmwrite`` writes the 128-byte preamble and
  ``DICM`` only when the dataset has a ``preamble`` (``dcmread`` and highdicom set one): a
  dataset built in code needs ``ds.preamble = b"\\0" * 128`` (``part10`` below).

Two client-side limits, no request sent: ``ValueError`` for Implicit VR Little Endian and
Deflated Explicit VR Little Endian as ``application/dicom`` transfer syntaxes (the client's own
list lacks them; the service writes both, see ``test_wado_retrieve.py``).

One client quirk the service absorbs: on non-streaming requests the client sends ``Host``
without the port (``Host: 127.0.0.1`` to a stack on another port). Every absolute URL the
service answers (STOW RetrieveURLs, metadata BulkDataURIs) starts with its public root, which
the front names (``routes/front.public_root``), never with that Host: the stack here listens on
a port other than 80 and the client follows the URLs as given.
"""

from __future__ import annotations

import gc
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pytest
import requests
from dicomweb_client.api import DICOMwebClient
from moto import mock_aws
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames
from pydicom.uid import JPEG2000Lossless, RLELossless

from chalicelib.dicomweb.stow_response import failure_text, part_position
from local.harness import InProcessStack, in_process_stack, prepared_app
from tests.conftest import KEY, TENANT
from tests.factories import dataset, multipart_body, to_bytes, uid
from tests.service.helpers import inject_error

ROWS, COLUMNS = 32, 48
FRAME_BYTES = ROWS * COLUMNS * 2
SUCCESS_STUDY_UID_MISMATCH = 0xA901
CANNOT_UNDERSTAND = 0xC000


def part10(ds: Dataset) -> Dataset:
    """Give a dataset built in code the preamble that makes ``dcmwrite`` write Part 10."""
    ds.preamble = b"\0" * 128
    return ds


def status_of(call: Any, *args: Any, **kwargs: Any) -> int:
    with pytest.raises(requests.HTTPError) as err:
        call(*args, **kwargs)
    return int(err.value.response.status_code)


def uids(results: list[dict[str, Any]], tag: str) -> set[str]:
    return {r[tag]["Value"][0] for r in results}


def decoded(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


@dataclass
class Study:
    uid: str
    patient_id: str  # of this test's studies alone: searches are scoped by it
    ct: str  # series: one single-frame and one 3-frame instance, uncompressed
    mr: str  # series: one JPEG 2000 Lossless instance
    single: Dataset
    multi: Dataset
    j2k: Dataset
    j2k_pixels: np.ndarray

    @property
    def all(self) -> list[Dataset]:
        return [self.single, self.multi, self.j2k]


@pytest.fixture(scope="module")
def stack() -> Iterator[InProcessStack]:
    """One stack for the module (building and stopping the conftest's per-test stack takes
    ~2.5 s): every test works on studies of its own, found by a PatientID of its own."""
    with mock_aws(), prepared_app({TENANT: KEY}) as module, in_process_stack(module, KEY) as s:
        yield s
        gc.collect()  # responses kept by tracebacks hold connections the server would wait for


@pytest.fixture
def connect(stack) -> Iterator[Callable[..., DICOMwebClient]]:
    """Clients of the stack on sessions closed at the end (an idle keep-alive connection
    would hold up the server's shutdown)."""
    sessions: list[requests.Session] = []

    def make(
        headers: dict[str, str] | None = None, session: requests.Session | None = None
    ) -> DICOMwebClient:
        sessions.append(session or requests.Session())
        return DICOMwebClient(url=stack.url, headers=headers, session=sessions[-1])

    yield make
    for session in sessions:
        session.close()


@pytest.fixture
def client(connect) -> DICOMwebClient:
    return connect({"apikey": KEY})


@pytest.fixture
def study(stack, client) -> Study:
    study, ct, mr = uid(), uid(), uid()
    pid = f"DWC-{study[-12:]}"
    patient = {"PatientName": "Smith^John", "PatientID": pid, "InstitutionName": "Interop"}
    single = dataset(study=study, series=ct, rows=ROWS, columns=COLUMNS, **patient)
    multi = dataset(study=study, series=ct, rows=ROWS, columns=COLUMNS, frames=3, **patient)
    j2k = dataset(study=study, series=mr, modality="MR", rows=32, columns=32, **patient)
    pixels = j2k.pixel_array.copy()
    j2k.compress(JPEG2000Lossless, generate_instance_uid=False)
    made = Study(study, pid, ct, mr, single, multi, j2k, pixels)
    response = client.store_instances([part10(ds) for ds in made.all])
    stored = {item.ReferencedSOPInstanceUID for item in response.ReferencedSOPSequence}
    assert stored == {ds.SOPInstanceUID for ds in made.all}
    assert "FailedSOPSequence" not in response
    stack.drain()
    return made


# --- auth -------------------------------------------------------------------------------


def test_every_api_key_header_and_scopes(stack, connect, study):
    for headers in ({"apikey": KEY}, {"x-api-key": KEY}, {"Authorization": f"Bearer {KEY}"}):
        found = connect(headers).search_for_studies(search_filters={"PatientID": study.patient_id})
        assert uids(found, "0020000D") == {study.uid}
    assert status_of(connect().search_for_studies) == 401
    _, read_key = stack.deps.tenants.create_key(TENANT, frozenset({"read"}), name="viewer")
    viewer = connect({"apikey": read_key})
    assert len(viewer.search_for_instances(study.uid)) == 3
    assert status_of(viewer.store_instances, [part10(dataset())]) == 403
    assert status_of(viewer.delete_study, study.uid) == 403


# --- STOW -------------------------------------------------------------------------------


def test_store_instances_responses(stack, client, study):
    again = part10(dataset(study=study.uid, series=study.ct))
    response = client.store_instances([again], study_instance_uid=study.uid)
    (ref,) = response.ReferencedSOPSequence
    assert ref.ReferencedSOPInstanceUID == again.SOPInstanceUID
    # the client sent "Host: 127.0.0.1" (no port): the URL names the stack's root all the same
    assert urlsplit(stack.url).port not in (None, 80)
    assert response.RetrieveURL == f"{stack.url}/studies/{study.uid}"
    assert ref.RetrieveURL.startswith(f"{stack.url}/studies/{study.uid}/series/{study.ct}/")

    foreign = part10(dataset())
    with pytest.raises(requests.HTTPError) as err:
        client.store_instances([foreign], study_instance_uid=study.uid)
    assert err.value.response.status_code == 409
    body = Dataset.from_json(err.value.response.json())
    assert body.FailedSOPSequence[0].FailureReason == SUCCESS_STUDY_UID_MISMATCH

    # some stored, some not: 202, which the client returns, parsed whole (private elements
    # included): each item names its part's position, the failure its reason in words
    foreign, own = part10(dataset()), part10(dataset(study=study.uid))
    mixed = client.store_instances([foreign, own], study_instance_uid=study.uid)
    (stored,) = mixed.ReferencedSOPSequence
    (refused,) = mixed.FailedSOPSequence
    assert (stored.ReferencedSOPInstanceUID, part_position(stored)) == (own.SOPInstanceUID, 2)
    assert (refused.ReferencedSOPInstanceUID, part_position(refused)) == (foreign.SOPInstanceUID, 1)
    assert failure_text(refused) == (
        f"StudyInstanceUID {foreign.StudyInstanceUID} is not the study in the request URL, "
        f"{study.uid}"
    )

    # a dataset without preamble: dcmwrite writes no Part 10 file
    bare = dataset(study=study.uid)
    with pytest.raises(requests.HTTPError) as err:
        client.store_instances([bare])
    assert err.value.response.status_code == 409
    body = Dataset.from_json(err.value.response.json())
    assert body.FailedSOPSequence[0].FailureReason == CANNOT_UNDERSTAND
    assert body.FailedSOPSequence[0].ReferencedSOPInstanceUID == bare.SOPInstanceUID
    assert part_position(body.FailedSOPSequence[0]) == 1
    assert failure_text(body.FailedSOPSequence[0]) == (
        "not a DICOM Part 10 file (no preamble or DICM prefix)"
    )


def test_chunked_store(stack, client):
    made = [part10(dataset(rows=ROWS, columns=COLUMNS)) for _ in range(2)]
    client.set_chunk_size(1024)  # bodies over 1 KiB go out with Transfer-Encoding: chunked
    response = client.store_instances(made)
    assert len(response.ReferencedSOPSequence) == 2
    # no Host header on the chunked path: the same root
    ref = response.ReferencedSOPSequence[0]
    assert ref.RetrieveURL.startswith(stack.url + "/studies/")
    for ds in made:
        got = client.retrieve_instance(ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)
        assert got.PixelData == ds.PixelData


def test_a_whole_ct_series_in_one_store_instances_call(client):
    """100 CT slices of 512 x 512 (51 MB, ten times what a Lambda takes): one request, 200,
    every instance searchable when the call returns (the streaming receiver)."""
    study, series = uid(), uid()
    made = [
        part10(dataset(study=study, series=series, rows=512, columns=512, InstanceNumber=n))
        for n in range(1, 101)
    ]
    response = client.store_instances(made)
    assert "FailedSOPSequence" not in response
    assert len(response.ReferencedSOPSequence) == 100
    found = client.search_for_instances(study, series, limit=1000)
    assert uids(found, "00080018") == {ds.SOPInstanceUID for ds in made}


def test_the_seed_tutorials_three_files_in_one_multipart_request(stack):
    """The curl tutorial's study, remade: three 979 x 985 RGB Secondary Capture files of
    2.9 MB in two series, one multipart/related POST (8.7 MB: over Lambda's payload)."""
    study, first, second = uid(), uid(), uid()
    made = [
        dataset(
            study=study,
            series=s,
            rows=979,
            columns=985,
            bits=8,
            SamplesPerPixel=3,
            PhotometricInterpretation="RGB",
            PlanarConfiguration=0,
            SOPClassUID="1.2.840.10008.5.1.4.1.1.7",
            Modality="OT",
        )
        for s in (first, first, second)
    ]
    for ds in made:  # three samples a pixel
        ds.PixelData = bytes(979 * 985 * 3) + b"\0"
    body = multipart_body([to_bytes(ds) for ds in made])
    assert len(body) > 8 * 1024 * 1024
    r = stack.post(
        "/studies",
        data=body,
        headers={
            "Content-Type": 'multipart/related; type="application/dicom"; boundary=test-boundary'
        },
    )
    assert r.status_code == 200, r.text
    assert len(r.json()["00081199"]["Value"]) == 3
    assert len(stack.get(f"/studies/{study}/instances").json()) == 3


# --- QIDO -------------------------------------------------------------------------------


def test_search_for_studies(stack, client, study):
    pid = study.patient_id
    other = part10(dataset(PatientName="Jones^Ann", PatientID=f"{pid}-B", StudyDate="20240607"))
    client.store_instances([other])
    stack.drain()
    both = {study.uid, other.StudyInstanceUID}
    mine = {"PatientID": f"{pid}*"}  # this test's two studies

    assert uids(client.search_for_studies(search_filters=mine), "0020000D") == both
    by_id = client.search_for_studies(search_filters={"PatientID": pid})
    assert uids(by_id, "0020000D") == {study.uid}
    (found,) = by_id
    assert found["00201206"]["Value"] == [2]  # NumberOfStudyRelatedSeries
    assert found["00201208"]["Value"] == [3]  # NumberOfStudyRelatedInstances
    assert set(found["00080061"]["Value"]) == {"CT", "MR"}  # ModalitiesInStudy
    assert "00080080" not in found  # InstitutionName only on request
    fuzzy = client.search_for_studies(
        search_filters={"PatientName": "smi", **mine}, fuzzymatching=True
    )
    assert uids(fuzzy, "0020000D") == {study.uid}
    assert client.search_for_studies(search_filters={"PatientName": "smi", **mine}) == []
    wildcard = client.search_for_studies(search_filters={"PatientName": "JON*", **mine})
    assert uids(wildcard, "0020000D") == {other.StudyInstanceUID}
    dated = client.search_for_studies(search_filters={"StudyDate": "20250101-20250131", **mine})
    assert uids(dated, "0020000D") == {study.uid}
    listed = client.search_for_studies(search_filters={"StudyInstanceUID": [study.uid, uid()]})
    assert uids(listed, "0020000D") == {study.uid}
    (with_field,) = client.search_for_studies(
        search_filters={"PatientID": pid}, fields=["InstitutionName", "00101010"]
    )
    assert with_field["00080080"]["Value"] == ["Interop"]

    pages = [client.search_for_studies(search_filters=mine, limit=1, offset=n) for n in (0, 1, 2)]
    assert [len(p) for p in pages] == [1, 1, 0]
    assert uids(pages[0] + pages[1], "0020000D") == both
    remaining = client.search_for_studies(search_filters=mine, limit=1, get_remaining=True)
    assert uids(remaining, "0020000D") == both

    assert status_of(client.search_for_studies, search_filters={"StudyDate": "2025-01-01"}) == 400
    # an unknown attribute is ignored (with a Warning header)
    ignored = client.search_for_studies(search_filters={"NoSuchAttribute": "x", **mine})
    assert uids(ignored, "0020000D") == both


def test_search_for_series_and_instances(client, study):
    series = client.search_for_series(study.uid)
    assert uids(series, "0020000E") == {study.ct, study.mr}
    (ct,) = client.search_for_series(study.uid, search_filters={"Modality": "CT"})
    assert ct["0020000E"]["Value"] == [study.ct]
    assert ct["00201209"]["Value"] == [2]  # NumberOfSeriesRelatedInstances
    # /series across studies, with the study's attributes
    pid = study.patient_id
    (mr,) = client.search_for_series(search_filters={"Modality": "MR", "PatientID": pid})
    assert mr["0020000E"]["Value"] == [study.mr]
    assert mr["00100020"]["Value"] == [pid]
    (with_field,) = client.search_for_series(
        study.uid, search_filters={"Modality": "CT"}, fields=["Manufacturer", "ProtocolName"]
    )
    assert "00080070" not in with_field  # requested, but the instances have no Manufacturer

    everything = {ds.SOPInstanceUID for ds in study.all}
    assert uids(client.search_for_instances(study.uid), "00080018") == everything
    across = client.search_for_instances(search_filters={"PatientID": pid})
    assert uids(across, "00080018") == everything
    in_ct = client.search_for_instances(study.uid, study.ct)
    assert uids(in_ct, "00080018") == {study.single.SOPInstanceUID, study.multi.SOPInstanceUID}
    first, second = (
        client.search_for_instances(study.uid, study.ct, limit=1, offset=n) for n in (0, 1)
    )
    assert len(first) == len(second) == 1 and first != second
    remaining = client.search_for_instances(study.uid, limit=1, get_remaining=True)
    assert uids(remaining, "00080018") == everything
    (multi,) = client.search_for_instances(
        study.uid,
        search_filters={"SOPInstanceUID": study.multi.SOPInstanceUID},
        fields=["BitsStored", "00280103"],
    )
    assert multi["00280008"]["Value"] == [3]  # NumberOfFrames
    assert multi["00280101"]["Value"] == [16] and multi["00280103"]["Value"] == [0]
    (j2k,) = client.search_for_instances(
        study.uid, study.mr, search_filters={"InstanceNumber": str(study.j2k.InstanceNumber)}
    )
    assert j2k["00083002"]["Value"] == [JPEG2000Lossless]  # AvailableTransferSyntaxUID
    fuzzy = client.search_for_instances(
        fuzzymatching=True, search_filters={"PatientName": "SMITH", "PatientID": pid}, limit=10
    )
    assert uids(fuzzy, "00080018") == everything


# --- WADO: instances --------------------------------------------------------------------


def by_sop(datasets: list[Dataset]) -> dict[str, Dataset]:
    return {ds.SOPInstanceUID: ds for ds in datasets}


def test_retrieve_study_series_instance_and_iterators(client, study):
    expected = by_sop(study.all)
    for got in (client.retrieve_study(study.uid), list(client.iter_study(study.uid))):
        assert by_sop(got).keys() == expected.keys()
        # the default syntax is Explicit VR Little Endian: the JPEG 2000 instance decoded
        for ds in got:
            assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
        native = by_sop(got)
        assert native[study.single.SOPInstanceUID].PixelData == study.single.PixelData
        assert native[study.multi.SOPInstanceUID].PixelData == study.multi.PixelData
        assert np.array_equal(native[study.j2k.SOPInstanceUID].pixel_array, study.j2k_pixels)
    ct = {study.single.SOPInstanceUID, study.multi.SOPInstanceUID}
    assert by_sop(client.retrieve_series(study.uid, study.ct)).keys() == ct
    assert by_sop(list(client.iter_series(study.uid, study.ct))).keys() == ct

    one = client.retrieve_instance(study.uid, study.ct, study.multi.SOPInstanceUID)
    assert one.SOPInstanceUID == study.multi.SOPInstanceUID
    assert one.PixelData == study.multi.PixelData and one.NumberOfFrames == 3

    # as stored: transfer-syntax=*
    stored = client.retrieve_instance(
        study.uid, study.mr, study.j2k.SOPInstanceUID, media_types=(("application/dicom", "*"),)
    )
    assert stored.file_meta.TransferSyntaxUID == JPEG2000Lossless
    assert stored.PixelData == study.j2k.PixelData
    (as_stored,) = client.retrieve_series(
        study.uid, study.mr, media_types=(("application/dicom", "*"),)
    )
    assert as_stored.PixelData == study.j2k.PixelData

    assert status_of(client.retrieve_study, uid()) == 404
    assert status_of(client.retrieve_series, study.uid, uid()) == 404
    assert status_of(client.retrieve_instance, study.uid, study.ct, uid()) == 404


def test_conversions_keep_the_sop_instance_uid(client, study):
    """Regression: pydicom's decompress() and compress() give a dataset a new SOP Instance
    UID by default, so a converted instance came back under another UID than was asked for."""
    decompressed = client.retrieve_instance(
        study.uid,
        study.mr,
        study.j2k.SOPInstanceUID,
        media_types=(("application/dicom", "1.2.840.10008.1.2.1"),),
    )
    assert decompressed.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
    compressed = client.retrieve_instance(
        study.uid,
        study.ct,
        study.single.SOPInstanceUID,
        media_types=(("application/dicom", str(RLELossless)),),
    )
    assert compressed.file_meta.TransferSyntaxUID == RLELossless
    for got, ds in ((decompressed, study.j2k), (compressed, study.single)):
        assert got.SOPInstanceUID == ds.SOPInstanceUID
        assert got.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID


def test_retrieve_in_other_transfer_syntaxes(client, study):
    sop = study.multi.SOPInstanceUID
    for syntax in (RLELossless, JPEG2000Lossless):
        got = client.retrieve_instance(
            study.uid, study.ct, sop, media_types=(("application/dicom", str(syntax)),)
        )
        assert got.file_meta.TransferSyntaxUID == syntax
        assert got.SOPInstanceUID == sop
        assert np.array_equal(got.pixel_array, study.multi.pixel_array)
    for refused in ("1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.91"):
        media = (("application/dicom", refused),)
        assert status_of(client.retrieve_instance, study.uid, study.ct, sop, media) == 406
    # too small for OpenJPEG's default six resolution levels
    tiny = part10(dataset(study=study.uid, series=study.ct, rows=16, columns=16))
    client.store_instances([tiny])
    media = (("application/dicom", str(JPEG2000Lossless)),)
    assert (
        status_of(client.retrieve_instance, study.uid, study.ct, tiny.SOPInstanceUID, media) == 406
    )
    # refused by the client itself (its list of syntaxes lacks them)
    for syntax in ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1.99"):
        with pytest.raises(ValueError, match="not supported"):
            client.retrieve_instance(
                study.uid, study.ct, sop, media_types=(("application/dicom", syntax),)
            )


# --- WADO: metadata and bulk data -------------------------------------------------------


def test_retrieve_metadata(client, study):
    docs = client.retrieve_study_metadata(study.uid)
    assert uids(docs, "00080018") == {ds.SOPInstanceUID for ds in study.all}
    series = client.retrieve_series_metadata(study.uid, study.ct)
    assert uids(series, "00080018") == {study.single.SOPInstanceUID, study.multi.SOPInstanceUID}
    doc = client.retrieve_instance_metadata(study.uid, study.ct, study.multi.SOPInstanceUID)
    ds = Dataset.from_json(doc)
    assert ds.SOPInstanceUID == study.multi.SOPInstanceUID
    assert (ds.Rows, ds.Columns, ds.NumberOfFrames) == (ROWS, COLUMNS, 3)
    assert ds.PatientName == "Smith^John"
    assert "BulkDataURI" in doc["7FE00010"]
    assert status_of(client.retrieve_study_metadata, uid()) == 404
    assert status_of(client.retrieve_series_metadata, study.uid, uid()) == 404
    assert status_of(client.retrieve_instance_metadata, study.uid, study.ct, uid()) == 404


def test_retrieve_bulkdata(stack, client, study):
    """The BulkDataURI of the metadata, dereferenced as given, though the client sent a Host
    without the stack's port (not 80)."""
    assert urlsplit(stack.url).port not in (None, 80)
    sop = study.multi.SOPInstanceUID
    doc = client.retrieve_instance_metadata(study.uid, study.ct, sop)
    uri = doc["7FE00010"]["BulkDataURI"]
    path = f"/studies/{study.uid}/series/{study.ct}/instances/{sop}/bulkdata/7FE00010"
    assert uri == stack.url + path
    assert client.retrieve_bulkdata(uri) == [study.multi.PixelData]
    assert b"".join(client.iter_bulkdata(uri)) == study.multi.PixelData
    media = ("application/octet-stream",)
    assert client.retrieve_bulkdata(uri, media_types=media) == [study.multi.PixelData]
    # Range is ignored: the whole value
    assert client.retrieve_bulkdata(uri, byte_range=(0, 9)) == [study.multi.PixelData]
    assert status_of(client.retrieve_bulkdata, uri.replace("7FE00010", "00091001")) == 404
    # the series' metadata names the same URI: a viewer reading it first follows it too
    series = client.retrieve_series_metadata(study.uid, study.ct)
    (same,) = [d for d in series if d["00080018"]["Value"] == [sop]]
    assert same["7FE00010"]["BulkDataURI"] == uri


# --- WADO: frames -----------------------------------------------------------------------


def test_retrieve_frames(client, study):
    sop = study.multi.SOPInstanceUID
    frame = [study.multi.PixelData[n * FRAME_BYTES : (n + 1) * FRAME_BYTES] for n in range(3)]
    assert client.retrieve_instance_frames(study.uid, study.ct, sop, [1, 3]) == [frame[0], frame[2]]
    assert list(client.iter_instance_frames(study.uid, study.ct, sop, [2, 1])) == [
        frame[1],
        frame[0],
    ]
    octets = (("application/octet-stream", "1.2.840.10008.1.2.1"),)
    assert client.retrieve_instance_frames(study.uid, study.ct, sop, [2], octets) == [frame[1]]

    # a JPEG 2000 frame as stored (the client's default asks for type="*/*"), or decoded
    j2k = study.j2k.SOPInstanceUID
    (codestream,) = generate_frames(study.j2k.PixelData, number_of_frames=1)
    assert client.retrieve_instance_frames(study.uid, study.mr, j2k, [1]) == [codestream]
    jp2 = (("image/jp2", str(JPEG2000Lossless)),)
    assert client.retrieve_instance_frames(study.uid, study.mr, j2k, [1], jp2) == [codestream]
    (raw,) = client.retrieve_instance_frames(
        study.uid, study.mr, j2k, [1], media_types=("application/octet-stream",)
    )
    assert raw == study.j2k_pixels.astype("<u2").tobytes()

    # frames stored uncompressed are not encoded
    for media in (("image/jp2",), (("image/dicom-rle", str(RLELossless)),)):
        assert (
            status_of(client.retrieve_instance_frames, study.uid, study.ct, sop, [1], media) == 406
        )
    assert status_of(client.retrieve_instance_frames, study.uid, study.ct, sop, [4]) == 404


# --- rendered ---------------------------------------------------------------------------


def test_rendered(client, study):
    sop = study.single.SOPInstanceUID
    jpeg = decoded(client.retrieve_instance_rendered(study.uid, study.ct, sop))
    assert jpeg.format == "JPEG" and jpeg.size == (COLUMNS, ROWS)
    png = decoded(
        client.retrieve_instance_rendered(
            study.uid,
            study.ct,
            sop,
            media_types=("image/png",),
            params={"viewport": "24,16", "window": "2048,4096"},
        )
    )
    assert png.format == "PNG" and png.size == (24, 16)
    gif = client.retrieve_instance_rendered(study.uid, study.ct, sop, media_types=("image/gif",))
    assert decoded(gif).format == "GIF"
    series = decoded(
        client.retrieve_series_rendered(study.uid, study.mr, media_types=("image/png",))
    )
    assert series.size == (32, 32)  # the JPEG 2000 instance, decoded
    frames = client.retrieve_instance_frames_rendered(
        study.uid, study.ct, study.multi.SOPInstanceUID, [2], media_types=("image/png",)
    )
    frame2 = np.asarray(decoded(frames))
    assert frame2.shape == (ROWS, COLUMNS)
    first = np.asarray(
        decoded(
            client.retrieve_instance_frames_rendered(
                study.uid, study.ct, study.multi.SOPInstanceUID, [1], media_types=("image/png",)
            )
        )
    )
    assert frame2.shape == first.shape

    multi = study.multi.SOPInstanceUID
    call = client.retrieve_instance_frames_rendered
    assert status_of(call, study.uid, study.ct, multi, [1, 2]) == 400
    assert status_of(call, study.uid, study.ct, multi, [9]) == 404
    jp2 = ("image/jp2",)
    assert status_of(client.retrieve_instance_rendered, study.uid, study.ct, sop, jp2) == 406
    assert status_of(client.retrieve_series_rendered, study.uid, uid()) == 404


# --- delete and retries -----------------------------------------------------------------


def versions_under(stack, prefix: str) -> list[str]:
    s3, bucket = stack.deps.clients.s3, stack.deps.settings.bucket
    listed = s3.list_object_versions(Bucket=bucket, Prefix=prefix)
    return [v["Key"] for v in listed.get("Versions", []) + listed.get("DeleteMarkers", [])]


def test_delete_instance_series_study(stack, client, study):
    single, multi = study.single.SOPInstanceUID, study.multi.SOPInstanceUID
    assert len(client.retrieve_study_metadata(study.uid)) == 3  # documents stored in S3

    client.delete_instance(study.uid, study.ct, single)
    assert status_of(client.retrieve_instance, study.uid, study.ct, single) == 404
    assert status_of(client.retrieve_instance_metadata, study.uid, study.ct, single) == 404
    assert status_of(client.delete_instance, study.uid, study.ct, single) == 404
    # at once, before the indexer runs: the series' metadata no longer lists it
    assert uids(client.retrieve_series_metadata(study.uid, study.ct), "00080018") == {multi}
    stack.drain()
    assert uids(client.search_for_instances(study.uid), "00080018") == {
        multi,
        study.j2k.SOPInstanceUID,
    }

    client.delete_series(study.uid, study.mr)
    assert status_of(client.retrieve_series, study.uid, study.mr) == 404
    assert status_of(client.retrieve_series_metadata, study.uid, study.mr) == 404
    assert uids(client.retrieve_study_metadata(study.uid), "00080018") == {multi}
    stack.drain()
    assert uids(client.search_for_series(study.uid), "0020000E") == {study.ct}

    client.delete_study(study.uid)
    assert status_of(client.retrieve_study, study.uid) == 404
    assert status_of(client.retrieve_study_metadata, study.uid) == 404
    assert status_of(client.delete_study, study.uid) == 404
    stack.drain()
    mine = {"PatientID": study.patient_id}
    assert client.search_for_studies(search_filters=mine) == []
    assert client.search_for_instances(search_filters=mine) == []
    assert versions_under(stack, f"dicom/{TENANT}/{study.uid}/") == []
    assert versions_under(stack, f"derived/{TENANT}/{study.uid}/") == []


def test_deleted_instance_leaves_no_metadata_document(stack, client):
    """Regression: an instance DELETE left its series' metadata documents, which embed the
    instance's attributes (patient data): served until indexing, and kept in S3 for good
    when the series was left empty (nothing rebuilds a series the catalog dropped). A read
    between the DELETE and its indexing also stored a new, empty document."""
    ds = part10(dataset(PatientName="Gone^Patient"))
    study, series, sop = ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID
    client.store_instances([ds])
    stack.drain()
    assert len(client.retrieve_series_metadata(study, series)) == 1
    derived = f"derived/{TENANT}/{study}/{series}/"
    assert any("/metadata/" in key for key in versions_under(stack, derived))

    client.delete_instance(study, series, sop)
    assert versions_under(stack, derived) == []
    # read before the indexer has dropped the series from the catalog
    assert status_of(client.retrieve_series_metadata, study, series) == 404
    assert status_of(client.retrieve_study_metadata, study) == 404
    stack.drain()
    assert status_of(client.retrieve_series_metadata, study, series) == 404
    assert versions_under(stack, derived) == []


def test_retries_a_503(stack, client, study):
    s3 = stack.deps.clients.s3
    sop = study.single.SOPInstanceUID
    client.set_http_retry_params(retry=False)
    with inject_error(s3, "ListObjectVersions", "SlowDown", 503, times=1):
        assert status_of(client.delete_instance, study.uid, study.ct, sop) == 503
    client.set_http_retry_params(retry=True, max_attempts=3, wait_exponential_multiplier=10)
    with inject_error(s3, "ListObjectVersions", "SlowDown", 503, times=1) as fired:
        client.delete_instance(study.uid, study.ct, sop)
    assert fired == [1]
    assert status_of(client.retrieve_instance, study.uid, study.ct, sop) == 404


def test_lookup_helpers():
    assert DICOMwebClient.lookup_keyword("00080018") == "SOPInstanceUID"
    assert DICOMwebClient.lookup_keyword(0x0020000D) == "StudyInstanceUID"
    assert DICOMwebClient.lookup_tag("SeriesInstanceUID") == "0020000E"


def test_every_public_method_is_covered():
    """A new client release with another public method fails here until it is tested."""
    import inspect

    names = {n for n, _ in inspect.getmembers(DICOMwebClient, callable) if not n.startswith("_")}
    source = inspect.getsource(inspect.getmodule(test_every_public_method_is_covered))
    missing = {n for n in names if f".{n}(" not in source and f"client.{n}," not in source}
    assert not missing, missing
