"""The storage adapters and the services, built once per container and shared by every request.

Each service is one object per DICOMweb transaction (or non-standard resource), built here with
the ports it reads and writes and the limits it keeps; routes call them by name
(``s.qido.search_for_studies(...)``). Adapters and services are built on first use, so a cold
start pays only for what its first request needs.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from chalicelib.clock import SYSTEM, Clock
from chalicelib.config import Settings
from chalicelib.storage.clients import AwsClients

if TYPE_CHECKING:
    from chalicelib.routes.credentials import KeyCache
    from chalicelib.services.changes import Changes
    from chalicelib.services.delete import Delete
    from chalicelib.services.frames import Frames
    from chalicelib.services.imports import RejectedImports
    from chalicelib.services.indexer import Indexer
    from chalicelib.services.metadata import Metadata
    from chalicelib.services.qido import Qido
    from chalicelib.services.render import Render
    from chalicelib.services.searchable import Searchable
    from chalicelib.services.spill import Spill
    from chalicelib.services.stow import Stow
    from chalicelib.services.stow_stream import StreamingStow
    from chalicelib.services.uploads import Uploads
    from chalicelib.services.wado import Wado
    from chalicelib.services.wado_uri import WadoUri
    from chalicelib.storage.catalog import DynamoCatalog
    from chalicelib.storage.catalog_reads import CatalogReads
    from chalicelib.storage.changefeed import ChangeFeed
    from chalicelib.storage.downloads import Downloads
    from chalicelib.storage.objects import S3ObjectStore
    from chalicelib.storage.ratelimit import RateLimiter
    from chalicelib.storage.tenants import DynamoTenantStore
    from chalicelib.storage.visibility import DynamoIndexVisibility


class Deps:
    def __init__(self, settings: Settings, clock: Clock = SYSTEM) -> None:
        self.settings = settings
        #: what retries and waits sleep on (tests: a clock that does not sleep)
        self.clock = clock
        self.clients = AwsClients(settings)

    def reset(self) -> None:
        """Drop the clients, adapters and services (tests: a new moto backend, changed
        settings)."""
        for name, value in vars(type(self)).items():
            if isinstance(value, cached_property):
                self.__dict__.pop(name, None)
        self.clients = AwsClients(self.settings)

    # --- storage adapters -------------------------------------------------------------------

    @cached_property
    def store(self) -> S3ObjectStore:
        from chalicelib.storage.objects import S3ObjectStore

        return S3ObjectStore(self.clients.s3, self.settings.bucket)

    @cached_property
    def catalog(self) -> DynamoCatalog:
        from chalicelib.storage.catalog import DynamoCatalog

        return DynamoCatalog(self.clients.dynamodb, self.settings.catalog_table, self.clock)

    @cached_property
    def catalog_reads(self) -> CatalogReads:
        """The catalog's read side (typed entries), over the same table as ``catalog``."""
        return self.catalog.reads

    @cached_property
    def tenants(self) -> DynamoTenantStore:
        from chalicelib.storage.tenants import DynamoTenantStore

        return DynamoTenantStore(self.clients.dynamodb, self.settings.tenants_table)

    @cached_property
    def key_cache(self) -> KeyCache:
        from chalicelib.routes.credentials import KeyCache

        return KeyCache(self.tenants, self.settings.key_cache_ttl)

    @cached_property
    def downloads(self) -> Downloads:
        from chalicelib.storage.downloads import CloudFrontDownloads, S3Downloads

        s = self.settings
        if s.download_base_url and s.download_key_id and s.download_private_key:
            return CloudFrontDownloads(
                s.download_base_url, s.download_key_id, s.download_private_key
            )
        return S3Downloads(self.store)

    @cached_property
    def rate_limiter(self) -> RateLimiter:
        from chalicelib.storage.ratelimit import RateLimiter

        return RateLimiter(
            self.clients.dynamodb, self.settings.tenants_table, self.settings.tenant_rate_limit
        )

    @cached_property
    def feed(self) -> ChangeFeed:
        from chalicelib.storage.changefeed import ChangeFeed

        return ChangeFeed(self.clients.dynamodb, self.settings.catalog_table)

    # --- services ---------------------------------------------------------------------------

    def link(self, key: str, content_type: str) -> str:
        """A short-lived signed URL to download one stored object."""
        return self.downloads.url(key, self.settings.presign_expiry, content_type)

    @cached_property
    def spill(self) -> Spill:
        from chalicelib.services.spill import Spill

        return Spill(self.store, self.link)

    @cached_property
    def visibility(self) -> DynamoIndexVisibility:
        from chalicelib.storage.visibility import DynamoIndexVisibility

        return DynamoIndexVisibility(self.clients.dynamodb, self.settings.catalog_table, self.clock)

    @cached_property
    def indexer(self) -> Indexer:
        from chalicelib.services.indexer import Indexer

        return Indexer(self.store, self.catalog, self.settings, self.feed, self.visibility)

    @cached_property
    def qido(self) -> Qido:
        from chalicelib.services.qido import Qido

        return Qido(self.catalog_reads)

    @cached_property
    def searchable(self) -> Searchable:
        from chalicelib.services.searchable import Searchable

        return Searchable(self.indexer, self.store, self.clock)

    @cached_property
    def stow(self) -> Stow:
        from chalicelib.services.stow import Stow

        return Stow(self.store, self.searchable)

    @cached_property
    def stream_stow(self) -> StreamingStow:
        from chalicelib.services.stow_stream import StreamingStow, StreamLimits

        s = self.settings
        return StreamingStow(
            self.store, self.searchable, StreamLimits(s.stow_max_parts, s.stow_max_part_bytes)
        )

    @cached_property
    def wado(self) -> Wado:
        from chalicelib.services.wado import Wado

        return Wado(self.store, self.catalog_reads, self.settings.max_binary_response())

    @cached_property
    def metadata(self) -> Metadata:
        from chalicelib.services.metadata import Metadata

        return Metadata(self.store, self.catalog_reads)

    @cached_property
    def frames(self) -> Frames:
        from chalicelib.services.frames import Frames

        return Frames(self.store, self.catalog_reads)

    @cached_property
    def render(self) -> Render:
        from chalicelib.services.render import Render

        return Render(self.store, self.catalog_reads)

    @cached_property
    def wado_uri(self) -> WadoUri:
        from chalicelib.services.wado_uri import WadoUri

        return WadoUri(self.wado, self.render)

    @cached_property
    def delete(self) -> Delete:
        """The catalog removes a series or a study inline; an instance goes through the
        indexer's reconcile, the catalog's one path for an absent object."""
        from chalicelib.services.delete import Delete

        return Delete(self.store, self.catalog, self.indexer)

    @cached_property
    def changes(self) -> Changes:
        from chalicelib.services.changes import Changes

        return Changes(self.feed)

    @cached_property
    def imports(self) -> RejectedImports:
        from chalicelib.services.imports import RejectedImports

        return RejectedImports(self.store)

    @cached_property
    def uploads(self) -> Uploads:
        from chalicelib.services.uploads import Uploads

        return Uploads(self.store, self.settings)
