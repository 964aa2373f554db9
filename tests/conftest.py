"""Shared fixtures.

* ``aws``: moto's in-process ``mock_aws`` (no network);
* ``lambda_app``: the real ``app`` module with its resources created on that backend;
* ``stack``: that app behind the local gateway on a real HTTP port (waitress in a thread), with
  the indexer's poller driven by the test (``stack.drain()``) and an AWS-call counter.
"""

from __future__ import annotations

import os

for _name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
    os.environ.pop(_name, None)
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }
)

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pytest
import requests
from moto import mock_aws

from chalicelib.storage.metering import AwsCallCounter
from chalicelib.storage.tenants import ALL_SCOPES
from local.bootstrap import create_resources
from local.gateway import LocalGateway
from local.indexer_poller import Poller
from local.moto_patches import make_dynamodb_atomic

make_dynamodb_atomic()

TENANT = "t1"
OTHER_TENANT = "t2"
KEY = "test-key-t1-" + "x" * 32
OTHER_KEY = "test-key-t2-" + "y" * 32


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def lambda_app(aws: None) -> Iterator[ModuleType]:
    import app as module

    module.deps.reset()
    create_resources(module.deps.clients, module.deps.settings, visibility_timeout=0)
    tenants = module.deps.tenants
    for tenant, key in ((TENANT, KEY), (OTHER_TENANT, OTHER_KEY)):
        tenants.create_tenant(tenant)
        tenants.create_key(tenant, ALL_SCOPES, name="test", api_key=key)
    yield module
    module.deps.reset()


@dataclass
class LocalStack:
    url: str
    key: str
    app: ModuleType
    poller: Poller
    counter: AwsCallCounter
    http: requests.Session

    @property
    def deps(self) -> Any:
        return self.app.deps

    def drain(self) -> int:
        """Run the indexer until the queue is empty (imports take two rounds)."""
        total = 0
        while True:
            n = self.poller.drain()
            if n == 0:
                return total
            total += n

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.http.get(self.url + path, **kw)

    def post(self, path: str, **kw: Any) -> requests.Response:
        return self.http.post(self.url + path, **kw)


def serve_in_thread(wsgi_app: Any) -> tuple[Any, str]:
    from waitress import create_server

    server = create_server(wsgi_app, host="127.0.0.1", port=0, threads=8)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    return server, f"http://127.0.0.1:{server.effective_port}"


@pytest.fixture
def stack(lambda_app: ModuleType) -> Iterator[LocalStack]:
    deps = lambda_app.deps
    gateway = LocalGateway(
        lambda_app.app,
        request_limit=deps.settings.request_limit,
        payload_limit=deps.settings.payload_limit,
    )
    server, url = serve_in_thread(gateway)
    sqs = deps.clients.sqs
    queue_url = sqs.get_queue_url(QueueName=deps.settings.index_queue)["QueueUrl"]
    poller = Poller(lambda_app.index_objects, sqs, queue_url)
    counter = AwsCallCounter()
    deps.clients.instrument(counter.attach)
    http = requests.Session()
    http.headers["apikey"] = KEY
    try:
        yield LocalStack(url, KEY, lambda_app, poller, counter, http)
    finally:
        server.close()
