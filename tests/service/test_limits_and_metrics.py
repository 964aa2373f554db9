"""Per-tenant rate limits (429 with Retry-After, tenants counted apart) and per-tenant EMF
metrics (requests by transaction, instances and bytes stored)."""

from __future__ import annotations

import dataclasses
import json
import time

import requests

from local.harness import in_process_stack
from tests.conftest import KEY, OTHER_KEY
from tests.factories import instance_bytes


def test_rate_limit_per_tenant(lambda_app):
    deps = lambda_app.deps
    original = deps.settings
    deps.settings = dataclasses.replace(original, tenant_rate_limit=3)
    deps.__dict__.pop("rate_limiter", None)
    try:
        with in_process_stack(lambda_app, KEY) as stack:
            codes = [stack.get("/studies").status_code for _ in range(8)]
            # a one-second window: at most 3 a second pass (two windows at most in 8 calls)
            assert codes.count(429) >= 2 and codes.count(200) <= 6
            r = next(r for r in (stack.get("/studies") for _ in range(5)) if r.status_code == 429)
            assert r.headers["Retry-After"] == "1"
            assert r.json()["error"]["code"] == "TooManyRequests"
            # the other tenant has its own budget
            other = requests.get(stack.url + "/studies", headers={"apikey": OTHER_KEY})
            assert other.status_code == 200
    finally:
        deps.settings = original
        deps.__dict__.pop("rate_limiter", None)


def test_metrics_carry_the_tenant(stack, monkeypatch, capsys):
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    data = instance_bytes()
    stack.post("/studies", data=data, headers={"Content-Type": "application/dicom"})
    # the receiver logs a request after its answer is sent (the duration covers the send):
    # the client can read the answer before the line is written, so wait for it
    by_name: dict[str, dict] = {}
    deadline = time.monotonic() + 10
    while "Requests" not in by_name and time.monotonic() < deadline:
        for text in capsys.readouterr().out.splitlines():
            if '"_aws"' in text:
                line = json.loads(text)
                for metric in line["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
                    by_name[metric["Name"]] = line
        time.sleep(0.02)
    assert by_name["InstancesStored"]["tenant"] == "t1"
    assert by_name["InstancesStored"]["InstancesStored"] in (1.0, [1.0])
    assert by_name["BytesStored"]["BytesStored"] in (float(len(data)), [float(len(data))])
    assert by_name["Requests"]["tenant"] == "t1"
    assert by_name["Requests"]["transaction"] == "POST /studies"
