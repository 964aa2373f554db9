"""The local API Gateway: limits, chunked bodies, path parameters, routing, CORS preflight."""

from __future__ import annotations

import base64
import binascii
import json

import pytest
import requests

from local.gateway import json_size, response_body
from local.harness import in_process_stack
from tests.conftest import KEY
from tests.factories import dataset, to_bytes

MB = 1024 * 1024


def _chunks(data: bytes, size: int = 64 * 1024):
    for i in range(0, len(data), size):
        yield data[i : i + size]


@pytest.fixture
def api_only(lambda_app):
    """STOW through the API (the receiver off): the gateway's own limits answer."""
    with in_process_stack(lambda_app, KEY, receiver=False) as s:
        yield s


def test_body_over_the_lambda_payload_gets_413(api_only):
    # 7 MB is under API Gateway's 10 MB but over Lambda's 6 MB once base64-encoded
    r = api_only.post(
        "/studies", data=b"\0" * (7 * MB), headers={"Content-Type": "application/dicom"}
    )
    assert r.status_code == 413
    error = r.json()["error"]
    assert error["status"] == 413 and error["code"] == "PayloadTooLarge"
    assert r.headers["Access-Control-Allow-Origin"] == "*"


def test_body_over_api_gateway_limit_gets_413(api_only):
    r = api_only.post(
        "/studies", data=b"\0" * (11 * MB), headers={"Content-Type": "application/dicom"}
    )
    assert r.status_code == 413
    assert "10485760" in r.json()["error"]["message"]


def test_chunked_body_arrives_whole(stack):
    ds = dataset(rows=1024, columns=1024)  # 2 MB of pixels
    data = to_bytes(ds)
    assert len(data) > 2 * MB
    r = stack.http.post(
        stack.url + "/studies",
        data=_chunks(data),  # a generator: requests sends Transfer-Encoding: chunked
        headers={"Content-Type": "application/dicom"},
    )
    assert r.status_code == 200, r.text
    r = stack.get(
        f"/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}",
        headers={"Accept": "application/dicom; transfer-syntax=*"},
    )
    assert r.content == data


def test_encoded_path_parameter_arrives_decoded(stack):
    ds = dataset(study="1.2.3.4")
    stack.post("/studies", data=to_bytes(ds), headers={"Content-Type": "application/dicom"})
    stack.drain()
    r = stack.get("/studies/1%2E2%2E3%2E4/series")
    assert r.status_code == 200
    assert len(r.json()) == 1
    r = stack.get("/studies/1.2%2F3/series")  # %2F stays inside the segment, then is refused
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "InvalidUID"


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/nope"), ("TRACE", "/imports/rejected"), ("GET", "/studies/1/x")]
)
def test_unknown_routes_get_the_json_404(stack, method, path):
    r = stack.http.request(method, stack.url + path)
    assert r.status_code == 404
    assert r.json()["error"]["status"] == 404


def test_preflight_needs_no_key_and_allows_authorization(stack):
    r = requests.options(
        stack.url + "/studies",
        headers={
            "Origin": "http://viewer.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert r.status_code == 200
    assert "Authorization" in r.headers["Access-Control-Allow-Headers"]
    assert "GET" in r.headers["Access-Control-Allow-Methods"]
    assert "Warning" in r.headers["Access-Control-Expose-Headers"]


def test_trailing_slash_and_query_parameters(stack):
    r = stack.get("/studies/", params={"PatientID": "x", "limit": "5"})
    assert r.status_code == 200
    assert r.json() == []


@pytest.mark.parametrize(
    "raw",
    [
        base64.b64encode(bytes(range(256)) * 9).decode(),
        "",
        base64.encodebytes(b"x" * 200).decode(),  # newlines: JSON escapes them
    ],
)
def test_json_size_is_the_length_of_the_json(raw):
    answer = {"statusCode": 200, "headers": {"X": "é"}, "body": raw, "isBase64Encoded": True}
    body, plain = response_body(answer)
    assert json_size(answer, plain_body=plain) == len(json.dumps(answer))
    if plain:
        assert body == base64.b64decode(raw)
    text = {"statusCode": 200, "body": '{"a": "é\\n\\"q\\""}', "isBase64Encoded": False}
    assert response_body(text) == ('{"a": "é\\n\\"q\\""}'.encode(), False)
    assert json_size(text) == len(json.dumps(text))


@pytest.mark.parametrize("simd", [True, False], ids=["pybase64", "binascii"])
def test_base64_either_way_is_the_standard_one(monkeypatch, simd):
    from local import gateway

    if not simd:
        monkeypatch.setattr(gateway, "_simd_decode", None)
        monkeypatch.setattr(gateway, "_simd_encode", None)
    data = bytes(range(256)) * 41 + b"\x00"
    assert gateway.b64encode(data) == base64.b64encode(data).decode()
    assert gateway.strict_b64decode(base64.b64encode(data)) == data
    with pytest.raises(binascii.Error):
        gateway.strict_b64decode(base64.encodebytes(data))  # newlines are not base64
