"""The local stand-in for CloudFront's download path: ``/_downloads/{key}`` on the gateway's
own host, with CloudFront-signed URLs (canned policy, RSA-SHA1) verified as CloudFront does,
then the object streamed from S3 (moto) with the Content-Type the URL names."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, unquote

from botocore.signers import CloudFrontSigner
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from chalicelib.storage.downloads import DOWNLOADS_PATH

StartResponse = Any


def new_signing_key() -> tuple[str, str, str]:
    """(key pair id, private key PEM, public key PEM) for the local download path."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return "LOCALKEYPAIR", private, public


def _b64(text: str) -> bytes:
    return base64.b64decode(text.replace("-", "+").replace("_", "=").replace("~", "/"))


class LocalDownloads:
    def __init__(self, s3: Any, bucket: str, base_url: str, key_id: str, public_pem: str) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._base = base_url.rstrip("/")
        self._key_id = key_id
        self._public = serialization.load_pem_public_key(public_pem.encode())

    def _denied(
        self, start: StartResponse, why: str, status: str = "403 Forbidden"
    ) -> Iterable[bytes]:
        body = f"<Error><Code>AccessDenied</Code><Message>{why}</Message></Error>".encode()
        start(
            status,
            [
                ("Content-Type", "text/xml"),
                ("Content-Length", str(len(body))),
                ("Access-Control-Allow-Origin", "*"),
            ],
        )
        return [body]

    def __call__(self, environ: dict[str, Any], start: StartResponse) -> Iterable[bytes]:
        if environ["REQUEST_METHOD"] == "OPTIONS":  # a browser's preflight after a redirect
            start(
                "200 OK",
                [
                    ("Access-Control-Allow-Origin", "*"),
                    ("Access-Control-Allow-Methods", "GET, HEAD"),
                    ("Access-Control-Allow-Headers", "*"),
                    ("Content-Length", "0"),
                ],
            )
            return [b""]
        if environ["REQUEST_METHOD"] not in ("GET", "HEAD"):  # CloudFront's behaviour allows these
            return self._denied(start, "only GET and HEAD", "405 Method Not Allowed")
        raw = environ.get("REQUEST_URI") or environ.get("PATH_INFO", "")
        path, _, query = raw.partition("?")
        signed_part, sep, _ = query.partition("&Expires=")
        params = parse_qs(query)
        if not sep or params.get("Key-Pair-Id") != [self._key_id]:
            return self._denied(start, "missing or unknown signature")
        given = params.get("Expires", [""])[0]
        if not (given.isascii() and given.isdigit() and len(given) <= 12):
            return self._denied(start, "Expires is not a time")
        expires = int(given)
        if expires < time.time():
            return self._denied(start, "the URL has expired")
        resource = f"{self._base}{path}?{signed_part}"
        policy = CloudFrontSigner(self._key_id, lambda m: m).build_policy(
            resource, datetime.fromtimestamp(expires, UTC)
        )
        try:
            assert isinstance(self._public, rsa.RSAPublicKey)
            self._public.verify(
                _b64(params["Signature"][0]), policy.encode(), padding.PKCS1v15(), hashes.SHA1()
            )
        except Exception:
            return self._denied(start, "the signature does not match")
        key = unquote(path[len(DOWNLOADS_PATH) :])
        content_type = params.get("response-content-type", ["application/octet-stream"])[0]
        try:
            got = self._s3.get_object(Bucket=self._bucket, Key=key)
        except self._s3.exceptions.NoSuchKey:
            return self._denied(start, "no such object")
        start(
            "200 OK",
            [
                ("Content-Type", content_type),
                ("Content-Length", str(got["ContentLength"])),
                ("Access-Control-Allow-Origin", "*"),
            ],
        )
        return _chunks(got["Body"])


def _chunks(body: Any) -> Iterator[bytes]:
    try:
        yield from body.iter_chunks(1024 * 1024)
    finally:
        body.close()
