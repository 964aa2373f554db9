"""QIDO-RS through HTTP (first cut: the keys of the STOW issue)."""

from __future__ import annotations

from tests.conftest import OTHER_KEY
from tests.factories import dataset, to_bytes, uid


def store(stack, **kw):
    ds = dataset(**kw)
    r = stack.post("/studies", data=to_bytes(ds), headers={"Content-Type": "application/dicom"})
    assert r.status_code == 200
    return ds


def values(results, tag):
    return sorted(r[tag]["Value"][0] for r in results)


def test_empty_catalog_answers_empty_list(stack):
    r = stack.get("/studies")
    assert r.status_code == 200
    assert r.json() == []
    assert r.headers["Content-Type"].startswith("application/dicom+json")


def test_match_patient_id_study_uid_accession(stack):
    a = store(stack, PatientID="P-A", AccessionNumber="ACC-A")
    b = store(stack, PatientID="P-B", AccessionNumber="ACC-B")
    store(stack, PatientID="P-B", AccessionNumber="ACC-C")
    stack.drain()
    assert len(stack.get("/studies").json()) == 3
    r = stack.get("/studies", params={"PatientID": "P-B"}).json()
    assert values(r, "00100020") == ["P-B", "P-B"]
    r = stack.get("/studies", params={"00100020": "P-A"}).json()
    assert values(r, "0020000D") == [a.StudyInstanceUID]
    r = stack.get("/studies", params={"StudyInstanceUID": b.StudyInstanceUID}).json()
    assert values(r, "00080050") == ["ACC-B"]
    r = stack.get(
        "/studies", params={"StudyInstanceUID": f"{a.StudyInstanceUID},{b.StudyInstanceUID}"}
    ).json()
    assert len(r) == 2
    r = stack.get("/studies", params={"AccessionNumber": "ACC-C"}).json()
    assert values(r, "00100020") == ["P-B"]
    assert stack.get("/studies", params={"PatientID": "nobody"}).json() == []


def test_series_and_instances_of_a_study(stack):
    study, series = uid(), uid()
    for _ in range(3):
        store(stack, study=study, series=series, SeriesNumber=2)
    other = store(stack, study=study, modality="MR")
    stack.drain()
    r = stack.get(f"/studies/{study}/series").json()
    assert sorted(x["0020000E"]["Value"][0] for x in r) == sorted([series, other.SeriesInstanceUID])
    counts = {x["0020000E"]["Value"][0]: x["00201209"]["Value"][0] for x in r}
    assert counts == {series: 3, other.SeriesInstanceUID: 1}
    assert all(x["00081190"]["Value"][0].endswith(x["0020000E"]["Value"][0]) for x in r)
    r = stack.get(f"/studies/{study}/series/{series}/instances").json()
    assert len(r) == 3
    assert all(x["00083002"]["Value"] == ["1.2.840.10008.1.2.1"] for x in r)
    r = stack.get(f"/studies/{study}/series", params={"Modality": "MR"}).json()
    assert values(r, "0020000E") == [other.SeriesInstanceUID]
    assert len(stack.get(f"/studies/{study}/instances").json()) == 4


def test_tenants_do_not_see_each_other(stack):
    ds = store(stack)
    stack.drain()
    r = stack.http.get(stack.url + "/studies", headers={"apikey": OTHER_KEY})
    assert r.json() == []
    r = stack.http.get(
        stack.url + f"/studies/{ds.StudyInstanceUID}/series", headers={"apikey": OTHER_KEY}
    )
    assert r.json() == []


def test_bad_parameter_values_are_400(stack):
    for params in ({"limit": "-1"}, {"offset": "-3"}, {"limit": "abc"}):
        r = stack.get("/studies", params=params)
        assert r.status_code == 400
        assert next(iter(params)) in r.json()["error"]["message"]


def test_unknown_attribute_is_ignored_with_warning(stack):
    r = stack.get("/studies", params={"NotAnAttribute": "x"})
    assert r.status_code == 200
    assert r.headers["Warning"].startswith("299 ")
    assert "NotAnAttribute" in r.headers["Warning"]


def test_queries_use_keys_never_scan(stack):
    store(stack, PatientID="P-Z")
    stack.drain()
    stack.counter.reset()
    stack.get("/studies", params={"PatientID": "P-Z"})
    stack.get("/studies")
    assert stack.counter.calls("dynamodb.Scan") == 0
    assert stack.counter.calls("dynamodb.Query") == 2
