"""Where a client is redirected to download an answer too large for Lambda.

* ``S3Downloads``: an S3 presigned GET (SigV4). S3 signs the Host header, so a client that
  re-sends a stale ``Host`` after the redirect (dicomweb-client's non-streaming calls) fails.
* ``CloudFrontDownloads``: a CloudFront-signed URL on the API's own domain
  (``{DOWNLOAD_BASE_URL}/_downloads/{key}``), the bucket as the distribution's origin for that
  path. The signature covers the URL and the expiry, not the Host, and the host is the API's
  anyway. The local gateway plays CloudFront for this path (``local/gateway.py``).

Both expire within 5 minutes and name one object of the caller's tenant.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import quote

from botocore.signers import CloudFrontSigner

DOWNLOADS_PATH = "/_downloads/"


class Downloads(Protocol):
    def url(self, key: str, expires: int, content_type: str) -> str: ...


class S3Downloads:
    def __init__(self, store: Any) -> None:
        self._store = store

    def url(self, key: str, expires: int, content_type: str) -> str:
        url: str = self._store.presign_get(key, expires, content_type)
        return url


def _rsa_signer(private_key_pem: str) -> Any:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("the download signing key must be an RSA key")

    def sign(message: bytes) -> bytes:
        return key.sign(message, padding.PKCS1v15(), hashes.SHA1())  # noqa: S303 - CloudFront's algorithm

    return sign


class CloudFrontDownloads:
    def __init__(self, base_url: str, key_id: str, private_key_pem: str) -> None:
        self._base = base_url.rstrip("/")
        self._signer = CloudFrontSigner(key_id, _rsa_signer(private_key_pem))

    def url(self, key: str, expires: int, content_type: str) -> str:
        resource = (
            f"{self._base}{DOWNLOADS_PATH}{quote(key)}"
            f"?response-content-type={quote(content_type, safe='')}"
        )
        until = datetime.now(UTC) + timedelta(seconds=expires)
        signed: str = self._signer.generate_presigned_url(resource, date_less_than=until)
        return signed
