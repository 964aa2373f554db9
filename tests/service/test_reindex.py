"""``python -m dicomweb_cli reindex``: the catalog rebuilt from S3 equals the live one.

Compared: every catalog item of the tenant (studies, series, instances, index entries, their
counts and DICOM attributes) except two bookkeeping fields that record history rather than
state: ``indexed_at`` (when) and ``meta_v`` (how many changes a series' metadata went
through). The change feed (``{tenant}#FEED``) is history and is not rebuilt."""

from __future__ import annotations

from typing import Any

import pytest

from dicomweb_cli import cli
from tests.conftest import OTHER_KEY, OTHER_TENANT, TENANT
from tests.factories import dataset, multipart_body, to_bytes
from tests.service.helpers import catalog_items, wipe_catalog

CT = 'multipart/related; type="application/dicom"; boundary=test-boundary'


def catalog(stack: Any, tenant: str) -> dict[tuple[str, str], dict[str, Any]]:
    return catalog_items(stack, tenant)


wipe = wipe_catalog


@pytest.fixture
def populated(stack: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("DICOMWEB_STACK_FILE", "/nonexistent")  # not a running make serve
    monkeypatch.setenv("DICOM_BUCKET", stack.deps.settings.bucket)
    monkeypatch.setenv("CATALOG_TABLE", stack.deps.settings.catalog_table)
    monkeypatch.setenv("TENANTS_TABLE", stack.deps.settings.tenants_table)
    studies = [dataset().StudyInstanceUID for _ in range(3)]
    parts = []
    for i, study in enumerate(studies):
        series = dataset(study=study).SeriesInstanceUID
        for j in range(4):
            parts.append(
                to_bytes(
                    dataset(
                        study=study,
                        series=series if j < 3 else None,
                        modality="MR" if j == 3 else "CT",
                        PatientName=f"Doe^Jane{i}",
                        StudyDescription=f"Study {i}",
                    )
                )
            )
    r = stack.post("/studies", data=multipart_body(parts), headers={"Content-Type": CT})
    assert r.status_code == 200, r.text
    stack.drain()
    return stack


def test_rebuilt_catalog_equals_the_live_one(populated: Any, capsys: Any) -> None:
    live = catalog(populated, TENANT)
    assert len([k for k in live if k[1].startswith("INSTANCE#")]) == 12
    wipe(populated, list(live))
    assert catalog(populated, TENANT) == {}
    assert cli.main(["--aws", "reindex", "--tenant", TENANT]) == 0
    assert "12 indexed" in capsys.readouterr().out
    assert catalog(populated, TENANT) == live
    # and QIDO answers from it as before
    found = populated.get("/studies", params={"PatientName": "Doe^Jane1"}).json()
    assert len(found) == 1


def test_reindex_repairs_a_partly_lost_and_a_stale_catalog(populated: Any, capsys: Any) -> None:
    live = catalog(populated, TENANT)
    instances = [k for k in live if k[1].startswith("INSTANCE#")]
    wipe(populated, instances[:5])  # lost writes
    # an object gone from S3 behind the catalog's back (its event lost)
    s3, bucket = populated.deps.clients.s3, populated.deps.settings.bucket
    pk, sk = instances[-1]
    study = pk.partition("#")[2]
    series, _, sop = sk.removeprefix("INSTANCE#").partition("#")
    versions = s3.list_object_versions(
        Bucket=bucket, Prefix=f"dicom/{TENANT}/{study}/{series}/{sop}"
    )
    for v in versions.get("Versions", []):
        s3.delete_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"])
    assert cli.main(["--aws", "reindex"]) == 0  # every tenant
    out = capsys.readouterr().out
    assert "5 indexed" in out and "1 removed" in out and "6 unchanged" in out
    rebuilt = catalog(populated, TENANT)
    assert (pk, sk) not in rebuilt
    assert all(k in rebuilt for k in instances[:-1])
    # a second run changes nothing
    before = catalog(populated, TENANT)
    assert cli.main(["--aws", "reindex", "--tenant", TENANT]) == 0
    assert "11 unchanged" in capsys.readouterr().out
    assert catalog(populated, TENANT) == before


def test_reindex_of_one_tenant_leaves_the_other_alone(populated: Any) -> None:
    other = dataset()
    r = populated.http.post(
        populated.url + "/studies",
        data=multipart_body([to_bytes(other)]),
        headers={"Content-Type": CT, "apikey": OTHER_KEY},
    )
    assert r.status_code == 200
    populated.drain()
    theirs = catalog(populated, OTHER_TENANT)
    wipe(populated, list(catalog(populated, TENANT)))
    assert cli.main(["--aws", "reindex", "--tenant", TENANT]) == 0
    assert catalog(populated, OTHER_TENANT) == theirs


LISTING_KEYS = ("lst_pk", "lst_sk", "atr_pk", "atr_sk", "kv")


def test_reindex_backfills_the_listing_keys_of_a_catalog_indexed_before_them(
    populated: Any, capsys: Any
) -> None:
    """The migration of issue 24: series and instance items written before by_list and by_attr
    existed carry none of their keys, so the tenant-wide listings miss them; ``cli reindex``
    reconciles each object, finds it indexed but not keyed, and writes the keys (the items are
    otherwise left as they are: nothing is counted twice, no change is fed)."""
    live = catalog(populated, TENANT)
    listed = [k for k, item in live.items() if "lst_pk" in item]
    assert len(listed) == 12 + 6  # every instance and series item
    db, table = populated.deps.clients.dynamodb, populated.deps.settings.catalog_table
    for pk, sk in listed:  # as the code before issue 24 wrote them
        db.update_item(
            TableName=table,
            Key={"pk": {"S": pk}, "sk": {"S": sk}},
            UpdateExpression="REMOVE " + ", ".join(LISTING_KEYS),
        )
    assert populated.get("/instances").json() == []
    assert populated.get("/series", params={"Modality": "MR"}).json() == []
    populated.counter.reset()
    assert cli.main(["--aws", "reindex", "--tenant", TENANT]) == 0
    assert "12 unchanged" in capsys.readouterr().out
    assert catalog(populated, TENANT) == live  # keys back, counts and attributes untouched
    assert len(populated.get("/instances").json()) == 12
    assert len(populated.get("/series", params={"Modality": "MR"}).json()) == 3
    feed = populated.get("/changefeed").json()
    assert len(feed) == 12  # the 12 creations: the backfill fed nothing
