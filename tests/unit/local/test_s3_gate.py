"""local/s3_presigned.py and local/s3_gate.py: presigned URLs that botocore generates are
checked as S3 checks them (an implementation written from the SigV4 specification against
botocore's signer, and AWS's own published example), and the gate, over real HTTP in front of
moto, passes only those on: everything refused answers S3's status, code and XML, and writes
nothing."""

from __future__ import annotations

import datetime as dt
import http.client
import socket
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import boto3
import botocore.auth
import pytest
import requests
from botocore.config import Config
from botocore.credentials import ReadOnlyCredentials

from local.s3_gate import local_credentials, serve_gate
from local.s3_presigned import MAX_EXPIRES, Presigned, S3Refusal, verify

REGION = "us-east-1"
BUCKET = "gate-test"
LOCAL = ReadOnlyCredentials("testing", "testing", None)
ENDPOINT = "http://127.0.0.1:9000"
SIGNED_AT = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
NOW = SIGNED_AT.timestamp() + 10


def signer(
    endpoint: str = ENDPOINT,
    key: str = "testing",
    secret: str = "testing",
    token: str | None = None,
    region: str = REGION,
) -> Any:
    return boto3.session.Session().client(
        "s3",
        region_name=region,
        endpoint_url=endpoint,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        aws_session_token=token,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )


@pytest.fixture
def signed_then(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore signs at SIGNED_AT (the clock it reads; nothing else changes)."""
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: SIGNED_AT)


def put_url(key: str = "import/t1/a.dcm", client: Any = None, expires: int = 300) -> str:
    url: str = (client or signer()).generate_presigned_url(
        "put_object",
        Params={"Bucket": BUCKET, "Key": key, "ContentType": "application/dicom"},
        ExpiresIn=expires,
    )
    return url


def part_url(number: int = 1, upload: str = "u1") -> str:
    url: str = signer().generate_presigned_url(
        "upload_part",
        Params={
            "Bucket": BUCKET,
            "Key": "import/t1/big.dcm",
            "UploadId": upload,
            "PartNumber": number,
        },
        ExpiresIn=300,
    )
    return url


def request(url: str, method: str = "PUT", **headers: str) -> Presigned:
    parts = urlsplit(url)
    sent = {"host": parts.netloc, **{k.lower().replace("_", "-"): v for k, v in headers.items()}}
    return Presigned(method, parts.path, parts.query, sent)


def refusal(
    req: Presigned, now: float = NOW, credentials: ReadOnlyCredentials = LOCAL
) -> S3Refusal:
    with pytest.raises(S3Refusal) as caught:
        verify(req, credentials, REGION, now)
    return caught.value


DICOM = {"content_type": "application/dicom"}


# --- the check itself ----------------------------------------------------------------------


def test_urls_botocore_signs_are_taken(signed_then: None) -> None:
    verify(request(put_url(), **DICOM), LOCAL, REGION, NOW)
    verify(request(part_url(3)), LOCAL, REGION, NOW)
    get = signer().generate_presigned_url(
        "get_object",
        Params={
            "Bucket": BUCKET,
            "Key": "derived/t1/x",
            "ResponseContentType": 'multipart/related; type="a"',
        },
        ExpiresIn=60,
    )
    verify(request(get, "GET"), LOCAL, REGION, NOW)
    for key in ("import/t1/a b+c=d&e~f.dcm", "import/t1/ünï cödé/%41.dcm", "import/t1/..//x"):
        verify(request(put_url(key), **DICOM), LOCAL, REGION, NOW)


def test_awss_published_example_is_taken() -> None:
    """The presigned GET of S3's documentation (Authenticating Requests: Using Query
    Parameters), whose signature AWS computed."""
    url = (
        "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
        "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
        "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
    )
    example = ReadOnlyCredentials(
        "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", None
    )
    at = dt.datetime(2013, 5, 24, 1, tzinfo=dt.UTC).timestamp()
    verify(request(url, "GET"), example, REGION, at)
    assert refusal(request(url.replace("test.txt", "test.txu"), "GET"), at, example).code == (
        "SignatureDoesNotMatch"
    )


@pytest.mark.parametrize(
    "change",
    [
        lambda u: u.replace("import/t1/a.dcm", "import/t1/b.dcm"),  # another key
        lambda u: u.replace("import/t1/", "import/t2/"),  # another tenant's key
        lambda u: u.replace("/gate-test/", "/other-bucket/"),
        lambda u: u[:-1] + ("0" if u[-1] != "0" else "1"),  # the signature
        lambda u: u.replace("X-Amz-Expires=300", "X-Amz-Expires=3000"),
        lambda u: u + "&uploadId=u1&partNumber=1",  # another operation on the key
        lambda u: u.replace("127.0.0.1:9000", "127.0.0.1:9001"),  # the host it was signed for
    ],
)
def test_a_changed_url_does_not_match(signed_then: None, change: Any) -> None:
    got = refusal(request(change(put_url()), **DICOM))
    assert (got.status, got.code) == (403, "SignatureDoesNotMatch")


def test_another_method_content_type_or_part_does_not_match(signed_then: None) -> None:
    url = put_url()
    for method in ("GET", "DELETE", "POST", "HEAD"):
        assert refusal(request(url, method, **DICOM)).code == "SignatureDoesNotMatch"
    assert refusal(request(url, content_type="text/html")).code == "SignatureDoesNotMatch"
    assert refusal(request(url)).code == "SignatureDoesNotMatch"  # a signed header missing
    other_part = part_url(2).replace("partNumber=2", "partNumber=1")
    assert refusal(request(other_part)).code == "SignatureDoesNotMatch"
    other_upload = part_url(1, "u1").replace("uploadId=u1", "uploadId=u2")
    assert refusal(request(other_upload)).code == "SignatureDoesNotMatch"


def test_another_secret_or_access_key_is_refused(signed_then: None) -> None:
    forged = put_url(client=signer(secret="guessed"))
    assert refusal(request(forged, **DICOM)).code == "SignatureDoesNotMatch"
    unknown = put_url(client=signer(key="AKIAOTHER"))
    got = refusal(request(unknown, **DICOM))
    assert (got.status, got.code) == (403, "InvalidAccessKeyId")
    assert ("AWSAccessKeyId", "AKIAOTHER") in got.details


def test_expiry_is_the_signing_time_plus_x_amz_expires(signed_then: None) -> None:
    req = request(put_url(expires=60), **DICOM)
    start = SIGNED_AT.timestamp()
    verify(req, LOCAL, REGION, start + 59)
    got = refusal(req, start + 60)
    assert (got.status, got.code, got.message) == (403, "AccessDenied", "Request has expired")
    assert dict(got.details) == {
        "X-Amz-Expires": "60",
        "Expires": "2026-01-02T03:05:05Z",
        "ServerTime": "2026-01-02T03:05:05Z",
    }
    # a tampered expiry is a signature mismatch, not a longer life
    longer = request(put_url(expires=60).replace("X-Amz-Expires=60", "X-Amz-Expires=600"), **DICOM)
    assert refusal(longer, start + 120).code == "SignatureDoesNotMatch"


def test_a_url_dated_in_the_future_is_not_valid_yet(signed_then: None) -> None:
    got = refusal(request(put_url(), **DICOM), SIGNED_AT.timestamp() - 3600)
    assert (got.status, got.code, got.message) == (403, "AccessDenied", "Request is not valid yet")


def test_no_signature_at_all_is_access_denied() -> None:
    got = refusal(request(f"{ENDPOINT}/{BUCKET}/import/t1/a.dcm"))
    assert (got.status, got.code, got.message) == (403, "AccessDenied", "Access Denied")
    got = refusal(request(f"{ENDPOINT}/{BUCKET}/import/t1/a.dcm?uploadId=u&partNumber=1"))
    assert (got.status, got.code) == (403, "AccessDenied")


def test_other_authentication_is_refused_as_s3_refuses_it(signed_then: None) -> None:
    sigv2 = f"{ENDPOINT}/{BUCKET}/k?AWSAccessKeyId=testing&Expires=1999999999&Signature=abc"
    assert (refusal(request(sigv2)).status, refusal(request(sigv2)).code) == (400, "InvalidRequest")
    both = request(put_url(), **DICOM, authorization="AWS4-HMAC-SHA256 Credential=testing/...")
    assert (refusal(both).status, refusal(both).code) == (400, "InvalidArgument")
    header_only = request(f"{ENDPOINT}/{BUCKET}/k", authorization="AWS4-HMAC-SHA256 ...")
    assert (refusal(header_only).status, refusal(header_only).code) == (403, "AccessDenied")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda u: u.replace("&X-Amz-Date=", "&X-Amz-Dat="), "requires the X-Amz-Algorithm"),
        (lambda u: u.replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA512"), "only supports"),
        (lambda u: u.replace("%2Fus-east-1%2F", "%2F"), "Credential is mal-formed"),
        (lambda u: u.replace("%2Fus-east-1%2F", "%2Feu-west-1%2F"), "region 'eu-west-1' is wrong"),
        (lambda u: u.replace("%2Fs3%2F", "%2Fsqs%2F"), 'incorrect service "sqs"'),
        (lambda u: u.replace("aws4_request", "aws5_request"), 'incorrect terminal "aws5_request"'),
        (lambda u: u.replace("%2F20260102%2F", "%2F20260101%2F"), "not the same as X-Amz-Date"),
        (lambda u: u.replace("X-Amz-Date=20260102T030405Z", "X-Amz-Date=2026-01-02"), "ISO8601"),
        (lambda u: u.replace("X-Amz-Expires=300", "X-Amz-Expires=abc"), "should be a number"),
        (lambda u: u.replace("X-Amz-Expires=300", "X-Amz-Expires=-1"), "non-negative"),
        (lambda u: u.replace("X-Amz-Expires=300", f"X-Amz-Expires={MAX_EXPIRES + 1}"), "a week"),
    ],
)
def test_malformed_parameters_are_authorization_query_parameters_errors(
    signed_then: None, change: Any, message: str
) -> None:
    got = refusal(request(change(put_url()), **DICOM))
    assert (got.status, got.code) == (400, "AuthorizationQueryParametersError")
    assert message in got.message


def test_the_longest_lifetime_s3_takes_is_a_week(signed_then: None) -> None:
    verify(request(put_url(expires=MAX_EXPIRES), **DICOM), LOCAL, REGION, NOW)


def test_x_amz_headers_must_be_signed(signed_then: None) -> None:
    url = put_url()
    got = refusal(request(url, **DICOM, x_amz_meta_patient="x", x_amz_acl="public-read"))
    assert (got.status, got.code) == (403, "AccessDenied")
    assert dict(got.details) == {"HeadersNotSigned": "x-amz-acl, x-amz-meta-patient"}
    verify(request(url, **DICOM, x_amz_content_sha256="UNSIGNED-PAYLOAD"), LOCAL, REGION, NOW)
    signed_meta = signer().generate_presigned_url(
        "put_object", Params={"Bucket": BUCKET, "Key": "k", "Metadata": {"a": "b"}}
    )
    verify(request(signed_meta, x_amz_meta_a="b"), LOCAL, REGION, NOW)
    assert refusal(request(signed_meta, x_amz_meta_a="c")).code == "SignatureDoesNotMatch"


def test_a_session_token_is_part_of_the_credentials(signed_then: None) -> None:
    temporary = ReadOnlyCredentials("testing", "testing", "session-token")
    url = put_url(client=signer(token="session-token"))
    verify(request(url, **DICOM), temporary, REGION, NOW)
    assert refusal(request(url, **DICOM)).code == "InvalidToken"
    assert refusal(request(put_url(), **DICOM), credentials=temporary).code == "InvalidToken"


# --- the gate, over HTTP, in front of moto -------------------------------------------------


@pytest.fixture
def gate(aws: None) -> Iterator[tuple[str, Any]]:
    """The gate in front of moto's mock_aws (S3's own URL, intercepted); yields its URL and
    an SDK client that signs URLs for it with the local credentials (mock_aws sets its own)."""
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET)
    server = serve_gate(s3.meta.endpoint_url, REGION)
    mine = local_credentials()
    try:
        yield server.url, signer(server.url, mine.access_key, mine.secret_key)
    finally:
        server.close()


def stored(prefix: str = "") -> list[str]:
    listed = boto3.client("s3", region_name=REGION).list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return [o["Key"] for o in listed.get("Contents", [])]


def s3_error(r: requests.Response) -> tuple[int, str]:
    assert r.headers["Content-Type"] == "application/xml"
    root = ET.fromstring(r.content)
    assert root.tag == "Error" and root.findtext("RequestId")
    return r.status_code, root.findtext("Code") or ""


def test_a_good_url_stores_and_a_tampered_one_writes_nothing(gate: tuple[str, Any]) -> None:
    _, client = gate
    url = put_url("import/t1/a.dcm", client)
    headers = {"Content-Type": "application/dicom"}
    for bad, method, expected in [
        (url.replace("import/t1/a.dcm", "import/t1/b.dcm"), "PUT", (403, "SignatureDoesNotMatch")),
        (url.replace("import/t1/", "import/t2/"), "PUT", (403, "SignatureDoesNotMatch")),
        (url[:-1] + ("0" if url[-1] != "0" else "1"), "PUT", (403, "SignatureDoesNotMatch")),
        (url.split("?")[0], "PUT", (403, "AccessDenied")),
        (url, "POST", (403, "SignatureDoesNotMatch")),
        (
            url.replace("X-Amz-Expires=300", "X-Amz-Expires=0"),
            "PUT",
            (403, "SignatureDoesNotMatch"),
        ),
    ]:
        r = requests.request(method, bad, data=b"DICM" * 10, headers=headers)
        assert s3_error(r) == expected, bad
    assert stored() == []
    r = requests.put(url, data=b"DICM" * 10, headers=headers)
    assert r.status_code == 200 and r.headers["ETag"]
    assert stored() == ["import/t1/a.dcm"]
    body = boto3.client("s3", region_name=REGION).get_object(Bucket=BUCKET, Key="import/t1/a.dcm")
    assert body["Body"].read() == b"DICM" * 10 and body["ContentType"] == "application/dicom"
    # the same URL used to delete, or read, what it stored: refused, and still there
    assert s3_error(requests.delete(url, headers=headers)) == (403, "SignatureDoesNotMatch")
    assert stored() == ["import/t1/a.dcm"]


def test_an_expired_url_is_refused(gate: tuple[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    _, client = gate
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: past)
    url = put_url(client=client)
    r = requests.put(url, data=b"x", headers={"Content-Type": "application/dicom"})
    assert s3_error(r) == (403, "AccessDenied")
    root = ET.fromstring(r.content)
    assert root.findtext("Message") == "Request has expired"
    assert root.findtext("X-Amz-Expires") == "300"
    assert stored() == []


def test_a_get_url_streams_the_object_and_head_is_checked_too(gate: tuple[str, Any]) -> None:
    _, client = gate
    data = bytes(range(256)) * 8192  # 2 MiB
    boto3.client("s3", region_name=REGION).put_object(Bucket=BUCKET, Key="derived/t1/x", Body=data)
    get = client.generate_presigned_url(
        "get_object",
        Params={"Bucket": BUCKET, "Key": "derived/t1/x", "ResponseContentType": "application/zip"},
        ExpiresIn=60,
    )
    r = requests.get(get)
    assert r.status_code == 200 and r.content == data
    assert r.headers["Content-Type"] == "application/zip"
    assert r.headers["Content-Length"] == str(len(data))
    head = requests.head(get)
    assert head.status_code == 403 and head.content == b""  # signed for GET; S3 sends no body
    head_url = client.generate_presigned_url(
        "head_object", Params={"Bucket": BUCKET, "Key": "derived/t1/x"}, ExpiresIn=60
    )
    assert requests.head(head_url).headers["Content-Length"] == str(len(data))


def test_multipart_parts_go_through_and_answer_their_etag(gate: tuple[str, Any]) -> None:
    _, client = gate
    s3 = boto3.client("s3", region_name=REGION)
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key="import/t1/big.dcm")["UploadId"]
    parts = []
    for number, chunk in ((1, b"a" * (5 * 1024 * 1024)), (2, b"b" * 10)):
        url = client.generate_presigned_url(
            "upload_part",
            Params={
                "Bucket": BUCKET,
                "Key": "import/t1/big.dcm",
                "UploadId": upload,
                "PartNumber": number,
            },
        )
        wrong = url.replace(f"partNumber={number}", f"partNumber={number + 1}")
        assert s3_error(requests.put(wrong, data=chunk)) == (403, "SignatureDoesNotMatch")
        r = requests.put(url, data=chunk)
        assert r.status_code == 200
        parts.append({"PartNumber": number, "ETag": r.headers["ETag"]})
    s3.complete_multipart_upload(
        Bucket=BUCKET, Key="import/t1/big.dcm", UploadId=upload, MultipartUpload={"Parts": parts}
    )
    assert (
        s3.head_object(Bucket=BUCKET, Key="import/t1/big.dcm")["ContentLength"]
        == 5 * 1024 * 1024 + 10
    )


def test_a_put_without_content_length_is_refused(gate: tuple[str, Any]) -> None:
    _, client = gate
    signed = urlsplit(put_url(client=client))
    conn = http.client.HTTPConnection(signed.netloc, timeout=10)
    conn.putrequest("PUT", f"{signed.path}?{signed.query}")
    conn.putheader("Content-Type", "application/dicom")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    conn.send(b"4\r\nDICM\r\n0\r\n\r\n")
    got = conn.getresponse()
    assert got.status == 411
    assert ET.fromstring(got.read()).findtext("Code") == "MissingContentLength"
    conn.close()
    assert stored() == []


def test_sdk_style_calls_are_not_taken_and_moto_down_is_a_503(aws: None) -> None:
    server = serve_gate("http://127.0.0.1:9", REGION)  # nothing listens on the discard port
    try:
        mine = local_credentials()
        url = signer(server.url, mine.access_key, mine.secret_key).generate_presigned_url(
            "get_object", Params={"Bucket": BUCKET, "Key": "k"}
        )
        assert requests.get(url).status_code == 503
        sdk = requests.get(
            f"{server.url}/{BUCKET}/k", headers={"Authorization": "AWS4-HMAC-SHA256 x"}
        )
        assert s3_error(sdk) == (403, "AccessDenied")
    finally:
        server.close()


def test_only_presigned_urls_name_the_gate(aws: None) -> None:
    """chalicelib.storage.clients: the setting (make serve) or presign_at (the test stack)
    moves presigned URLs to the gate; API calls and, once reset, URLs keep S3's endpoint."""
    from chalicelib.config import Settings
    from chalicelib.storage.clients import AwsClients

    clients = AwsClients(Settings(s3_presign_endpoint="http://127.0.0.1:9"))
    clients.s3.create_bucket(Bucket=BUCKET)  # an API call: to S3 (mock_aws), not the gate
    params = {"Bucket": BUCKET, "Key": "k"}
    assert clients.s3.generate_presigned_url("get_object", Params=params).startswith(
        f"http://127.0.0.1:9/{BUCKET}/k?"
    )
    assert clients.presign_at("") == "http://127.0.0.1:9"
    assert ".amazonaws.com/" in clients.s3.generate_presigned_url("get_object", Params=params)
    later = AwsClients(Settings())
    later.s3.list_buckets()
    later.presign_at("http://127.0.0.1:8")  # a client made before: moved too
    assert later.s3.generate_presigned_url("get_object", Params=params).startswith(
        "http://127.0.0.1:8/"
    )


def test_a_body_cut_short_writes_nothing(gate: tuple[str, Any]) -> None:
    """A client that stops before its Content-Length: moto is not left waiting for the rest,
    and nothing is stored."""
    _, client = gate
    signed = urlsplit(put_url(client=client))
    host, port = signed.netloc.split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        head = (
            f"PUT {signed.path}?{signed.query} HTTP/1.1\r\nHost: {signed.netloc}\r\n"
            "Content-Type: application/dicom\r\nContent-Length: 100000\r\n\r\n"
        )
        sock.sendall(head.encode() + b"DICM" * 10)
        sock.shutdown(socket.SHUT_WR)
        sock.recv(65536)  # whatever the gate answers a client that left, it answers at once
    assert stored() == []
