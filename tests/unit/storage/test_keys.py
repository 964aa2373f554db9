"""S3 keys and catalog keys (chalicelib.storage.keys)."""

from __future__ import annotations

import random

import pytest

from chalicelib.dicomweb.resources import InstanceRef, SeriesRef, StudyRef
from chalicelib.storage import keys
from chalicelib.storage.keys import (
    ObjectKey,
    escape_value,
    instance_key,
    is_valid_tenant,
    parse_object_key,
    parse_upload_name,
    unescape_value,
    value_index_sk,
    value_pk,
    value_sk,
)
from chalicelib.storage.schema import (
    DERIVED_ROOT,
    DICOM_ROOT,
    IMPORT_ROOT,
    NOTIFIED_ROOTS,
    REJECTED_ROOT,
)

T = "t1"
REF = InstanceRef(T, "1.2.3", "1.2.3.4", "1.2.3.4.5")
SERIES = REF.series_ref
STUDY = REF.study_ref


# --- tenants --------------------------------------------------------------------------------------


@pytest.mark.parametrize("tenant", ["t1", "a", "0", "acme-hospital", "a" * 63, "9-", "a--b"])
def test_valid_tenants(tenant):
    assert is_valid_tenant(tenant)


@pytest.mark.parametrize(
    "tenant",
    ["", "T1", "-t", "t_1", "t.1", "t/1", "t#1", "t 1", "a" * 64, "é", "..", "t1/"],
)
def test_invalid_tenants(tenant):
    assert not is_valid_tenant(tenant)


def test_trailing_newline_is_not_a_tenant():
    assert not is_valid_tenant("t1\n")


# --- instance keys --------------------------------------------------------------------------------


def test_instance_key():
    assert instance_key(REF) == "dicom/t1/1.2.3/1.2.3.4/1.2.3.4.5.dcm"


def test_instance_key_round_trip():
    parsed = parse_object_key(instance_key(REF))
    assert parsed == ObjectKey(DICOM_ROOT, T, "1.2.3/1.2.3.4/1.2.3.4.5.dcm", REF)
    assert parsed.instance == REF


@pytest.mark.parametrize("seed", range(5))
def test_instance_key_round_trip_random_uids(seed):
    rng = random.Random(seed)

    def uid():
        return ".".join(str(rng.randint(0, 10**6)) for _ in range(rng.randint(1, 8)))

    tenant = rng.choice(["t1", "acme", "x-9"])
    ref = InstanceRef(tenant, uid(), uid(), uid())
    assert parse_object_key(instance_key(ref)).instance == ref


def test_prefixes_of_an_instance_key():
    key = instance_key(REF)
    assert key.startswith(keys.series_prefix(SERIES))
    assert keys.series_prefix(SERIES).startswith(keys.study_prefix(STUDY))
    assert keys.study_prefix(STUDY).startswith(keys.tenant_dicom_prefix(T))
    assert keys.series_prefix(SERIES) == "dicom/t1/1.2.3/1.2.3.4/"
    assert keys.study_prefix(STUDY) == "dicom/t1/1.2.3/"
    assert keys.tenant_dicom_prefix(T) == "dicom/t1/"


def test_one_tenants_prefix_does_not_cover_another():
    other = InstanceRef("t10", REF.study, REF.series, REF.sop)
    assert not instance_key(other).startswith(keys.tenant_dicom_prefix(T))
    assert not keys.import_prefix("t10").startswith(keys.import_prefix(T))


# --- tenant first in every key --------------------------------------------------------------------


def s3_keys(tenant: str) -> list[str]:
    ref = InstanceRef(tenant, "1.2", "1.3", "1.4")
    series = ref.series_ref
    return [
        keys.instance_key(ref),
        keys.series_prefix(series),
        keys.study_prefix(ref.study_ref),
        keys.tenant_dicom_prefix(tenant),
        keys.import_prefix(tenant),
        keys.rejected_prefix(tenant),
        keys.rejected_key(tenant, 0xC000, "file.dcm"),
        keys.derived_prefix(tenant),
        keys.series_derived_prefix(series),
        keys.series_derived_prefix(ref),
        keys.instance_metadata_key(ref),
        keys.instance_fragments_prefix(series),
        keys.series_metadata_key(series, 7),
        keys.series_metadata_prefix(series),
        keys.upload_file_key(tenant, "up1", 3, "a.dcm"),
        keys.upload_manifest_key(tenant, "up1"),
        keys.upload_results_prefix(tenant, "up1"),
        keys.upload_result_key(tenant, "up1", 3, "stored"),
    ]


def catalog_pks(tenant: str) -> list[str]:
    ref = InstanceRef(tenant, "1.2", "1.3", "1.4")
    return [
        keys.study_pk(ref),
        keys.study_pk(ref.series_ref),
        keys.study_pk(ref.study_ref),
        keys.uid_pk(tenant, "1.3"),
        keys.date_pk(tenant, "STUDY"),
        keys.value_pk(tenant, "PatientID"),
    ]


@pytest.mark.parametrize("tenant", ["t1", "acme-2"])
def test_tenant_first_in_every_s3_key(tenant):
    roots = (DICOM_ROOT, IMPORT_ROOT, DERIVED_ROOT, REJECTED_ROOT)
    for key in s3_keys(tenant):
        root = next(r for r in roots if key.startswith(r))
        assert key[len(root) :].split("/")[0] == tenant, key


@pytest.mark.parametrize("tenant", ["t1", "acme-2"])
def test_tenant_first_in_every_catalog_partition_key(tenant):
    for pk in catalog_pks(tenant):
        assert pk.split("#")[0] == tenant, pk


def test_key_layouts():
    ref = InstanceRef(T, "1.2", "1.3", "1.4")
    assert keys.rejected_key(T, 0xC000, "f.dcm") == "rejected/t1/C000/f.dcm"
    assert keys.rejected_key(T, 0x110, "f.dcm") == "rejected/t1/0110/f.dcm"
    assert keys.instance_metadata_key(ref) == "derived/t1/1.2/1.3/instances/1.4.json"
    assert keys.series_metadata_key(ref.series_ref, 42) == (
        "derived/t1/1.2/1.3/metadata/v0000000042.json.gz"
    )
    assert keys.series_metadata_key(ref.series_ref, 42).startswith(
        keys.series_metadata_prefix(ref.series_ref)
    )
    assert keys.instance_metadata_key(ref).startswith(
        keys.instance_fragments_prefix(ref.series_ref)
    )
    assert keys.upload_file_key(T, "u", 7, "a.dcm") == "import/t1/uploads/u/00007-a.dcm"
    assert keys.upload_result_key(T, "u", 7, "stored") == (
        "derived/t1/uploads/u/results/00007/stored"
    )
    assert keys.upload_manifest_key(T, "u") == "derived/t1/uploads/u/manifest.json"


def test_series_metadata_keys_sort_by_version():
    series = SeriesRef(T, "1.2", "1.3")
    versions = [1, 9, 10, 99, 100, 12345]
    ks = [keys.series_metadata_key(series, v) for v in versions]
    assert sorted(ks) == ks


def test_catalog_sort_keys():
    assert keys.study_pk(StudyRef(T, "1.2")) == "t1#1.2"
    assert keys.series_sk("1.3") == "SERIES#1.3"
    assert keys.instance_sk("1.3", "1.4") == "INSTANCE#1.3#1.4"
    assert keys.instance_sk("1.3", "1.4").startswith(keys.series_instances_prefix("1.3"))
    assert not keys.instance_sk("1.30", "1.4").startswith(keys.series_instances_prefix("1.3"))
    assert keys.uid_pk(T, "1.3") == "t1#1.3"
    assert keys.date_pk(T, "STUDY") == "t1#STUDY"


# --- parse_object_key -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        "",
        "dicom",
        "dicom/",
        "dicom/t1",
        "dicom/t1/",
        "import/t1/",
        "derived/t1/1.2/1.3/instances/1.4.json",
        "rejected/t1/C000/f.dcm",
        "other/t1/1.2/1.3/1.4.dcm",
        "DICOM/t1/1.2/1.3/1.4.dcm",
        "/dicom/t1/1.2/1.3/1.4.dcm",
        "t1/dicom/1.2/1.3/1.4.dcm",
        "dicomx/t1/1.2/1.3/1.4.dcm",
    ],
)
def test_keys_outside_notified_roots_are_none(key):
    assert parse_object_key(key) is None


@pytest.mark.parametrize(
    "key",
    [
        "dicom/T1/1.2/1.3/1.4.dcm",
        "dicom/-t/1.2/1.3/1.4.dcm",
        "dicom/t_1/1.2/1.3/1.4.dcm",
        "dicom//1.2/1.3/1.4.dcm",
        "dicom/" + "a" * 64 + "/1.2/1.3/1.4.dcm",
        "import/T1/file.dcm",
        "import/t.1/file.dcm",
        "import//file.dcm",
    ],
)
def test_invalid_tenant_is_none(key):
    assert parse_object_key(key) is None


@pytest.mark.parametrize(
    "rest",
    [
        "1.2/1.3/1.4.DCM",
        "1.2/1.3/1.4",
        "1.2/1.3/1.4.dcm.tmp",
        "1.2/1.3/x.dcm",
        "1.2/1.3/.dcm",
        "1.2/1.3.dcm",
        "1.2/1.3/1.4/1.5.dcm",
        "1.2//1.4.dcm",
        "a.b/1.3/1.4.dcm",
        "1.2/../1.4.dcm",
        "1.2/1.3/1.4.dcm/",
        "../../1.4.dcm",
        "1.2/1.3/" + "1" * 65 + ".dcm",
    ],
)
def test_non_canonical_dicom_keys_have_no_instance(rest):
    parsed = parse_object_key(f"dicom/t1/{rest}")
    assert parsed == ObjectKey(DICOM_ROOT, "t1", rest, None)


def test_import_keys_never_name_an_instance():
    key = "import/t1/1.2/1.3/1.4.dcm"
    assert parse_object_key(key) == ObjectKey(IMPORT_ROOT, "t1", "1.2/1.3/1.4.dcm", None)
    assert parse_object_key("import/t1/x") == ObjectKey(IMPORT_ROOT, "t1", "x", None)


def test_notified_roots_are_the_parsed_ones():
    assert set(NOTIFIED_ROOTS) == {DICOM_ROOT, IMPORT_ROOT}
    for root in NOTIFIED_ROOTS:
        assert parse_object_key(f"{root}t1/x").root == root


@pytest.mark.parametrize("key", ["dicom/t1\n/1.2/1.3/1.4.dcm", "import/t1\n/file"])
def test_tenant_with_trailing_newline_is_none(key):
    assert parse_object_key(key) is None


def test_uid_with_trailing_newline_is_not_canonical():
    assert parse_object_key("dicom/t1/1.2\n/1.3/1.4.dcm").instance is None


# --- uploads --------------------------------------------------------------------------------------


def test_upload_name_round_trip():
    key = keys.upload_file_key(T, "abc123", 42, "scan-1.dcm")
    parsed = parse_object_key(key)
    assert parsed.root == IMPORT_ROOT and parsed.tenant == T
    assert parse_upload_name(parsed.name) == ("abc123", 42)


@pytest.mark.parametrize(
    "name",
    [
        "file.dcm",
        "uploads/",
        "uploads/abc",
        "uploads//00001-a.dcm",
        "uploads/abc/00001",
        "uploads/abc/x-a.dcm",
        "uploads/abc/-a.dcm",
        "uploads/abc/\u00b2-a.dcm",  # a digit to str.isdigit, not to int()
        "other/abc/00001-a.dcm",
    ],
)
def test_parse_upload_name_refuses(name):
    assert parse_upload_name(name) is None


# --- value index quoting --------------------------------------------------------------------------


def test_value_pk():
    assert value_pk(T, "PatientID") == "t1#STUDY#PatientID"
    assert value_pk(T, "PatientName") != value_pk("t2", "PatientName")


@pytest.mark.parametrize(
    ("value", "escaped"),
    [
        ("plain", "plain"),
        ("a#b", "a%23b"),
        ("50%", "50%25"),
        ("%23", "%2523"),
        ("%25", "%2525"),
        ("#%#", "%23%25%23"),
        ("", ""),
    ],
)
def test_escape_value(value, escaped):
    assert escape_value(value) == escaped
    assert unescape_value(escaped) == value


def test_escape_round_trip_random_strings():
    rng = random.Random(1234)
    alphabet = "#%23 5aZ^"
    for _ in range(2000):
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        escaped = escape_value(value)
        assert "#" not in escaped
        assert unescape_value(escaped) == value


def test_value_sort_keys_quote_the_value():
    assert value_sk("PatientID", "a#b") == "V#PatientID#a%23b"
    sk = value_index_sk("SMITH#1%", "1.2.3")
    assert sk == "SMITH%231%25#1.2.3"
    value, study = sk.rsplit("#", 1)
    assert (unescape_value(value), study) == ("SMITH#1%", "1.2.3")
    # the exact-match prefix of one value never covers another value containing '#'
    assert not value_index_sk("A#B", "1.2").startswith(escape_value("A") + "#")


def test_documents_and_manifests_name_their_version():
    series = SeriesRef("t1", "1.2", "1.3")
    assert keys.series_metadata_version(keys.series_metadata_key(series, 42)) == 42
    assert keys.series_metadata_version(keys.series_manifest_key(series, 7)) == 7
    assert keys.series_manifest_key(series, 7).startswith(keys.series_metadata_prefix(series))
    assert keys.series_metadata_version("derived/t1/1.2/1.3/metadata/other.json") is None
