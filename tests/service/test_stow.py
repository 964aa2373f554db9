"""STOW-RS through HTTP: request forms, status codes, failure reasons, durability."""

from __future__ import annotations

import pytest

from chalicelib.dicomweb.errors import FailureReason
from chalicelib.dicomweb.resources import InstanceRef
from chalicelib.storage.keys import instance_key
from tests.conftest import TENANT
from tests.factories import dataset, instance_bytes, multipart_body, to_bytes, uid
from tests.service.helpers import MULTIPART, catalog_items, inject_error, rebuilt_catalog

REFERENCED = "00081199"
FAILED = "00081198"
RETRIEVE_URL = "00081190"
FAILURE_REASON = "00081197"
SOP_UID = "00081155"
PART_POSITION, FAILURE_TEXT = "00091001", "00091002"


def failed_reasons(body: dict) -> list[int]:
    return [item[FAILURE_REASON]["Value"][0] for item in body.get(FAILED, {}).get("Value", [])]


@pytest.mark.parametrize(
    "content_type",
    [
        'multipart/related; type="application/dicom"; boundary=test-boundary',
        "multipart/related; type=application/dicom; boundary=test-boundary",
        'multipart/related; boundary="test-boundary"',
        'Multipart/Related; Type="Application/DICOM"; boundary=test-boundary',
    ],
)
def test_multipart_forms_are_accepted(stack, content_type):
    data = instance_bytes()
    r = stack.post("/studies", data=multipart_body([data]), headers={"Content-Type": content_type})
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/dicom+json")
    assert len(r.json()[REFERENCED]["Value"]) == 1


def test_single_part_application_dicom(stack):
    ds = dataset()
    r = stack.post("/studies", data=to_bytes(ds), headers={"Content-Type": "application/dicom"})
    assert r.status_code == 200
    body = r.json()
    assert body[REFERENCED]["Value"][0][SOP_UID]["Value"] == [ds.SOPInstanceUID]
    assert FAILED not in body


def test_response_urls_are_absolute(stack):
    ds = dataset()
    r = stack.post("/studies", data=to_bytes(ds), headers={"Content-Type": "application/dicom"})
    body = r.json()
    host = stack.url.removeprefix("http://")
    assert body[RETRIEVE_URL]["Value"] == [f"http://{host}/studies/{ds.StudyInstanceUID}"]
    item = body[REFERENCED]["Value"][0]
    assert item[RETRIEVE_URL]["Value"] == [
        f"http://{host}/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
        f"/instances/{ds.SOPInstanceUID}"
    ]


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "multipart/related; type=application/dicom+json; boundary=b",
        "text/plain",
    ],
)
def test_other_content_types_get_415(stack, content_type):
    r = stack.post("/studies", data=b"{}", headers={"Content-Type": content_type})
    assert r.status_code == 415
    assert r.json()["error"]["status"] == 415


def test_missing_content_type_gets_415(stack):
    r = stack.http.post(stack.url + "/studies", data=b"x", headers={"Content-Type": ""})
    assert r.status_code == 415


def test_multipart_without_boundary_gets_400(stack):
    r = stack.post(
        "/studies",
        data=b"whatever",
        headers={"Content-Type": 'multipart/related; type="application/dicom"'},
    )
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "InvalidMultipart"


@pytest.mark.parametrize("body", [b"", None])
def test_an_empty_single_part_body_gets_400(stack, body):
    """Nothing to store is the request's mistake, as with a multipart body without parts: not
    a 409 listing a failure for an instance that does not exist."""
    r = stack.post("/studies", data=body, headers={"Content-Type": "application/dicom"})
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["code"] == "InvalidRequestBody"
    assert "body is empty" in error["message"]


def test_multipart_with_no_parts_gets_400(stack):
    r = stack.post("/studies", data=b"--test-boundary--\r\n", headers={"Content-Type": MULTIPART})
    assert r.status_code == 400


def test_some_failed_is_202_and_none_stored_is_409(stack):
    good = instance_bytes()
    r = stack.post(
        "/studies",
        data=multipart_body([good, b"not dicom at all"]),
        headers={"Content-Type": MULTIPART},
    )
    assert r.status_code == 202
    assert failed_reasons(r.json()) == [FailureReason.CANNOT_UNDERSTAND]
    r = stack.post("/studies", data=multipart_body([b"junk"]), headers={"Content-Type": MULTIPART})
    assert r.status_code == 409
    assert REFERENCED not in r.json()


def test_study_mismatch_is_a901(stack):
    study = uid()
    matching = instance_bytes(study=study)
    other = dataset()
    r = stack.post(
        f"/studies/{study}",
        data=multipart_body([matching, to_bytes(other)]),
        headers={"Content-Type": MULTIPART},
    )
    assert r.status_code == 202
    body = r.json()
    assert failed_reasons(body) == [0xA901]
    assert body[FAILED]["Value"][0][SOP_UID]["Value"] == [other.SOPInstanceUID]
    assert body[RETRIEVE_URL]["Value"][0].endswith(f"/studies/{study}")


def test_missing_uid_is_c000(stack):
    ds = dataset()
    del ds.SeriesInstanceUID
    r = stack.post("/studies", data=to_bytes(ds), headers={"Content-Type": "application/dicom"})
    assert r.status_code == 409
    assert failed_reasons(r.json()) == [0xC000]


def test_truncated_file_is_refused(stack):
    data = instance_bytes(rows=64, columns=64)
    r = stack.post("/studies", data=data[:-3000], headers={"Content-Type": "application/dicom"})
    assert r.status_code == 409
    assert failed_reasons(r.json()) == [0xC000]


def test_pad_byte_after_pixel_data_is_legal(stack):
    data = instance_bytes(rows=3, columns=3, bits=8)  # 9 bytes of pixels: pydicom pads to 10
    r = stack.post("/studies", data=data + b"\x00", headers={"Content-Type": "application/dicom"})
    assert r.status_code == 200


def test_storage_throttling_is_a700_and_other_errors_0110(stack):
    s3 = stack.deps.clients.s3
    with inject_error(s3, "PutObject", "SlowDown", status=503):
        r = stack.post(
            "/studies", data=instance_bytes(), headers={"Content-Type": "application/dicom"}
        )
    assert r.status_code == 409
    assert failed_reasons(r.json()) == [0xA700]
    with inject_error(s3, "PutObject", "InternalError", status=500):
        r = stack.post(
            "/studies", data=instance_bytes(), headers={"Content-Type": "application/dicom"}
        )
    assert failed_reasons(r.json()) == [0x0110]


def test_stow_writes_the_instance_once_and_indexes_it_inline(stack):
    """Searchable on 200: the STOW itself runs the indexer's reconcile (ranged header read,
    fragment, one catalog transaction, change feed) and waits for the index entries; the S3
    event that follows finds the instance unchanged and writes nothing."""
    ds = dataset()
    stack.counter.reset()
    r = stack.post("/studies", data=to_bytes(ds), headers={"Content-Type": "application/dicom"})
    assert r.status_code == 200
    assert stack.counter.calls("s3.PutObject") == 2  # the instance, its metadata fragment
    assert stack.counter.calls("s3.GetObject") == 1  # the header, a ranged read
    assert stack.counter.calls("dynamodb.TransactWriteItems") >= 1
    assert stack.get("/studies", params={"StudyInstanceUID": ds.StudyInstanceUID}).json()
    stack.counter.reset()
    stack.drain()
    assert stack.counter.calls("dynamodb.TransactWriteItems") <= 1  # tried, found unchanged
    assert stack.counter.calls("dynamodb.PutItem") == 0  # no second change-feed entry
    feed = stack.get("/changefeed").json()
    assert [c["sopInstanceUid"] for c in feed].count(ds.SOPInstanceUID) == 1


def test_a_series_counters_move_once_a_batch_not_once_an_instance(stack):
    """One series of 33 instances in one STOW: the first creates the series (its own
    transaction), the rest go in batches of INDEX_BATCH, one transaction each that creates
    the instances and moves the series' and study's counters once. Counts stay exact."""
    from chalicelib.services.searchable import INDEX_BATCH

    study, series = uid(), uid()
    made = [dataset(study=study, series=series) for _ in range(33)]
    stack.counter.reset()
    r = stack.post(
        "/studies",
        data=multipart_body([to_bytes(ds) for ds in made]),
        headers={"Content-Type": MULTIPART},
    )
    assert r.status_code == 200
    # 3 batches (16, 16, 1) indexed in parallel; a batch that meets the new series missing
    # is refused, its first instance creates the series (2 transactions, 3 if both big
    # batches race to it), then the rest go together: 12 at worst, against 34 one by one
    transactions = stack.counter.calls("dynamodb.TransactWriteItems")
    assert transactions <= 2 * -(-33 // INDEX_BATCH) + 6, transactions
    found = stack.get("/studies", params={"StudyInstanceUID": study}).json()
    assert found[0]["00201208"]["Value"] == [33]  # NumberOfStudyRelatedInstances
    series_found = stack.get(f"/studies/{study}/series").json()
    assert series_found[0]["00201209"]["Value"] == [33]  # NumberOfSeriesRelatedInstances
    stack.drain()
    assert catalog_items(stack, TENANT) == rebuilt_catalog(stack, TENANT)


def test_restore_replaces_the_instance(stack):
    ds = dataset(SeriesDescription="first")
    stack.post("/studies", data=to_bytes(ds), headers={"Content-Type": "application/dicom"})
    stack.drain()
    ds.SeriesDescription = "second"
    second = to_bytes(ds)
    stack.post("/studies", data=second, headers={"Content-Type": "application/dicom"})
    stack.drain()
    ref = InstanceRef(TENANT, ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)
    stored = stack.deps.store.get(instance_key(ref))
    assert stored == second
    (study,) = stack.get("/studies").json()
    assert study["00201208"]["Value"] == [1]
    (series,) = stack.get(f"/studies/{ds.StudyInstanceUID}/series").json()
    assert series["0008103E"]["Value"] == ["second"]


def test_an_instance_with_a_non_numeric_is_value_is_stored_and_indexed(stack):
    """STOW keeps such an instance unchanged; the indexer leaves the unexpressible element out
    of the metadata instead of failing on it until the message reaches the dead-letter queue."""
    ds = dataset()
    ds.InstanceNumber = 77
    good = b"\x20\x00\x13\x00IS\x02\x0077"
    data = to_bytes(ds).replace(good, b"\x20\x00\x13\x00IS\x02\x00ab")
    assert good not in data
    r = stack.post(
        "/studies",
        data=multipart_body([data]),
        headers={
            "Content-Type": 'multipart/related; type="application/dicom"; boundary=test-boundary'
        },
    )
    assert r.status_code == 200
    stack.drain()
    study = ds.StudyInstanceUID
    (found,) = stack.get("/studies", params={"StudyInstanceUID": study}).json()
    assert found["00201208"]["Value"] == [1]
    (meta,) = stack.get(f"/studies/{study}/metadata").json()
    assert meta["00080018"]["Value"] == [ds.SOPInstanceUID] and "00200013" not in meta
    path = f"/studies/{study}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}"
    assert stack.get(path, headers={"Accept": "application/dicom"}).content == data


def test_every_part_is_accounted_for_by_position_and_reason(stack):
    study = uid()
    good, other = dataset(study=study), dataset(study=study)
    r = stack.post(
        f"/studies/{study}",
        data=multipart_body([b"junk", to_bytes(good), instance_bytes(), to_bytes(other)]),
        headers={"Content-Type": MULTIPART},
    )
    assert r.status_code == 202
    body = r.json()
    referenced, failed = body[REFERENCED]["Value"], body[FAILED]["Value"]
    assert [(i[PART_POSITION]["Value"], i[SOP_UID]["Value"]) for i in referenced] == [
        ([2], [good.SOPInstanceUID]),
        ([4], [other.SOPInstanceUID]),
    ]
    assert [i[PART_POSITION]["Value"][0] for i in failed] == [1, 3]
    junk, foreign = failed
    assert SOP_UID not in junk and junk[FAILURE_REASON]["Value"] == [0xC000]
    assert junk[FAILURE_TEXT] == {
        "vr": "LT",
        "Value": ["not a DICOM Part 10 file (no preamble or DICM prefix)"],
    }
    assert "is not the study in the request URL" in foreign[FAILURE_TEXT]["Value"][0]
    assert all(i["00090010"] == {"vr": "LO", "Value": ["SERVERLESS DICOMWEB"]} for i in failed)


def test_a_request_repeating_an_instance_stores_the_last_part(stack):
    ds = dataset(SeriesDescription="first")
    first = to_bytes(ds)
    ds.SeriesDescription = "second"
    second = to_bytes(ds)
    others = [instance_bytes(study=ds.StudyInstanceUID) for _ in range(3)]
    r = stack.post(
        "/studies",
        data=multipart_body([first, *others, second]),
        headers={"Content-Type": MULTIPART},
    )
    assert r.status_code == 200
    listed = [
        (i[PART_POSITION]["Value"][0], i[SOP_UID]["Value"][0])
        for i in r.json()[REFERENCED]["Value"]
    ]
    assert [p for p, sop in listed if sop == ds.SOPInstanceUID] == [1, 5]  # both, in order
    ref = InstanceRef(TENANT, ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)
    assert stack.deps.store.get(instance_key(ref)) == second
    stack.drain()
    (series,) = stack.get(
        f"/studies/{ds.StudyInstanceUID}/series",
        params={"SeriesInstanceUID": ds.SeriesInstanceUID, "includefield": "SeriesDescription"},
    ).json()
    assert series["0008103E"]["Value"] == ["second"]
    assert series["00201209"]["Value"] == [1]  # one instance, not two


def test_a_part_without_content_type_fails_alone(stack):
    """PS3.18 10.5.1: each part has a Content-Type. One without fails with 0xC000 (the part,
    not the request); the others are stored."""
    without = multipart_body([instance_bytes()], headers=False).split(b"--test-boundary--")[0]
    body = without + multipart_body([instance_bytes()])
    r = stack.post("/studies", data=body, headers={"Content-Type": MULTIPART})
    assert r.status_code == 202, r.text
    doc = r.json()
    (failed,) = doc[FAILED]["Value"]
    assert failed[PART_POSITION]["Value"] == [1]
    assert failed[FAILURE_REASON]["Value"] == [0xC000]
    assert failed[FAILURE_TEXT]["Value"] == ["the part has no Content-Type"]
    assert [i[PART_POSITION]["Value"] for i in doc[REFERENCED]["Value"]] == [[2]]
    r = stack.post(
        "/studies",
        data=multipart_body([instance_bytes()], headers=False),
        headers={"Content-Type": MULTIPART},
    )
    assert r.status_code == 409
