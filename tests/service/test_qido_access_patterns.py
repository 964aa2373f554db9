"""Every row of the catalog's access-pattern table (README, "Catalog schema"), with the
DynamoDB requests the query made, counted by the AWS-call counter. No row scans, and the
items read stay within 2 x results + one page."""

from __future__ import annotations

import pytest

from tests.factories import dataset, to_bytes, uid

STUDIES = 12


@pytest.fixture
def catalogued(stack):
    made = []
    for i in range(STUDIES):
        study, series = uid(), uid()
        for n in range(2):
            ds = dataset(
                study=study,
                series=series,
                PatientID=f"P{i % 4}",
                PatientName=f"Name{i}^Given",
                AccessionNumber=f"ACC{i}",
                StudyDescription=f"Desc {i}",
                StudyDate=f"202501{i + 1:02d}",
                SeriesDate=f"202501{i + 1:02d}",
                modality="CT" if i % 2 else "MR",
                InstanceNumber=n + 1,
            )
            stack.post("/studies", data=to_bytes(ds), headers={"Content-Type": "application/dicom"})
            made.append(ds)
    stack.drain()
    stack.get("/studies")  # the API key lookup is cached from here on
    return made


def counted(stack, path, params):
    stack.counter.reset()
    r = stack.get(path, params=params)
    assert r.status_code == 200, r.text
    snap = stack.counter.snapshot()
    calls = {op.split(".")[1]: c["calls"] for op, c in snap.items() if op.startswith("dynamodb.")}
    read = sum(c["items_read"] for op, c in snap.items() if op.startswith("dynamodb."))
    return r.json(), calls, read


ROWS = [
    # (name, path builder, params builder, expected calls, expected results)
    (
        "study by UID",
        lambda m: "/studies",
        lambda m: {"StudyInstanceUID": m[0].StudyInstanceUID},
        {"BatchGetItem": 1},
        1,
    ),
    (
        "a study's series",
        lambda m: f"/studies/{m[0].StudyInstanceUID}/series",
        lambda m: {},
        {"Query": 1},
        1,
    ),
    (
        "a study's instances",
        lambda m: f"/studies/{m[0].StudyInstanceUID}/instances",
        lambda m: {},
        {"Query": 2},
        2,
    ),
    (
        "a series' instances",
        lambda m: f"/studies/{m[0].StudyInstanceUID}/series/{m[0].SeriesInstanceUID}/instances",
        lambda m: {},
        {"Query": 1},
        2,
    ),
    (
        "series by UID alone",
        lambda m: "/series",
        lambda m: {"SeriesInstanceUID": m[2].SeriesInstanceUID},
        {"Query": 1, "BatchGetItem": 2},
        1,
    ),
    (
        "instance by UID alone",
        lambda m: "/instances",
        lambda m: {"SOPInstanceUID": m[3].SOPInstanceUID},
        {"Query": 1, "BatchGetItem": 3},
        1,
    ),
    (
        "PatientID",
        lambda m: "/studies",
        lambda m: {"PatientID": "P1"},
        {"Query": 1, "BatchGetItem": 1},
        3,
    ),
    (
        "AccessionNumber",
        lambda m: "/studies",
        lambda m: {"AccessionNumber": "ACC5"},
        {"Query": 1, "BatchGetItem": 1},
        1,
    ),
    (
        "StudyDescription",
        lambda m: "/studies",
        lambda m: {"StudyDescription": "Desc 7"},
        {"Query": 1, "BatchGetItem": 1},
        1,
    ),
    (
        "PatientName exact",
        lambda m: "/studies",
        lambda m: {"PatientName": "NAME3^GIVEN"},
        {"Query": 1, "BatchGetItem": 1},
        1,
    ),
    (
        "PatientName prefix",
        lambda m: "/studies",
        lambda m: {"PatientName": "Name1*"},
        {"Query": 1, "BatchGetItem": 1},
        3,
    ),
    (
        "PatientName fuzzy",
        lambda m: "/studies",
        lambda m: {"PatientName": "giv", "fuzzymatching": "true"},
        {"Query": 1, "BatchGetItem": 1},
        STUDIES,
    ),
    (
        "PatientName substring (bounded walk)",
        lambda m: "/studies",
        lambda m: {"PatientName": "*ame1*"},
        {"Query": 1, "BatchGetItem": 1},
        3,
    ),
    (
        "StudyDate range",
        lambda m: "/studies",
        lambda m: {"StudyDate": "20250103-20250105"},
        {"Query": 1, "BatchGetItem": 1},
        3,
    ),
    (
        "ModalitiesInStudy",
        lambda m: "/studies",
        lambda m: {"ModalitiesInStudy": "CT"},
        {"Query": 1, "BatchGetItem": 1},
        STUDIES // 2,
    ),
    (
        "all studies, newest first",
        lambda m: "/studies",
        lambda m: {},
        {"Query": 1, "BatchGetItem": 1},
        STUDIES,
    ),
]


@pytest.mark.parametrize(
    ("name", "path", "params", "calls", "results"), ROWS, ids=[r[0] for r in ROWS]
)
def test_access_pattern(stack, catalogued, name, path, params, calls, results):
    found, made, read = counted(stack, path(catalogued), params(catalogued))
    assert len(found) == results
    assert "Scan" not in made
    assert made == calls, made
    # index entries and items: at most 2 x results, plus the parents fetched with instances;
    # a substring walk reads every index entry of the attribute (keys only), bounded
    walk = STUDIES if "walk" in name else 0
    assert read <= 2 * results + 2 * len(made) + walk, read


def test_paging_reads_do_not_grow_with_the_archive(stack, catalogued):
    _, _, read = counted(stack, "/studies", {"limit": "2"})
    assert read <= 2 * 2 + 2  # 3 index keys (2 + 1 to know there is more) and 2 items


# --- below the study level, no study key (issue 24): by_list and by_attr, over the shards ------

CT_CLASS = "1.2.840.10008.5.1.4.1.1.2"
LISTINGS = [
    # (name, path, params, calls, results, levels read per result)
    ("a tenant's series, newest first", "/series", {}, {"Query": 4, "BatchGetItem": 2}, 12, 3),
    ("a tenant's instances", "/instances", {}, {"Query": 4, "BatchGetItem": 3}, 24, 4),
    ("series of a Modality", "/series", {"Modality": "CT"}, {"Query": 4, "BatchGetItem": 2}, 6, 3),
    (
        "series in a SeriesDate range",
        "/series",
        {"SeriesDate": "20250103-20250105"},
        {"Query": 4, "BatchGetItem": 2},
        3,
        3,
    ),
    (
        "instances of a SOPClassUID",
        "/instances",
        {"SOPClassUID": CT_CLASS},
        {"Query": 4, "BatchGetItem": 3},
        12,
        4,
    ),
    # each series found is a Query of its instances (its series and study come with it)
    (
        "instances of a Modality",
        "/instances",
        {"Modality": "MR"},
        {"Query": 4 + 6, "BatchGetItem": 2},
        12,
        3,
    ),
]


@pytest.mark.parametrize(
    ("name", "path", "params", "calls", "results", "levels"), LISTINGS, ids=[r[0] for r in LISTINGS]
)
def test_listing_pattern(stack, catalogued, name, path, params, calls, results, levels):
    found, made, read = counted(stack, path, params)
    assert len(found) == results
    assert made == calls, made
    # an index entry (or partition item) and the items of each level, per result; the shards
    # each read one more entry than their share, at most
    assert read <= levels * results + 4 * 9, read


def test_an_expansion_reads_the_parents_the_page_needs(stack):
    """/instances?Modality= finds series and expands each into its instances: a page of 20
    (21 candidates) from series of 3 instances reads the first 10 series (the first chunk,
    before the rate is known) and expands 7; it used to read one series per candidate
    (21 series, each with its study)."""
    study = uid()
    for _ in range(24):
        series = uid()
        for n in range(3):
            ds = dataset(study=study, series=series, modality="OT", InstanceNumber=n + 1)
            stack.post("/studies", data=to_bytes(ds), headers={"Content-Type": "application/dicom"})
    stack.drain()
    stack.get("/studies")  # the API key lookup is cached from here on
    found, made, _ = counted(stack, "/instances", {"Modality": "OT", "limit": "20"})
    assert len(found) == 20
    # 4 shard Queries of the series keys, a BatchGetItem of 10 series and one of their
    # study, one Query per series expanded (7 fill the page and its one more)
    assert made == {"Query": 4 + 7, "BatchGetItem": 2}, made
    batch = stack.counter.snapshot()["dynamodb.BatchGetItem"]
    assert batch["items_read"] == 10 + 1, batch
