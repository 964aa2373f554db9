"""services/uploads.py over moto's S3: upload URLs (a presigned PUT, or an S3 multipart upload
with a URL per part), completing a multipart upload, and the status the indexer's result
markers make, each answered as one Body."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlparse

import boto3
import pytest
from moto import mock_aws

from chalicelib.config import Settings
from chalicelib.dicomweb.errors import BadRequest, FailureReason, NotFound
from chalicelib.dicomweb.media import JSON
from chalicelib.services.answers import Body
from chalicelib.services.uploads import (
    ETAG_PATTERN,
    MAX_FILE_BYTES,
    MAX_PART_URLS,
    Uploads,
    result_marker,
)
from chalicelib.storage.metering import AwsCallCounter
from chalicelib.storage.objects import S3ObjectStore
from tests.factories import dataset, to_bytes

T = "t1"
BUCKET = "uploads-unit"
BASE = "https://dicomweb.example"
MIB = 1024 * 1024
SETTINGS = dataclasses.replace(Settings(), multipart_threshold=6 * MIB, upload_part_size=5 * MIB)


class S3:
    def __init__(self) -> None:
        self.client = boto3.client("s3", region_name="us-east-1")
        self.client.create_bucket(Bucket=BUCKET)
        self.store = S3ObjectStore(self.client, BUCKET)
        self.uploads = Uploads(self.store, SETTINGS)


@pytest.fixture
def s3() -> Iterator[S3]:
    with mock_aws():
        yield S3()


def doc(body: Body, status: int) -> dict[str, Any]:
    assert (body.status, body.media_type) == (status, JSON)
    content = body.parts[0].content
    assert isinstance(content, bytes)
    found: dict[str, Any] = json.loads(content)
    return found


def test_a_small_file_gets_a_presigned_put_and_the_status_url(s3: S3) -> None:
    body = s3.uploads.start_upload(T, {"files": [{"name": "a/b c.dcm", "size": 10}]}, BASE)
    started = doc(body, 201)
    assert body.headers["Location"] == started["status"] == f"{BASE}/uploads/{started['upload']}"
    assert started["expiresIn"] == SETTINGS.presign_expiry
    (spec,) = started["files"]
    assert spec["method"] == "PUT" and spec["headers"] == {"Content-Type": "application/dicom"}
    url = urlparse(spec["url"])
    assert url.path.endswith("-b_c.dcm") and f"/import/{T}/uploads/" in url.path
    assert any("Signature" in name for name in parse_qs(url.query))


def test_a_large_file_is_a_multipart_upload_completed_with_its_parts(s3: S3) -> None:
    size = 7 * MIB
    started = doc(s3.uploads.start_upload(T, {"files": [{"name": "big", "size": size}]}, BASE), 201)
    multipart = started["files"][0]["multipart"]
    assert multipart["partSize"] == 5 * MIB and len(multipart["parts"]) == 2
    complete = multipart["complete"]
    assert complete == f"{BASE}/uploads/{started['upload']}/files/0/complete"
    data = to_bytes(dataset()).ljust(size, b"\0")
    parts = []
    for n, part in enumerate(multipart["parts"]):
        url = urlparse(part["url"])
        got = s3.client.upload_part(
            Bucket=BUCKET,
            Key=url.path.lstrip("/"),
            PartNumber=part["partNumber"],
            UploadId=parse_qs(url.query)["uploadId"][0],
            Body=data[n * 5 * MIB : (n + 1) * 5 * MIB],
        )
        assert ETAG_PATTERN.fullmatch(got["ETag"])
        parts.append({"partNumber": part["partNumber"], "etag": got["ETag"]})
    done = s3.uploads.complete_file(T, started["upload"], "0", {"parts": parts})
    assert doc(done, 200) == {"completed": True}
    listed = [o for o in s3.store.list_all(f"import/{T}/uploads/{started['upload']}/")]
    assert [o.size for o in listed] == [size]


def test_parts_s3_refuses_are_the_clients_mistake(s3: S3) -> None:
    files = {"files": [{"name": "big", "size": 7 * MIB}]}
    started = doc(s3.uploads.start_upload(T, files, BASE), 201)
    upload = started["upload"]
    refused = {"parts": [{"partNumber": 1, "etag": '"0123456789abcdef"'}]}
    with pytest.raises(BadRequest) as raised:
        s3.uploads.complete_file(T, upload, "0", refused)
    assert raised.value.message.startswith("S3 refused the parts")
    with pytest.raises(BadRequest):  # not an ETag S3 could have answered
        s3.uploads.complete_file(T, upload, "0", {"parts": [{"partNumber": 1, "etag": "a b"}]})


@pytest.mark.parametrize("index", ["\u0660", "\uff10", "00000", "-0", ""])
def test_a_file_index_is_ascii_digits(s3: S3, index: str) -> None:
    files = {"files": [{"name": "big", "size": 7 * MIB}]}
    upload = doc(s3.uploads.start_upload(T, files, BASE), 201)["upload"]
    with pytest.raises(BadRequest) as raised:
        s3.uploads.complete_file(T, upload, index, {"parts": []})
    assert raised.value.code == "InvalidUpload"


def test_completing_refuses_what_is_not_a_multipart_file(s3: S3) -> None:
    started = doc(s3.uploads.start_upload(T, {"files": [{"name": "small"}]}, BASE), 201)
    with pytest.raises(BadRequest) as raised:
        s3.uploads.complete_file(T, started["upload"], "x1", {"parts": []})
    assert (raised.value.message, raised.value.code) == (
        "file index must be a number",
        "InvalidUpload",
    )
    with pytest.raises(NotFound):  # a presigned PUT, not a multipart upload
        s3.uploads.complete_file(T, started["upload"], "0", {"parts": []})
    with pytest.raises(NotFound):  # another tenant's upload is not found
        s3.uploads.complete_file("t2", started["upload"], "0", {"parts": []})


def test_start_refuses_a_body_without_files(s3: S3) -> None:
    requests: list[Any] = [{}, {"files": []}, [], {"files": [{"name": "a", "size": -1}]}]
    for request in requests:
        with pytest.raises(BadRequest):
            s3.uploads.start_upload(T, request, BASE)


def test_amplifying_uploads_are_refused_before_any_aws_call(s3: S3) -> None:
    """A 640 GB declared file (10,000 part URLs: 4.6 MB of answer, an open multipart upload),
    or files that together need over MAX_PART_URLS: 400, and S3 is not called at all, so no
    multipart upload is left open (a bad last file no longer leaves the first ones' open)."""
    counter = AwsCallCounter()
    counter.attach(s3.client)
    huge = {"name": "huge.dcm", "size": 640 * 1024**3}
    over_file = {"name": "big.dcm", "size": MAX_FILE_BYTES + 1}
    many = [{"name": f"{n}.dcm", "size": MAX_FILE_BYTES} for n in range(1, 20)]  # 819 each
    bad_last = [{"name": "ok.dcm", "size": 7 * MIB}, {"name": "x", "size": "ten"}]
    for files in ([huge], [over_file], many, bad_last):
        with pytest.raises(BadRequest) as refused:
            s3.uploads.start_upload(T, {"files": files}, BASE)
        assert refused.value.code == "InvalidUpload"
    assert counter.total_calls() == 0
    assert "Uploads" not in s3.client.list_multipart_uploads(Bucket=BUCKET)
    # at the bound it is served: MAX_PART_URLS URLs of SETTINGS' 5 MiB parts
    half = [{"name": f"{n}.dcm", "size": MAX_PART_URLS // 2 * 5 * MIB} for n in (1, 2)]
    started = doc(s3.uploads.start_upload(T, {"files": half}, BASE), 201)
    assert sum(len(f["multipart"]["parts"]) for f in started["files"]) == MAX_PART_URLS


def test_a_file_counts_once_however_often_its_url_was_used(s3: S3) -> None:
    """A presigned URL PUT twice (a second instance through a one-file upload) leaves a second
    marker for the same file: the status reports the file once, its newest outcome (issue 23:
    one 1-file upload reported stored: 2); a marker for an index the manifest lacks is not a
    file."""
    upload = doc(s3.uploads.start_upload(T, {"files": [{"name": "one"}]}, BASE), 201)["upload"]
    first = ("1.2.840.10008.5.1.4.1.1.2", "1.2", "1.2.3", "1.2.3.4")
    second = ("1.2.840.10008.5.1.4.1.1.2", "1.2", "1.2.3", "1.2.3.5")
    s3.store.put(result_marker(T, upload, 0, first), b"", "text/plain")
    s3.store.put(result_marker(T, upload, 0, second), b"", "text/plain")
    s3.store.put(result_marker(T, upload, 7, first), b"", "text/plain")
    report = doc(s3.uploads.upload_status(T, upload, BASE), 200)
    assert (report["files"], report["stored"], report["failed"], report["pending"]) == (1, 1, 0, 0)


def test_status_is_202_until_every_file_has_a_marker(s3: S3) -> None:
    files = {"files": [{"name": "one"}, {"name": "two"}]}
    upload = doc(s3.uploads.start_upload(T, files, BASE), 201)["upload"]
    assert doc(s3.uploads.upload_status(T, upload, BASE), 202)["pending"] == 2
    uids = ("1.2.840.10008.5.1.4.1.1.2", "1.2", "1.2.3", "1.2.3.4")
    s3.store.put(result_marker(T, upload, 0, uids), b"", "text/plain")
    s3.store.put(
        result_marker(T, upload, 1, None, FailureReason.CANNOT_UNDERSTAND), b"", "text/plain"
    )
    report = doc(s3.uploads.upload_status(T, upload, BASE), 200)
    assert (report["stored"], report["failed"], report["pending"]) == (1, 1, 0)
    (stored,) = report["response"]["00081199"]["Value"]
    assert stored["00081190"]["Value"] == [f"{BASE}/studies/1.2/series/1.2.3/instances/1.2.3.4"]
    (failed,) = report["response"]["00081198"]["Value"]
    assert failed["00081197"]["Value"] == [FailureReason.CANNOT_UNDERSTAND]
    with pytest.raises(NotFound):
        s3.uploads.upload_status(T, "not-an-id", BASE)
