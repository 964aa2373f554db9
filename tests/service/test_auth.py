"""API keys: accepted headers, 401 with the JSON error body, scopes."""

from __future__ import annotations

import pytest
import requests

from tests.conftest import KEY, TENANT


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
