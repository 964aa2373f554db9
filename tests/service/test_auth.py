"""API keys: accepted headers (HTTP Basic included), 401 with the JSON error body and its
challenges, scopes; 405 for a known path and a method it does not serve, after the key check."""

from __future__ import annotations

import base64
import shutil
import subprocess

import pytest
import requests

from tests.conftest import KEY, TENANT
from tests.factories import dataset, to_bytes


@pytest.mark.parametrize(
    "headers",
    [{"apikey": KEY}, {"x-api-key": KEY}, {"Authorization": f"Bearer {KEY}"}, {"APIKEY": KEY}],
)
def test_key_headers(stack, headers):
    r = requests.get(stack.url + "/studies", headers=headers)
    assert r.status_code == 200


@pytest.mark.parametrize(
    "headers",
    [{}, {"apikey": "wrong"}, {"Authorization": f"Basic {KEY}"}, {"Authorization": "Bearer "}],
)
def test_missing_or_unknown_key_is_401(stack, headers):
    r = requests.get(stack.url + "/studies", headers=headers)
    assert r.status_code == 401
    body = r.json()
    assert body["error"]["status"] == 401 and body["error"]["code"] == "Unauthorized"
    assert r.headers["Access-Control-Allow-Origin"] == "*"


def test_only_the_hash_is_stored(stack):
    db = stack.deps.clients.dynamodb
    items = db.scan(TableName=stack.deps.settings.tenants_table)["Items"]
    text = repr(items)
    assert KEY not in text
    assert any(i.get("tenant", {}).get("S") == TENANT for i in items)


def test_read_only_key_cannot_store(stack):
    _, read_key = stack.deps.tenants.create_key(TENANT, frozenset({"read"}), name="viewer")
    r = requests.post(
        stack.url + "/studies",
        data=b"x",
        headers={"apikey": read_key, "Content-Type": "application/dicom"},
    )
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "Forbidden"
    assert requests.get(stack.url + "/studies", headers={"apikey": read_key}).status_code == 200


def test_key_lookups_are_cached(stack):
    stack.counter.reset()
    for _ in range(5):
        stack.get("/studies")
    assert stack.counter.calls("dynamodb.GetItem") <= 1


def test_a_request_without_accept_header_is_answered(stack):
    import http.client

    host, port = stack.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port))
    conn.putrequest("GET", "/studies", skip_accept_encoding=True)
    conn.putheader("apikey", KEY)
    conn.endheaders()
    response = conn.getresponse()
    assert response.status == 200
    assert response.read() == b"[]"


def test_expired_and_revoked_keys_are_refused(stack):
    from datetime import UTC, datetime, timedelta

    tenants = stack.deps.tenants
    _, expired = tenants.create_key(
        TENANT, frozenset({"read"}), expires_at=datetime.now(UTC) - timedelta(seconds=1)
    )
    assert requests.get(stack.url + "/studies", headers={"apikey": expired}).status_code == 401
    key_id, key = tenants.create_key(TENANT, frozenset({"read"}), name="to-revoke")
    assert requests.get(stack.url + "/studies", headers={"apikey": key}).status_code == 200
    assert tenants.revoke(key_id)
    # still trusted from the cache for at most its TTL (60 s), then refused
    assert requests.get(stack.url + "/studies", headers={"apikey": key}).status_code == 200
    stack.deps.__dict__.pop("key_cache", None)  # a new container, or the TTL elapsed
    assert requests.get(stack.url + "/studies", headers={"apikey": key}).status_code == 401
    assert stack.deps.settings.key_cache_ttl <= 60


# --- HTTP Basic: any user name, the key as the password ---------------------------------------


def test_basic_reads_and_writes_as_the_key(stack):
    ds = dataset(rows=8, columns=8)
    r = requests.post(
        stack.url + "/studies",
        data=to_bytes(ds),
        headers={"Content-Type": "application/dicom"},
        auth=("any", KEY),
    )
    assert r.status_code == 200, r.text
    r = requests.get(
        stack.url + "/studies", params={"StudyInstanceUID": ds.StudyInstanceUID}, auth=("", KEY)
    )
    assert r.status_code == 200
    stack.drain()
    r = requests.get(
        stack.url + "/studies", params={"StudyInstanceUID": ds.StudyInstanceUID}, auth=("x", KEY)
    )
    assert [s["0020000D"]["Value"] for s in r.json()] == [[ds.StudyInstanceUID]]


def test_basic_has_the_keys_scopes(stack):
    _, read_key = stack.deps.tenants.create_key(TENANT, frozenset({"read"}), name="viewer")
    r = requests.post(
        stack.url + "/studies",
        data=b"x",
        headers={"Content-Type": "application/dicom"},
        auth=("modality", read_key),
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "Forbidden"
    assert requests.get(stack.url + "/studies", auth=("modality", read_key)).status_code == 200


@pytest.mark.parametrize(
    ("auth", "headers"),
    [
        (("any", "wrong"), {}),
        (None, {"Authorization": "Basic %%%"}),  # not base64
        (None, {"Authorization": "Basic " + base64.b64encode(KEY.encode()).decode()}),  # no colon
        (("any", ""), {}),  # empty password
    ],
)
def test_a_wrong_or_malformed_basic_is_a_401_with_challenges(stack, auth, headers):
    r = requests.get(stack.url + "/studies", auth=auth, headers=headers)
    assert r.status_code == 401
    error = r.json()["error"]
    assert error["code"] == "Unauthorized" and error["message"]
    challenges = r.raw.headers.getlist("WWW-Authenticate")
    assert challenges == ['Basic realm="dicomweb", charset="UTF-8"', 'Bearer realm="dicomweb"']
    assert r.headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_anyauth_answers_the_challenge(stack):
    """curl --anyauth sends no credentials until a 401 names a scheme it knows; then Basic."""
    url = stack.url + "/studies"
    done = subprocess.run(
        ["curl", "-v", "--fail-with-body", "-sS", "--anyauth", "-u", f"any:{KEY}", url],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    assert done.stdout == "[]"
    assert "< HTTP/1.1 401" in done.stderr and "Authorization: Basic" in done.stderr
    assert "< HTTP/1.1 200" in done.stderr


# --- 405 for a known path and a method it does not serve --------------------------------------

STUDY = "/studies/{study}"
INSTANCE = STUDY + "/series/{series}/instances/{instance}"
UIDS = {"study": "1.2.3", "series": "4.5", "instance": "6.7"}


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", "/studies", "GET, POST, OPTIONS"),
        ("DELETE", "/studies", "GET, POST, OPTIONS"),
        ("PATCH", "/studies", "GET, POST, OPTIONS"),
        ("POST", STUDY + "/metadata", "GET, OPTIONS"),
        ("PUT", STUDY, "GET, POST, DELETE, OPTIONS"),
        ("POST", INSTANCE, "GET, DELETE, OPTIONS"),
        ("DELETE", "/changefeed", "GET, OPTIONS"),
        ("GET", "/uploads", "POST, OPTIONS"),
        ("DELETE", "/health", "GET, OPTIONS"),
    ],
)
def test_another_method_on_a_known_path_is_405_with_allow(stack, method, path, allow):
    """Whatever the key's scopes, and whether the resource exists or not: the method is wrong
    for the path."""
    _, read_only = stack.deps.tenants.create_key(TENANT, frozenset({"read"}), name="viewer")
    for key in (KEY, read_only):
        r = requests.request(
            method, stack.url + path.format(**UIDS), headers={"apikey": key}, data=b"{}"
        )
        assert r.status_code == 405, r.text
        assert r.headers["Allow"] == allow
        assert r.json() == {
            "error": {
                "status": 405,
                "code": "MethodNotAllowed",
                "message": f"{path} allows {allow} only",
            }
        }
        assert r.headers["Access-Control-Allow-Origin"] == "*"
        assert "WWW-Authenticate" not in r.headers


@pytest.mark.parametrize(
    ("method", "path"), [("PUT", "/studies"), ("DELETE", "/studies"), ("POST", STUDY + "/metadata")]
)
def test_the_key_is_checked_before_the_method(stack, method, path):
    """401 first where the path's routes need a key (conformance 3.2)."""
    path = path.format(**UIDS)
    for headers in ({}, {"apikey": "wrong"}, {"Authorization": "Basic %%%"}):
        r = requests.request(method, stack.url + path, headers=headers)
        assert r.status_code == 401, (headers, r.status_code)
        assert r.json()["error"]["code"] == "Unauthorized" and "Allow" not in r.headers
        assert "Basic" in r.headers["WWW-Authenticate"]
    r = requests.request(method, stack.url + path, auth=("any", KEY))
    assert r.status_code == 405


@pytest.mark.parametrize(("method", "path"), [("PUT", "/health"), ("POST", "/openapi.json")])
def test_on_a_public_path_the_405_needs_no_key(stack, method, path):
    for headers in ({}, {"apikey": "wrong"}, {"apikey": KEY}):
        r = requests.request(method, stack.url + path, headers=headers)
        assert r.status_code == 405 and r.headers["Allow"] == "GET, OPTIONS", headers


def test_unknown_paths_and_other_methods_stay_404(stack):
    assert stack.http.put(stack.url + "/nothing").status_code == 404
    assert stack.http.head(stack.url + "/studies").status_code == 404
    assert stack.http.request("TRACE", stack.url + "/studies").status_code == 404
    preflight = requests.options(
        stack.url + "/studies",
        headers={"Origin": "https://viewer.example", "Access-Control-Request-Method": "GET"},
    )
    assert preflight.status_code == 200
