"""boto3 clients, created lazily once per container (or process).

Clients are created on first use, not at import: a client created before ``mock_aws()`` starts
would not be mocked, and the QIDO path should not pay for an SQS client it never uses. Locally,
``AWS_ENDPOINT_URL`` (read by boto3 itself) points every client at the moto server.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config

from chalicelib.config import Settings

Hook = Callable[[Any], None]


class AwsClients:
    """One boto3 client per service, shared by every request of a container."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._hooks: list[Hook] = []
        self._config = Config(
            region_name=settings.region,
            retries={"mode": "standard", "max_attempts": 4},
            max_pool_connections=32,
            connect_timeout=5,
            read_timeout=20,
            s3={"addressing_style": "path"},
        )

    def client(self, service: str) -> Any:
        existing = self._clients.get(service)
        if existing is not None:
            return existing
        with self._lock:
            if service not in self._clients:
                session = boto3.session.Session()
                config = self._config
                if service == "s3":  # presigned URLs signed with SigV4, expiring as asked
                    config = config.merge(Config(signature_version="s3v4"))
                created = session.client(service, config=config)
                for hook in self._hooks:
                    hook(created)
                self._clients[service] = created
            return self._clients[service]

    @property
    def s3(self) -> Any:
        return self.client("s3")

    @property
    def dynamodb(self) -> Any:
        return self.client("dynamodb")

    @property
    def sqs(self) -> Any:
        return self.client("sqs")

    def instrument(self, hook: Hook) -> None:
        """Run ``hook(client)`` on every client, existing and future (e.g. a call counter)."""
        with self._lock:
            self._hooks.append(hook)
            for existing in self._clients.values():
                hook(existing)
