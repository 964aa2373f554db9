"""routes/about.py over HTTP: ``GET /health`` needs no key and costs no AWS call."""

from __future__ import annotations


def test_health_answers_without_a_key_and_without_aws(stack):
    stack.counter.reset()
    r = stack.http.get(stack.url + "/health", headers={"apikey": ""})
    assert r.status_code == 200, r.text
    assert r.json() == {"status": "ok"}
    assert r.headers["Content-Type"] == "application/json"
    assert stack.counter.total_calls() == 0


def test_health_is_described_as_public(stack):
    doc = stack.http.get(stack.url + "/openapi.json").json()
    operation = doc["paths"]["/health"]["get"]
    assert operation["security"] == [] and operation["operationId"] == "health"
