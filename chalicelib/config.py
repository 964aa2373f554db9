"""Settings read once from the environment. Every default lives here.

The same names are used by the deployed stack (infra/), the local stack (local/) and the tests:
see ``chalicelib/storage/schema.py`` for the resource definitions they share.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

MIB = 1024 * 1024

#: Lambda's synchronous invocation payload limit (request event and response), in bytes.
LAMBDA_PAYLOAD_LIMIT = 6 * MIB
#: API Gateway (REST) request body limit, in bytes.
API_GATEWAY_BODY_LIMIT = 10 * MIB

#: The environment variables that name the stack's resources (Settings field -> variable).
#: One definition: ``from_env`` reads them, ``infra/template.py`` sets them on every function.
RESOURCE_ENV = {
    "bucket": "DICOM_BUCKET",
    "catalog_table": "CATALOG_TABLE",
    "tenants_table": "TENANTS_TABLE",
    "index_queue": "INDEX_QUEUE",
    "index_dlq": "INDEX_DLQ",
}


@dataclass(frozen=True)
class Settings:
    """Configuration of one Lambda container (or one local process)."""

    region: str = "us-east-1"
    bucket: str = "dicomweb-local"
    catalog_table: str = "dicomweb-catalog"
    tenants_table: str = "dicomweb-tenants"
    index_queue: str = "dicomweb-index"
    index_dlq: str = "dicomweb-index-dlq"
    #: Lambda payload limit in bytes: requests and responses larger than this cannot pass.
    payload_limit: int = LAMBDA_PAYLOAD_LIMIT
    #: API Gateway body limit in bytes (enforced by the gateway, never reaches the function).
    request_limit: int = API_GATEWAY_BODY_LIMIT
    #: How long a resolved API key is trusted without re-reading it (revocation delay), seconds.
    key_cache_ttl: float = 60.0
    #: First ranged read of an object's header by the indexer; widened only when needed.
    header_read_bytes: int = 64 * 1024
    #: Largest header the indexer reads before giving up on an object.
    header_read_max: int = 16 * MIB
    #: QIDO paging: default and maximum page size.
    qido_default_limit: int = 100
    qido_max_limit: int = 1000
    #: Catalog values longer than this (JSON bytes) are left out of the index (still in S3).
    max_indexed_value_bytes: int = 1024
    #: Requests a second a tenant may make (0: no limit); a tenant item's rate_limit overrides.
    tenant_rate_limit: int = 0
    #: How long a STOW (or a presigned upload's import) waits, in total, for the index entries
    #: of what it stored to become visible: DynamoDB's GSIs are eventually consistent, usually
    #: well under a second. Past it the instance is reported failed (0xA700) and removed.
    index_visible_timeout: float = 5.0
    #: Presigned S3 URLs (uploads, large retrievals) expire after this many seconds.
    presign_expiry: int = 300
    #: Files above this size are uploaded as S3 multipart uploads of ``upload_part_size`` parts.
    multipart_threshold: int = 64 * MIB
    upload_part_size: int = 64 * MIB
    #: A same-host download path (CloudFront in front of API and bucket): its base URL, the
    #: CloudFront key pair id and the RSA private key (PEM) that signs its URLs. Unset: S3
    #: presigned URLs.
    download_base_url: str = ""
    download_key_id: str = ""
    download_private_key: str = field(default="", repr=False)
    #: The endpoint presigned S3 URLs name instead of the S3 client's own (the local stack's
    #: gate that checks their signatures, as S3 does). Unset, as in AWS: S3's own endpoint.
    s3_presign_endpoint: str = ""
    #: The DICOMweb root URLs in answers start with (a custom domain; the URL ``make serve``
    #: prints). Unset: the root the front names with the origin secret, else the Host.
    public_root: str = ""
    #: The secret the front (CloudFront) adds to every request it forwards to an origin.
    origin_secret: str = field(default="", repr=False)
    #: The streaming STOW receiver's bounds (receiver/): one request's bytes and parts, one
    #: part's bytes, and how long it waits for the next bytes of a body before giving up.
    stow_max_request_bytes: int = 4 * 1024 * MIB
    stow_max_parts: int = 10_000
    stow_max_part_bytes: int = 2 * 1024 * MIB
    stow_read_timeout: float = 60.0
    service_name: str = "dicomweb-service"
    metrics_namespace: str = "DicomWeb"
    extra: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from environment variables (see docs/architecture.md, "Settings")."""
        e = os.environ if env is None else env
        d = cls()
        return cls(
            region=e.get("AWS_REGION") or e.get("AWS_DEFAULT_REGION") or d.region,
            bucket=e.get(RESOURCE_ENV["bucket"], d.bucket),
            catalog_table=e.get(RESOURCE_ENV["catalog_table"], d.catalog_table),
            tenants_table=e.get(RESOURCE_ENV["tenants_table"], d.tenants_table),
            index_queue=e.get(RESOURCE_ENV["index_queue"], d.index_queue),
            index_dlq=e.get(RESOURCE_ENV["index_dlq"], d.index_dlq),
            payload_limit=int(e.get("PAYLOAD_LIMIT_BYTES", d.payload_limit)),
            request_limit=int(e.get("REQUEST_LIMIT_BYTES", d.request_limit)),
            key_cache_ttl=float(e.get("API_KEY_CACHE_TTL", d.key_cache_ttl)),
            header_read_bytes=int(e.get("INDEX_HEADER_READ_BYTES", d.header_read_bytes)),
            header_read_max=int(e.get("INDEX_HEADER_READ_MAX", d.header_read_max)),
            qido_default_limit=int(e.get("QIDO_DEFAULT_LIMIT", d.qido_default_limit)),
            qido_max_limit=int(e.get("QIDO_MAX_LIMIT", d.qido_max_limit)),
            tenant_rate_limit=int(e.get("TENANT_RATE_LIMIT", d.tenant_rate_limit)),
            presign_expiry=min(300, int(e.get("PRESIGN_EXPIRY_SECONDS", d.presign_expiry))),
            multipart_threshold=int(e.get("UPLOAD_MULTIPART_THRESHOLD", d.multipart_threshold)),
            upload_part_size=max(5 * MIB, int(e.get("UPLOAD_PART_SIZE", d.upload_part_size))),
            download_base_url=e.get("DOWNLOAD_BASE_URL", d.download_base_url),
            download_key_id=e.get("DOWNLOAD_KEY_ID", d.download_key_id),
            download_private_key=e.get("DOWNLOAD_PRIVATE_KEY", d.download_private_key),
            s3_presign_endpoint=e.get("S3_PRESIGN_ENDPOINT_URL", d.s3_presign_endpoint),
            public_root=e.get("PUBLIC_ROOT", d.public_root),
            origin_secret=e.get("ORIGIN_SECRET", d.origin_secret),
            stow_max_request_bytes=int(e.get("STOW_MAX_REQUEST_BYTES", d.stow_max_request_bytes)),
            stow_max_parts=int(e.get("STOW_MAX_PARTS", d.stow_max_parts)),
            stow_max_part_bytes=int(e.get("STOW_MAX_PART_BYTES", d.stow_max_part_bytes)),
            stow_read_timeout=float(e.get("STOW_READ_TIMEOUT", d.stow_read_timeout)),
            service_name=e.get("POWERTOOLS_SERVICE_NAME", d.service_name),
            metrics_namespace=e.get("POWERTOOLS_METRICS_NAMESPACE", d.metrics_namespace),
        )

    def max_binary_response(self) -> int:
        """Largest binary body a buffered response can carry once base64-encoded."""
        # base64 grows 4/3; keep 64 KiB for headers and the JSON envelope.
        return (self.payload_limit - 64 * 1024) * 3 // 4
