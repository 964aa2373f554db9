"""AWS clients (botocore's), created lazily once per container (or process).

Clients are created on first use, not at import: a client created before ``mock_aws()`` starts
would not be mocked, and the QIDO path should not pay for an SQS client it never uses. Locally,
``AWS_ENDPOINT_URL`` (read by botocore itself) points every client at the moto server, and
``Settings.s3_presign_endpoint`` points presigned S3 URLs, and only them, at the local gate that
checks their signatures as S3 does (``local/s3_gate.py``). In AWS it is unset: S3's own endpoint.

The clients share one botocore session: its loader reads the SDK's data files (endpoints,
partitions, each service's model) once for them all, where a session per client read the shared
ones again for each. Every client's calls are tallied for the log line of the request that makes
them (``observability.count_aws_calls``).

botocore's session, not boto3's: boto3 adds resources and S3's managed transfers (s3transfer,
multiprocessing), 73 M instructions of every cold start for nothing the functions call; the one
managed transfer they make (``ObjectStore.put_file``) imports it there.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from botocore.config import Config
from botocore.session import Session

from chalicelib.config import Settings
from chalicelib.observability import count_aws_calls
from chalicelib.storage.timestamps import parse_timestamp

Hook = Callable[[Any], None]
_PRESIGN_HOOK = "dicomweb-presign-endpoint"

#: The services the functions create clients for. The build keeps botocore's data of these only
#: (``infra/build.prune_sdk_data``): its loader lists and stats every service folder it ships
#: (over 400) when a first client is created, half of that creation's time.
SERVICES = ("dynamodb", "s3", "sqs")


def new_session() -> Session:
    """botocore's session, the timestamps of answers read by ``storage.timestamps``."""
    session = Session()
    parsers = session.get_component("response_parser_factory")
    parsers.set_parser_defaults(timestamp_parser=parse_timestamp)
    return session


class AwsClients:
    """One client per service, shared by every request of a container."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._session: Session | None = None
        self._hooks: list[Hook] = [count_aws_calls]
        self._presign_endpoint = settings.s3_presign_endpoint
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
        if service not in SERVICES:  # its SDK data is not in the deployed package
            raise ValueError(f"not one of the functions' AWS services {SERVICES}: {service}")
        with self._lock:
            if service not in self._clients:
                if self._session is None:
                    self._session = new_session()
                config = self._config
                if service == "s3":  # presigned URLs signed with SigV4, expiring as asked
                    config = config.merge(Config(signature_version="s3v4"))
                created = self._session.create_client(service, config=config)
                if service == "s3" and self._presign_endpoint:
                    self._watch_presigning(created)
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

    def presign_at(self, endpoint: str) -> str:
        """Presigned S3 URLs name ``endpoint`` from now on ("": the client's own, as in AWS);
        API calls are unchanged. Returns the endpoint it replaces."""
        with self._lock:
            previous, self._presign_endpoint = self._presign_endpoint, endpoint
            if endpoint and "s3" in self._clients:
                self._watch_presigning(self._clients["s3"])
        return previous

    def _watch_presigning(self, client: Any) -> None:
        client.meta.events.register(
            "before-endpoint-resolution.s3", self._presign_at_endpoint, unique_id=_PRESIGN_HOOK
        )

    def _presign_at_endpoint(
        self, builtins: dict[str, Any], context: dict[str, Any] | None, **_: Any
    ) -> None:
        # botocore resolves a presigned URL's endpoint as an API call's, marked in its context
        if self._presign_endpoint and context and context.get("is_presign_request"):
            builtins["SDK::Endpoint"] = self._presign_endpoint

    def instrument(self, hook: Hook) -> None:
        """Run ``hook(client)`` on every client, existing and future (e.g. a call counter)."""
        with self._lock:
            self._hooks.append(hook)
            for existing in self._clients.values():
                hook(existing)
