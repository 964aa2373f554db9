"""The storage adapters, built once per container and shared by every request."""

from __future__ import annotations

from functools import cached_property

from chalicelib.config import Settings
from chalicelib.routes.auth import KeyCache
from chalicelib.services.indexer import Indexer
from chalicelib.storage.catalog import DynamoCatalog
from chalicelib.storage.changefeed import ChangeFeed
from chalicelib.storage.clients import AwsClients
from chalicelib.storage.downloads import CloudFrontDownloads, Downloads, S3Downloads
from chalicelib.storage.objects import S3ObjectStore
from chalicelib.storage.ratelimit import RateLimiter
from chalicelib.storage.tenants import DynamoTenantStore


class Deps:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.clients = AwsClients(settings)

    def reset(self) -> None:
        """Drop the clients and adapters (tests: a new moto backend, changed settings)."""
        for name in (
            "store",
            "catalog",
            "tenants",
            "key_cache",
            "indexer",
            "downloads",
            "feed",
            "rate_limiter",
        ):
            self.__dict__.pop(name, None)
        self.clients = AwsClients(self.settings)

    @cached_property
    def store(self) -> S3ObjectStore:
        return S3ObjectStore(self.clients.s3, self.settings.bucket)

    @cached_property
    def catalog(self) -> DynamoCatalog:
        return DynamoCatalog(self.clients.dynamodb, self.settings.catalog_table)

    @cached_property
    def tenants(self) -> DynamoTenantStore:
        return DynamoTenantStore(self.clients.dynamodb, self.settings.tenants_table)

    @cached_property
    def key_cache(self) -> KeyCache:
        return KeyCache(self.tenants, self.settings.key_cache_ttl)

    @cached_property
    def downloads(self) -> Downloads:
        s = self.settings
        if s.download_base_url and s.download_key_id and s.download_private_key:
            return CloudFrontDownloads(
                s.download_base_url, s.download_key_id, s.download_private_key
            )
        return S3Downloads(self.store)

    @cached_property
    def rate_limiter(self) -> RateLimiter:
        return RateLimiter(
            self.clients.dynamodb, self.settings.tenants_table, self.settings.tenant_rate_limit
        )

    @cached_property
    def feed(self) -> ChangeFeed:
        return ChangeFeed(self.clients.dynamodb, self.settings.catalog_table)

    @cached_property
    def indexer(self) -> Indexer:
        return Indexer(self.store, self.catalog, self.settings, self.feed)
