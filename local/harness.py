"""An in-process stack for tests and benchmarks: the real app on moto's ``mock_aws``, behind
the local front on a real HTTP port (uvicorn in a thread), with the indexer's poller driven
by the caller and an AWS-call counter on the app's clients. Presigned S3 URLs name the local S3
gate (another port), which checks them as S3 does before moto sees them."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import requests

from chalicelib.storage.metering import AwsCallCounter
from chalicelib.storage.tenants import ALL_SCOPES
from local.bootstrap import create_resources
from local.downloads import LocalDownloads, new_signing_key
from local.front import Front, ThreadedAsgiServer, front_config
from local.gateway import LARGE_UPLOAD_HINT, LocalGateway
from local.indexer_poller import Poller
from local.moto_patches import make_emulator_safe
from local.s3_gate import serve_gate
from receiver.app import Receiver


@dataclass
class InProcessStack:
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


@contextmanager
def prepared_app(tenants: dict[str, str]) -> Iterator[ModuleType]:
    """The app module with its resources created on the active moto backend and the given
    tenants (tenant -> API key, every scope)."""
    make_emulator_safe()
    import app as module

    module.deps.reset()
    create_resources(module.deps.clients, module.deps.settings, visibility_timeout=0)
    for tenant, key in tenants.items():
        module.deps.tenants.create_tenant(tenant)
        module.deps.tenants.create_key(tenant, ALL_SCOPES, name="test", api_key=key)
    try:
        yield module
    finally:
        module.deps.reset()


def use_local_downloads(module: ModuleType, gateway: LocalGateway, url: str) -> None:
    """Large answers redirect to the gateway's own /_downloads/ path, signed as CloudFront
    signs (the deployed stack puts CloudFront in front of the API and the bucket)."""
    deps = module.deps
    key_id, private, public = new_signing_key()
    deps.settings = dataclasses.replace(
        deps.settings, download_base_url=url, download_key_id=key_id, download_private_key=private
    )
    deps.__dict__.pop("downloads", None)
    gateway.downloads = LocalDownloads(deps.clients.s3, deps.settings.bucket, url, key_id, public)


@contextmanager
def presigning_through_gate(module: ModuleType) -> Iterator[str]:
    """Presigned S3 URLs point at a local S3 gate (its URL yielded) for the duration; API calls
    still go to moto (here ``mock_aws``, which the gate's forwarded requests reach too)."""
    deps = module.deps
    gate = serve_gate(deps.clients.s3.meta.endpoint_url, deps.settings.region)
    before = deps.settings.s3_presign_endpoint
    deps.settings = dataclasses.replace(deps.settings, s3_presign_endpoint=gate.url)
    previous = deps.clients.presign_at(gate.url)  # a deps.reset() reads it from the settings
    try:
        yield gate.url
    finally:
        deps.clients.presign_at(previous)
        if deps.settings.s3_presign_endpoint == gate.url:
            deps.settings = dataclasses.replace(deps.settings, s3_presign_endpoint=before)
        gate.close()


@contextmanager
def in_process_stack(
    module: ModuleType, key: str, receiver: bool = True
) -> Iterator[InProcessStack]:
    """The app behind the local front (``receiver=False``: STOW through the API only, as the
    stack parameter ``StowReceiver=Disabled`` deploys it)."""
    deps = module.deps
    gateway = LocalGateway(
        module.app,
        request_limit=deps.settings.request_limit,
        payload_limit=deps.settings.payload_limit,
        large_upload_hint=LARGE_UPLOAD_HINT,
    )
    secret = secrets.token_urlsafe(24)
    deps.settings = dataclasses.replace(deps.settings, origin_secret=secret)
    front = Front(gateway, Receiver(deps) if receiver else None, secret)
    server = ThreadedAsgiServer(front, config=front_config)
    use_local_downloads(module, gateway, server.url)
    sqs = deps.clients.sqs
    queue_url = sqs.get_queue_url(QueueName=deps.settings.index_queue)["QueueUrl"]
    poller = Poller(module.index_objects, sqs, queue_url)
    counter = AwsCallCounter()
    deps.clients.instrument(counter.attach)
    http = requests.Session()
    http.headers["apikey"] = key
    try:
        with presigning_through_gate(module):
            yield InProcessStack(server.url, key, module, poller, counter, http)
    finally:
        http.close()
        server.close()
