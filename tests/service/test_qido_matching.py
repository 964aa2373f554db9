"""QIDO-RS, complete: every resource, every matching kind at every level, includefield,
paging, XML, errors — through HTTP."""

from __future__ import annotations

import pytest

from chalicelib.dicomweb.multipart import read_multipart
from tests.factories import dataset, to_bytes, uid

T = {
    "StudyInstanceUID": "0020000D",
    "SeriesInstanceUID": "0020000E",
    "SOPInstanceUID": "00080018",
    "PatientName": "00100010",
    "PatientID": "00100020",
    "StudyDate": "00080020",
    "Modality": "00080060",
    "ModalitiesInStudy": "00080061",
    "StudyDescription": "00081030",
    "SeriesDescription": "0008103E",
    "InstanceNumber": "00200013",
    "InstitutionName": "00080080",
    "RetrieveURL": "00081190",
}


@pytest.fixture
def archive(stack):
    """Three studies of two patients; the first has a CT and an MR series."""
    a, b, c = uid(), uid(), uid()
    specs = [
        dict(
            study=a,
            PatientName="Smith^John",
            PatientID="P1",
            StudyDate="20250105",
            AccessionNumber="A-1",
            StudyDescription="CHEST CT",
            modality="CT",
            SeriesDescription="axial",
            InstitutionName="General",
        ),
        dict(
            study=a,
            PatientName="Smith^John",
            PatientID="P1",
            StudyDate="20250105",
            AccessionNumber="A-1",
            StudyDescription="CHEST CT",
            modality="MR",
            SeriesDescription="t1",
            InstitutionName="General",
        ),
        dict(
            study=b,
            PatientName="Smithers^Waylon",
            PatientID="P2",
            StudyDate="20250120",
            AccessionNumber="A-2",
            StudyDescription="HEAD",
            modality="CT",
            SeriesDescription="head",
        ),
        dict(
            study=c,
            PatientName="Jones^Ann",
            PatientID="P3",
            StudyDate="20241231",
            AccessionNumber="A#3",
            StudyDescription="Knee 50% left",
            modality="MR",
            SeriesDescription="knee",
        ),
    ]
    series: dict[int, str] = {}
    stored = []
    for i, spec in enumerate(specs):
        series[i] = uid()
        for n in range(2):
            ds = dataset(series=series[i], InstanceNumber=n + 1, **spec)
            stack.post("/studies", data=to_bytes(ds), headers={"Content-Type": "application/dicom"})
            stored.append(ds)
    stack.drain()
    return {"a": a, "b": b, "c": c, "series": series, "instances": stored}


def q(stack, path, **params):
    r = stack.get(path, params=params)
    assert r.status_code == 200, r.text
    return r.json()


def uids(results, keyword):
    return sorted(r[T[keyword]]["Value"][0] for r in results)


def test_single_value_universal_and_uid_lists(stack, archive):
    a, b, c = archive["a"], archive["b"], archive["c"]
    assert uids(q(stack, "/studies", PatientID="P2"), "StudyInstanceUID") == [b]
    assert len(q(stack, "/studies", PatientID="")) == 3  # universal
    assert len(q(stack, "/studies", PatientID="*")) == 3
    assert uids(q(stack, "/studies", StudyInstanceUID=f"{a}\\{c}"), "StudyInstanceUID") == sorted(
        [a, c]
    )
    r = stack.get("/studies", params=[("StudyInstanceUID", a), ("StudyInstanceUID", b)])
    assert uids(r.json(), "StudyInstanceUID") == sorted([a, b])
    assert uids(q(stack, "/studies", **{"00100020": "P3"}), "StudyInstanceUID") == [c]


def test_wildcards_and_person_names(stack, archive):
    a, b = archive["a"], archive["b"]
    assert uids(q(stack, "/studies", PatientName="SMITH*"), "StudyInstanceUID") == sorted([a, b])
    assert uids(q(stack, "/studies", PatientName="smith^john"), "StudyInstanceUID") == [a]
    assert uids(q(stack, "/studies", PatientName="*ith*"), "StudyInstanceUID") == sorted([a, b])
    assert uids(q(stack, "/studies", PatientName="Sm?th^*"), "StudyInstanceUID") == [a]
    assert uids(
        q(stack, "/studies", PatientName="way", fuzzymatching="true"), "StudyInstanceUID"
    ) == [b]
    assert uids(
        q(stack, "/studies", PatientName="jo smi", fuzzymatching="true"), "StudyInstanceUID"
    ) == [a]
    assert q(stack, "/studies", PatientName="xyz", fuzzymatching="true") == []
    # the seed's form, percent-encoded: 00100010=Smith%5E*
    r = stack.http.get(stack.url + "/studies?00100010=Smith%5EJ*")
    assert uids(r.json(), "StudyInstanceUID") == [a]
    assert uids(q(stack, "/studies", StudyDescription="*CT*"), "StudyInstanceUID") == [a]
    assert uids(q(stack, "/studies", StudyDescription="Knee 50%*"), "StudyInstanceUID") == [
        archive["c"]
    ]
    assert uids(q(stack, "/studies", AccessionNumber="A#3"), "StudyInstanceUID") == [archive["c"]]


def test_date_ranges(stack, archive):
    a, b, c = archive["a"], archive["b"], archive["c"]
    assert uids(q(stack, "/studies", StudyDate="20250101-"), "StudyInstanceUID") == sorted([a, b])
    assert uids(q(stack, "/studies", StudyDate="-20250110"), "StudyInstanceUID") == sorted([a, c])
    assert uids(q(stack, "/studies", StudyDate="20250105"), "StudyInstanceUID") == [a]
    assert uids(q(stack, "/studies", StudyDate="20250106-20250131"), "StudyInstanceUID") == [b]
    # newest first, a stable order
    assert [s[T["StudyDate"]]["Value"][0] for s in q(stack, "/studies")] == [
        "20250120",
        "20250105",
        "20241231",
    ]


def test_modalities_in_study(stack, archive):
    a, b, c = archive["a"], archive["b"], archive["c"]
    assert uids(q(stack, "/studies", ModalitiesInStudy="MR"), "StudyInstanceUID") == sorted([a, c])
    assert uids(q(stack, "/studies", ModalitiesInStudy="CT"), "StudyInstanceUID") == sorted([a, b])
    (study,) = q(stack, "/studies", StudyInstanceUID=a)
    assert study[T["ModalitiesInStudy"]]["Value"] == ["CT", "MR"]


def test_series_level(stack, archive):
    a = archive["a"]
    assert len(q(stack, f"/studies/{a}/series")) == 2
    assert uids(q(stack, f"/studies/{a}/series", Modality="MR"), "SeriesInstanceUID") == [
        archive["series"][1]
    ]
    assert q(stack, f"/studies/{a}/series", SeriesDescription="ax*")[0][T["SeriesDescription"]][
        "Value"
    ] == ["axial"]
    all_ct = q(stack, "/series", Modality="CT")
    assert uids(all_ct, "SeriesInstanceUID") == sorted([archive["series"][0], archive["series"][2]])
    assert all(s[T["PatientName"]] for s in all_ct)  # study attributes at the root
    by_uid = q(stack, "/series", SeriesInstanceUID=archive["series"][3])
    assert uids(by_uid, "StudyInstanceUID") == [archive["c"]]
    assert len(q(stack, "/series", PatientID="P1")) == 2
    assert len(q(stack, "/series")) == 4
    assert uids(q(stack, "/series", SeriesDescription="*ea*"), "SeriesInstanceUID") == [
        archive["series"][2]
    ]


def test_instance_level(stack, archive):
    a, series = archive["a"], archive["series"]
    assert len(q(stack, f"/studies/{a}/series/{series[0]}/instances")) == 2
    assert len(q(stack, f"/studies/{a}/instances")) == 4
    r = q(stack, f"/studies/{a}/instances", Modality="MR")
    assert len(r) == 2 and all(x[T["Modality"]]["Value"] == ["MR"] for x in r)
    assert len(q(stack, f"/studies/{a}/series/{series[0]}/instances", InstanceNumber="2")) == 1
    one = archive["instances"][5]
    r = q(stack, "/instances", SOPInstanceUID=one.SOPInstanceUID)
    assert uids(r, "SOPInstanceUID") == [one.SOPInstanceUID]
    assert r[0][T["PatientID"]]["Value"] == ["P2"]  # study attributes at the root
    assert len(q(stack, "/instances", SeriesInstanceUID=series[3])) == 2
    assert len(q(stack, "/instances", PatientID="P1")) == 4
    assert len(q(stack, "/instances", Modality="CT")) == 4
    assert len(q(stack, "/instances")) == 8


def test_includefield(stack, archive):
    a = archive["a"]
    (plain,) = q(stack, "/studies", StudyInstanceUID=a)
    assert T["InstitutionName"] not in plain
    (with_field,) = q(stack, "/studies", StudyInstanceUID=a, includefield="InstitutionName")
    assert with_field[T["InstitutionName"]]["Value"] == ["General"]
    (by_tag,) = q(stack, "/studies", StudyInstanceUID=a, includefield="00080080,00081030")
    assert T["InstitutionName"] in by_tag
    (every,) = q(stack, "/studies", StudyInstanceUID=a, includefield="all")
    assert T["InstitutionName"] in every
    for result in (plain, with_field, every):
        assert result[T["RetrieveURL"]]["Value"][0].endswith(f"/studies/{a}")
    r = stack.get("/studies", params={"includefield": "PixelData"})
    assert "PixelData" in r.headers.get("Warning", "")


def test_paging_is_stable_disjoint_and_complete(stack, archive):
    every = [s[T["StudyInstanceUID"]]["Value"][0] for s in q(stack, "/studies")]
    pages = [q(stack, "/studies", limit="1", offset=str(i)) for i in range(4)]
    seen = [p[0][T["StudyInstanceUID"]]["Value"][0] for p in pages if p]
    assert seen == every and len(set(seen)) == 3
    assert pages[3] == []
    r = stack.get("/instances", params={"limit": "3"})
    assert "Warning" not in r.headers  # the client's own limit cut it
    r = stack.get("/instances", params={"limit": "5000"})
    assert len(r.json()) == 8 and "Warning" not in r.headers


def test_server_cap_warns_with_the_count(stack, archive):
    deps = stack.deps
    import dataclasses

    deps.settings = dataclasses.replace(deps.settings, qido_default_limit=3, qido_max_limit=5)
    try:
        r = stack.get("/instances")
        assert len(r.json()) == 3
        assert r.headers["Warning"].startswith("299 ")
        assert "There are 5 additional results" in r.headers["Warning"]
        r = stack.get("/instances", params={"limit": "100"})
        assert len(r.json()) == 5 and "There are 3 additional results" in r.headers["Warning"]
    finally:
        deps.settings = dataclasses.replace(
            deps.settings, qido_default_limit=100, qido_max_limit=1000
        )


def test_xml_responses(stack, archive):
    r = stack.get(
        "/studies",
        params={"PatientID": "P1"},
        headers={"Accept": 'multipart/related; type="application/dicom+xml"'},
    )
    assert r.status_code == 200
    boundary = r.headers["Content-Type"].split("boundary=")[1]
    (part,) = read_multipart(r.content, boundary)
    assert part.headers["content-type"] == "application/dicom+xml"
    import xml.etree.ElementTree as ET

    root = ET.fromstring(part.content)
    ns = {"d": "http://dicom.nema.org/PS3.19/models/NativeDICOM"}
    name = root.find("d:DicomAttribute[@keyword='PatientName']/d:PersonName/d:Alphabetic", ns)
    assert name.find("d:FamilyName", ns).text == "Smith"
    assert root.find("d:DicomAttribute[@tag='00100020']/d:Value", ns).text == "P1"
    for accept in ("application/json", "*/*", "application/dicom+json"):
        assert (
            stack.get("/studies", headers={"Accept": accept})
            .headers["Content-Type"]
            .startswith("application/dicom+json")
        )
    assert stack.get("/studies", headers={"Accept": "image/png"}).status_code == 406


@pytest.mark.parametrize(
    "params",
    [
        {"StudyDate": "2025-01-01"},
        {"StudyDate": "2025010"},
        {"StudyDate": "-"},
        {"limit": "-1"},
        {"offset": "-3"},
        {"offset": "20000"},
        {"fuzzymatching": "maybe"},
        {"StudyTime": "25x"},
        {"StudyDescription": "*?" * 32 + "*"},  # more than 64 wildcards
    ],
)
def test_bad_values_are_400_naming_the_parameter(stack, params):
    r = stack.get("/studies", params=params)
    assert r.status_code == 400
    assert next(iter(params)) in r.json()["error"]["message"]


def test_pathological_wildcards_answer_quickly(stack, archive):
    """Backtracking-prone patterns (issue 23) against stored values: linear-time matching."""
    for pattern in ("*A*A*A*A*A*A*B", "*?*?*?*?*?*?*~", "*?" * 32):
        assert q(stack, "/studies", StudyDescription=pattern, PatientName=pattern) == []


def test_no_match_is_an_empty_list(stack, archive):
    for path in ("/studies", "/series", "/instances"):
        assert q(stack, path, PatientID="nobody") == []
    assert q(stack, f"/studies/{uid()}/series") == []


def test_every_kind_at_series_and_instance_level(stack):
    study, s1, s2 = uid(), uid(), uid()
    made = []
    for series, date, desc, modality in (
        (s1, "20240101", "axial", "CT"),
        (s2, "20240301", "sagittal", "MR"),
    ):
        for n in (1, 2):
            ds = dataset(
                study=study,
                series=series,
                modality=modality,
                SeriesDate=date,
                SeriesDescription=desc,
                InstanceNumber=n,
                ContentDate=date,
                ImageComments="x",
            )
            store_ds = to_bytes(ds)
            stack.post("/studies", data=store_ds, headers={"Content-Type": "application/dicom"})
            made.append(ds)
    stack.drain()
    base = f"/studies/{study}/series"
    assert uids(q(stack, base, SeriesDate="20240201-"), "SeriesInstanceUID") == [s2]
    assert uids(q(stack, base, SeriesDescription="*gitt*"), "SeriesInstanceUID") == [s2]
    assert uids(q(stack, base, SeriesDescription="ax?al"), "SeriesInstanceUID") == [s1]
    assert len(q(stack, base, SeriesInstanceUID=f"{s1},{s2}")) == 2
    assert len(q(stack, base, SeriesDescription="")) == 2
    inst = f"/studies/{study}/instances"
    assert len(q(stack, inst, ContentDate="-20240201")) == 2
    assert (
        len(q(stack, inst, SOPInstanceUID=f"{made[0].SOPInstanceUID}\\{made[3].SOPInstanceUID}"))
        == 2
    )
    assert len(q(stack, inst, SeriesDescription="sag*")) == 2
    assert len(q(stack, f"{base}/{s1}/instances", InstanceNumber="2")) == 1
    assert len(q(stack, "/instances", SeriesDate="20240301")) == 2
    assert len(q(stack, "/series", SeriesDescription="*i*l")) == 2
