"""routes/auth.py: where the API key is read (HTTP Basic included), the 401 it answers and the
challenges every 401 carries. No AWS: the key cache is a fake."""

from __future__ import annotations

import base64
import json
from types import SimpleNamespace
from typing import Any

import pytest

from chalicelib.dicomweb.errors import Unauthorized
from chalicelib.routes.auth import authenticate
from chalicelib.routes.credentials import KEY_REQUIRED, basic_password, extract_api_key
from chalicelib.routes.http import CHALLENGES, PRINCIPAL, error_response
from chalicelib.services.ports import Principal

KEY = "dwk_" + "k" * 43


def basic(credentials: bytes | str) -> dict[str, str]:
    raw = credentials.encode() if isinstance(credentials, str) else credentials
    return {"authorization": "Basic " + base64.b64encode(raw).decode()}


# --- extract_api_key -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "user",
    ["any", "", "orthanc", "user with spaces", "Jos\u00e9", "\u5f20\u4f1f", "a" * 200],
)
def test_basic_with_any_user_name_is_its_password(user: str) -> None:
    assert extract_api_key(basic(f"{user}:{KEY}")) == KEY


def test_the_user_name_need_not_be_utf8() -> None:
    """It is ignored: a Latin-1 name (curl on such a terminal) still authenticates."""
    assert extract_api_key(basic("Jos\u00e9".encode("latin-1") + b":" + KEY.encode())) == KEY


def test_the_password_is_split_at_the_first_colon_and_read_as_utf8() -> None:
    assert extract_api_key(basic("any:a:b")) == "a:b"
    assert extract_api_key(basic("any:cl\u00e9-\u5bc6\u94a5")) == "cl\u00e9-\u5bc6\u94a5"
    assert extract_api_key(basic(f"any:  {KEY} ")) == KEY  # stripped, as every header is


@pytest.mark.parametrize("scheme", ["Basic", "basic", "BASIC"])
def test_the_scheme_is_case_insensitive_and_padding_optional(scheme: str) -> None:
    token = base64.b64encode(f"any:{KEY}x".encode()).decode()
    assert token.endswith("=")
    assert extract_api_key({"authorization": f"{scheme} {token}"}) == KEY + "x"
    assert extract_api_key({"authorization": f"{scheme}  {token.rstrip('=')} "}) == KEY + "x"


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("Basic", "no credentials"),
        ("Basic   ", "no credentials"),
        ("Basic not*base64!", "not base64"),
        ("Basic " + KEY.replace("_", "-"), "not base64"),  # a bare key, not base64 of user:key
        ("Basic Zm9v", "no colon"),  # foo
        ("Basic " + base64.b64encode(KEY.encode()).decode(), "no colon"),
        ("Basic " + base64.b64encode(b"any:").decode(), "empty"),
        ("Basic " + base64.b64encode(b"any:   ").decode(), "empty"),
        ("Basic " + base64.b64encode(b"any:\xff\xfe").decode(), "not UTF-8"),
        ("Basic YW55OmtleQ=====", "not base64"),  # any:key, padding too long
    ],
)
def test_malformed_basic_is_a_401_saying_what_is_wrong(value: str, says: str) -> None:
    with pytest.raises(Unauthorized) as raised:
        extract_api_key({"authorization": value})
    assert says in raised.value.message
    assert raised.value.status == 401
    token = value.partition(" ")[2].strip()
    assert not token or token not in raised.value.message  # what was sent is not echoed


def test_the_other_headers_come_first_and_are_unchanged() -> None:
    assert extract_api_key({"apikey": KEY, "authorization": "Basic !!"}) == KEY
    assert extract_api_key({"x-api-key": KEY, **basic("any:other")}) == KEY
    assert extract_api_key({"authorization": f"Bearer {KEY}"}) == KEY
    assert extract_api_key({"authorization": "Digest username=any"}) is None
    assert extract_api_key({"authorization": "Bearer "}) is None
    assert extract_api_key({}) is None


def test_basic_password_alone() -> None:
    assert basic_password(base64.b64encode(b":k").decode()) == "k"


# --- the 401 ---------------------------------------------------------------------------------


def test_every_401_challenges_for_basic_and_bearer_one_header_line_each() -> None:
    response = error_response(Unauthorized("no"))
    assert response.headers["WWW-Authenticate"] == CHALLENGES
    assert CHALLENGES == ['Basic realm="dicomweb", charset="UTF-8"', 'Bearer realm="dicomweb"']
    as_lambda = response.to_dict(binary_types=["*/*"])
    assert as_lambda["multiValueHeaders"]["WWW-Authenticate"] == CHALLENGES
    assert "WWW-Authenticate" not in as_lambda["headers"]


def test_other_errors_carry_no_challenge() -> None:
    from chalicelib.dicomweb.errors import Forbidden, NotFound

    for err in (Forbidden("no"), NotFound("no")):
        assert "WWW-Authenticate" not in error_response(err).headers


class FakeCache:
    def __init__(self) -> None:
        self.asked: list[str] = []

    def resolve(self, api_key: str) -> Principal | None:
        self.asked.append(api_key)
        return Principal("t1", "k1", frozenset({"read"})) if api_key == KEY else None


def run(headers: dict[str, str], method: str = "GET") -> tuple[Any, FakeCache, dict[str, Any]]:
    cache = FakeCache()
    event = SimpleNamespace(method=method, headers=headers, context={"resourcePath": "/studies"})
    middleware = authenticate(lambda: cache)  # type: ignore[arg-type,return-value]
    answer = middleware(event, lambda e: "served")  # type: ignore[arg-type]
    return answer, cache, event.context


def body(response: Any) -> dict[str, Any]:
    return json.loads(response.body)["error"]


def test_the_middleware_serves_a_basic_request_as_its_key() -> None:
    answer, cache, context = run(basic(f"any:{KEY}"))
    assert answer == "served" and cache.asked == [KEY]
    assert context[PRINCIPAL].tenant == "t1"


def test_the_middleware_answers_malformed_basic_401_without_a_lookup() -> None:
    answer, cache, _ = run({"authorization": "Basic %%%"})
    assert answer.status_code == 401 and cache.asked == []
    assert body(answer) == {
        "status": 401,
        "code": "Unauthorized",
        "message": "Authorization: Basic credentials are not base64; send base64(user:key)",
    }
    assert answer.headers["WWW-Authenticate"] == CHALLENGES


def test_a_wrong_password_is_the_same_401_as_a_wrong_key() -> None:
    wrong, _, _ = run(basic("any:wrong"))
    unknown, _, _ = run({"apikey": "wrong"})
    none, _, _ = run({})
    for answer in (wrong, unknown, none):
        assert answer.status_code == 401
        assert body(answer)["message"] == KEY_REQUIRED
        assert answer.headers["WWW-Authenticate"] == CHALLENGES


def test_every_method_of_a_public_path_passes_without_a_key() -> None:
    """Its other methods are the path's 405, which needs no key; elsewhere the key comes first."""
    middleware = authenticate(FakeCache, public={("GET", "/health")})  # type: ignore[arg-type]
    for method in ("GET", "PUT", "DELETE"):
        event = SimpleNamespace(method=method, headers={}, context={"resourcePath": "/health"})
        assert middleware(event, lambda e: "served") == "served"  # type: ignore[arg-type]
    event = SimpleNamespace(method="PUT", headers={}, context={"resourcePath": "/studies"})
    assert middleware(event, lambda e: "served").status_code == 401  # type: ignore[arg-type]


# --- KeyCache: bounded LRUs, unknown keys apart ---------------------------------------------


class CountingTenants:
    """A TenantStore: the keys it knows by hash, and how often each hash was looked up."""

    def __init__(self, keys: dict[str, Principal]) -> None:
        from chalicelib.storage.tenants import hash_key

        self._by_hash = {hash_key(k): p for k, p in keys.items()}
        self.lookups: dict[str, int] = {}

    def principal_for_key_hash(self, key_hash: str) -> Principal | None:
        self.lookups[key_hash] = self.lookups.get(key_hash, 0) + 1
        return self._by_hash.get(key_hash)

    def count(self, key: str) -> int:
        from chalicelib.storage.tenants import hash_key

        return self.lookups.get(hash_key(key), 0)


def tenant_keys(n: int) -> dict[str, Principal]:
    return {f"dwk_real_{i}": Principal(f"t{i}", f"k{i}", frozenset({"read"})) for i in range(n)}


def test_a_flood_of_unknown_keys_keeps_every_known_one() -> None:
    from chalicelib.routes.credentials import KeyCache

    keys = tenant_keys(5)
    tenants = CountingTenants(keys)
    cache = KeyCache(tenants, ttl=60, known=10, unknown=3)
    for key, principal in keys.items():
        assert cache.resolve(key) == principal
    for i in range(1000):
        assert cache.resolve(f"dwk_probe_{i}") is None
    for key, principal in keys.items():
        assert cache.resolve(key) == principal
        assert tenants.count(key) == 1  # still cached: looked up once
    assert sum(tenants.lookups.values()) == 5 + 1000


def test_unknown_keys_are_cached_in_their_own_bounded_lru() -> None:
    from chalicelib.routes.credentials import KeyCache

    tenants = CountingTenants({})
    cache = KeyCache(tenants, ttl=60, known=10, unknown=2)
    for key in ("a", "b", "a", "c"):  # "a" used again: "b" is the least recently used
        assert cache.resolve(key) is None
    assert [tenants.count(k) for k in "abc"] == [1, 1, 1]
    cache.resolve("a")
    cache.resolve("b")  # evicted, looked up again
    assert [tenants.count(k) for k in "abc"] == [1, 2, 1]


def test_known_keys_evict_the_least_recently_used_one_at_a_time() -> None:
    from chalicelib.routes.credentials import KeyCache

    keys = tenant_keys(4)
    tenants = CountingTenants(keys)
    cache = KeyCache(tenants, ttl=60, known=3, unknown=1)
    names = list(keys)
    for key in names[:3]:
        cache.resolve(key)
    cache.resolve(names[0])  # now names[1] is the least recently used
    cache.resolve(names[3])  # evicts names[1] only
    for key in (names[0], names[2], names[3], names[1]):  # the last one a miss
        cache.resolve(key)
    assert [tenants.count(k) for k in names] == [1, 2, 1, 1]


def test_entries_expire_after_the_ttl(monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.routes import credentials as auth

    clock = [1000.0]
    monkeypatch.setattr(auth.time, "monotonic", lambda: clock[0])
    keys = tenant_keys(1)
    tenants = CountingTenants(keys)
    cache = auth.KeyCache(tenants, ttl=60)
    (key,) = keys
    cache.resolve(key)
    cache.resolve("unknown")
    clock[0] += 59
    cache.resolve(key)
    cache.resolve("unknown")
    assert tenants.count(key) == 1 and tenants.count("unknown") == 1
    clock[0] += 2
    cache.resolve(key)
    cache.resolve("unknown")
    assert tenants.count(key) == 2 and tenants.count("unknown") == 2
