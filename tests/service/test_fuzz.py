"""Fuzzing through HTTP with hypothesis (derandomized: a fixed seed, the same examples on every
run; ``deadline=None``; bounded examples): the multipart parser, Accept and Content-Type
headers, QIDO parameters, path UIDs and DICOM bytes. Never a 5xx; always a clear 4xx or a
per-instance FailureReason; a canary study stored first comes out byte-identical; the indexer
never sends anything to the dead-letter queue.

Examples tried per target: ``FUZZ_EXAMPLES`` (env, default 150; about 20 s in all), printed with
``pytest --hypothesis-show-statistics``."""

from __future__ import annotations

import io
import os
import zlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian

from local.harness import InProcessStack, in_process_stack
from tests.conftest import KEY, TENANT
from tests.factories import dataset, multipart_body, to_bytes
from tests.service.helpers import object_hashes

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
CT = 'multipart/related; type="application/dicom"; boundary=test-boundary'


@pytest.fixture(scope="module")
def fuzzed() -> Iterator[tuple[InProcessStack, str, dict[str, str]]]:
    """One stack for the module, with a canary study whose bytes must never change."""
    from moto import mock_aws

    from local.harness import prepared_app
    from tests.conftest import OTHER_KEY, OTHER_TENANT

    with (
        mock_aws(),
        prepared_app({TENANT: KEY, OTHER_TENANT: OTHER_KEY}) as module,
        in_process_stack(module, KEY) as stack,
    ):
        first = dataset()
        canary = [first, dataset(study=first.StudyInstanceUID)]
        r = stack.post(
            "/studies",
            data=multipart_body([to_bytes(ds) for ds in canary]),
            headers={"Content-Type": CT},
        )
        assert r.status_code == 200
        stack.drain()
        study = canary[0].StudyInstanceUID
        yield stack, study, object_hashes(stack, f"dicom/{TENANT}/{study}/")


def no_server_error(r: Any) -> None:
    assert r.status_code < 500, (r.status_code, r.text[:300])
    if r.status_code == 400 and r.text.startswith("Invalid HTTP request"):  # uvicorn (h11)
        return  # the HTTP server refused a malformed header before the app (API Gateway does too)
    if r.status_code >= 400:
        body = r.json()
        if r.status_code == 409 and "dicom+json" in r.headers["Content-Type"]:
            assert body["00081198"]["Value"]  # STOW: every instance failed, each with a reason
        else:
            assert body["error"]["status"] == r.status_code and body["error"]["message"]


# --- multipart bodies and Content-Type ------------------------------------------------------

PIECES = st.sampled_from(
    [
        b"--test-boundary\r\n",
        b"--test-boundary--\r\n",
        b"--test-boundary",
        b"Content-Type: application/dicom\r\n",
        b"\r\n",
        b"\r\n\r\n",
        b"--other\r\n",
        b"DICM",
        b"\x00" * 128,
    ]
)


@FUZZ
@given(
    body=st.lists(PIECES | st.binary(max_size=40), max_size=12).map(b"".join),
    content_type=st.sampled_from(
        [
            CT,
            "multipart/related; boundary=test-boundary",
            'multipart/related; type="application/dicom"',
            'multipart/related; type="application/dicom"; boundary=""',
            "multipart/related; boundary=" + "x" * 300,
            "application/dicom",
            "application/json",
            "",
            "multipart/related; type=application/dicom; boundary=test-boundary; charset=\u00e9",
        ]
    ),
)
def test_stow_bodies_and_content_types(fuzzed: Any, body: bytes, content_type: str) -> None:
    stack, _, _ = fuzzed
    r = stack.post("/studies", data=body, headers={"Content-Type": content_type})
    no_server_error(r)


# --- Accept headers -----------------------------------------------------------------------

MEDIA = st.sampled_from(
    [
        "application/dicom",
        "application/dicom+json",
        "application/dicom+xml",
        "multipart/related",
        'multipart/related; type="application/dicom"',
        'multipart/related; type="application/octet-stream"',
        "image/jpeg",
        "image/png",
        "application/zip",
        "*/*",
        "text/html",
        "application/*",
    ]
)
PARAMS = st.sampled_from(
    [
        "",
        "; transfer-syntax=*",
        "; transfer-syntax=1.2.840.10008.1.2.4.90",
        "; transfer-syntax=nonsense",
        '; type="application/dicom',
        "; q=0",
        "; q=0.5",
        "; q=abc",
        ";;;",
        '; type="a\\"b"',
    ]
)
ACCEPT = st.lists(st.tuples(MEDIA, PARAMS).map("".join), min_size=1, max_size=4).map(", ".join)


@FUZZ
@given(accept=ACCEPT | st.text(max_size=60), target=st.integers(0, 5))
def test_accept_headers(fuzzed: Any, accept: str, target: int) -> None:
    stack, study, hashes = fuzzed
    key = next(iter(hashes))
    _, _, _, series, name = key.split("/")
    sop = name.removesuffix(".dcm")
    base = f"/studies/{study}/series/{series}/instances/{sop}"
    path = [
        f"/studies/{study}",
        f"/studies/{study}/metadata",
        base,
        f"{base}/frames/1",
        f"{base}/rendered",
        "/studies",
    ][target]
    try:
        r = stack.get(path, headers={"Accept": accept}, allow_redirects=False)
    except ValueError:  # requests refuses to send some header values at all
        return
    no_server_error(r)


# --- QIDO parameters ----------------------------------------------------------------------

NAMES = st.sampled_from(
    [
        "PatientName",
        "PatientID",
        "StudyDate",
        "StudyInstanceUID",
        "00100010",
        "ModalitiesInStudy",
        "limit",
        "offset",
        "fuzzymatching",
        "includefield",
        "AccessionNumber",
        "StudyTime",
        "SeriesInstanceUID",
        "Unknown",
        "0020000D",
        "00081030",
    ]
)
VALUES = st.sampled_from(
    ["*", "?", "", "-", "20200101-", "-20201231", "x" * 300, "Doe^*", "1.2.3", "-1", "abc", "\\"]
) | st.text(max_size=30)


@FUZZ
@given(params=st.lists(st.tuples(NAMES | st.text(max_size=12), VALUES), max_size=5))
def test_qido_parameters(fuzzed: Any, params: list[tuple[str, str]]) -> None:
    stack, study, _ = fuzzed
    for path in ("/studies", f"/studies/{study}/series", f"/studies/{study}/instances"):
        no_server_error(stack.get(path, params=params))


# --- path UIDs ----------------------------------------------------------------------------

SEGMENTS = st.sampled_from(
    [
        "..",
        "%2F",
        "..%2F..%2Fetc",
        "%2e%2e",
        "1.2.3",
        "1.2." + "9" * 70,
        "1..2",
        ".1.2",
        "01.2",
        "abc",
        "1.2.3%00",
        "%20",
        "t2",
        "\u00e9",
    ]
) | st.text(alphabet="0123456789.%/abcXYZ-_", min_size=1, max_size=80)


@FUZZ
@given(a=SEGMENTS, b=SEGMENTS, c=SEGMENTS, shape=st.integers(0, 5))
def test_path_uids(fuzzed: Any, a: str, b: str, c: str, shape: int) -> None:
    stack, _, _ = fuzzed
    path = [
        f"/studies/{a}",
        f"/studies/{a}/series/{b}",
        f"/studies/{a}/series/{b}/instances/{c}",
        f"/studies/{a}/series/{b}/instances/{c}/frames/1",
        f"/studies/{a}/metadata",
        f"/studies/{a}/series/{b}/instances/{c}/rendered",
    ][shape]
    r = stack.http.get(stack.url + path)
    no_server_error(r)
    # the client resolves dot segments first ("/studies/.." is sent as "/", the public root):
    # only a request that reached the study's path must be refused
    sent = urlsplit(r.request.url or "").path
    if shape == 0 and r.status_code != 404 and sent.startswith("/studies/"):
        assert r.status_code == 400, sent
    d = stack.http.delete(stack.url + path)
    no_server_error(d)


# --- DICOM bytes --------------------------------------------------------------------------


def _write(ds: Any, transfer_syntax: Any, *, meta: bool = True) -> bytes:
    ds.file_meta.TransferSyntaxUID = transfer_syntax
    buf = io.BytesIO()
    if meta:
        ds.save_as(buf, enforce_file_format=True)
    else:
        ds.save_as(buf, enforce_file_format=False, little_endian=True, implicit_vr=True)
    return buf.getvalue()


def _nested(depth: int) -> Any:
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    ds = dataset()
    item = ds
    for _ in range(depth):
        child = Dataset()
        child.CodeValue = "1"
        item.ContentSequence = Sequence([child])
        item = child
    return ds


MUTATIONS = [
    "truncate",
    "no_preamble",
    "no_meta",
    "deflated",
    "big_endian",
    "wrong_vr",
    "long_text",
    "nested",
    "flip",
    "garbage",
]


def mutate(kind: str, offset: int, byte: int) -> bytes:
    ds = dataset()
    data = to_bytes(ds)
    if kind == "truncate":
        return data[: offset % len(data)]
    if kind == "no_preamble":
        return data[128:]
    if kind == "no_meta":
        del ds.file_meta
        buf = io.BytesIO()
        ds.save_as(buf, enforce_file_format=False, implicit_vr=True, little_endian=True)
        return buf.getvalue()
    if kind == "deflated":
        return _write(ds, DeflatedExplicitVRLittleEndian)
    if kind == "big_endian":
        return _write(ds, ExplicitVRBigEndian)
    if kind == "wrong_vr":  # Rows (US) relabelled as a UI in the explicit VR stream
        marker = b"\x28\x00\x10\x00US"
        return data.replace(marker, b"\x28\x00\x10\x00UI", 1)
    if kind == "long_text":
        ds.add_new(0x00204000, "LT", "x" * 600_000)  # ImageComments, 600 kB
        return to_bytes(ds)
    if kind == "nested":
        return to_bytes(_nested(1 + offset % 40))
    if kind == "flip":
        i = offset % len(data)
        return data[:i] + bytes([byte]) + data[i + 1 :]
    return zlib.compress(data)  # garbage: not DICOM at all


@FUZZ
@given(kind=st.sampled_from(MUTATIONS), offset=st.integers(0, 10_000), byte=st.integers(0, 255))
def test_dicom_bytes(fuzzed: Any, kind: str, offset: int, byte: int) -> None:
    stack, _, _ = fuzzed
    data = mutate(kind, offset, byte)
    r = stack.post("/studies", data=multipart_body([data]), headers={"Content-Type": CT})
    no_server_error(r)
    if r.status_code in (202, 409):  # refused: the instance says why
        (failed,) = r.json()["00081198"]["Value"]
        assert failed["00081197"]["Value"][0] in (0xC000, 0xA900, 0xA901, 0x0122, 0xA700)
    else:
        assert r.status_code == 200, r.text[:300]


def test_after_fuzzing_the_canary_is_intact_and_nothing_reached_the_dlq(fuzzed: Any) -> None:
    stack, study, hashes = fuzzed
    stack.drain()
    assert object_hashes(stack, f"dicom/{TENANT}/{study}/") == hashes
    sqs = stack.deps.clients.sqs
    dlq = sqs.get_queue_url(QueueName=stack.deps.settings.index_dlq)["QueueUrl"]
    got = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])
    assert got["Attributes"]["ApproximateNumberOfMessages"] == "0"
    (found,) = stack.get("/studies", params={"StudyInstanceUID": study}).json()
    assert found["00201208"]["Value"] == [2]
