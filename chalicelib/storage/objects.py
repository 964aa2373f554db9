"""S3: put, ranged get, copy, delete, list. Implements ``services.ports.ObjectStore``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.services.ports import ListedObject, ObjectRange, StoredObject

_MISSING = {"NoSuchKey", "404", "NotFound", "InvalidRange"}


def _missing(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") in _MISSING


class S3ObjectStore:
    def __init__(self, client: Any, bucket: str) -> None:
        self._s3 = client
        self._bucket = bucket

    def put(
        self, key: str, data: bytes, content_type: str, metadata: dict[str, str] | None = None
    ) -> StoredObject:
        # SHA-256 checksum: S3 verifies the bytes it receives and keeps the checksum.
        got = self._s3.put_object(
            Bucket=self._bucket,
            Key=key,
            Body=data,
            ContentType=content_type,
            Metadata=metadata or {},
            ChecksumAlgorithm="SHA256",
        )
        return StoredObject(key, len(data), got["ETag"].strip('"'), got.get("VersionId"))

    def get(self, key: str) -> bytes | None:
        try:
            got = self._s3.get_object(Bucket=self._bucket, Key=key)
        except ClientError as exc:
            if _missing(exc):
                return None
            raise
        body: bytes = got["Body"].read()
        return body

    def get_range(self, key: str, start: int, end: int) -> ObjectRange | None:
        """Bytes ``start..end`` (inclusive) and the object's total size; None if absent."""
        try:
            got = self._s3.get_object(Bucket=self._bucket, Key=key, Range=f"bytes={start}-{end}")
        except ClientError as exc:
            if _missing(exc):
                return None
            raise
        data = got["Body"].read()
        content_range = got.get("ContentRange") or ""
        total = int(content_range.rsplit("/", 1)[1]) if "/" in content_range else len(data)
        return ObjectRange(data, total, got["ETag"].strip('"'), got.get("VersionId"))

    def copy(self, source: str, dest: str, metadata: dict[str, str] | None = None) -> None:
        kwargs: dict[str, Any] = {
            "Bucket": self._bucket,
            "Key": dest,
            "CopySource": {"Bucket": self._bucket, "Key": source},
            "ChecksumAlgorithm": "SHA256",
        }
        if metadata is not None:
            kwargs |= {"Metadata": metadata, "MetadataDirective": "REPLACE"}
        self._s3.copy_object(**kwargs)

    def delete(self, key: str) -> None:
        self._s3.delete_object(Bucket=self._bucket, Key=key)

    def list(
        self, prefix: str, start_after: str | None = None, limit: int = 1000
    ) -> tuple[list[ListedObject], str | None]:
        kwargs: dict[str, Any] = {"Bucket": self._bucket, "Prefix": prefix, "MaxKeys": limit}
        if start_after:
            kwargs["StartAfter"] = start_after
        got = self._s3.list_objects_v2(**kwargs)
        objects = [
            ListedObject(o["Key"], int(o["Size"]), o["LastModified"].isoformat())
            for o in got.get("Contents", [])
        ]
        more = objects[-1].key if got.get("IsTruncated") and objects else None
        return objects, more

    # --- presigned access (uploads and large retrievals) --------------------------------

    def presign_put(self, key: str, expires: int, content_type: str) -> str:
        url: str = self._s3.generate_presigned_url(
            "put_object",
            Params={"Bucket": self._bucket, "Key": key, "ContentType": content_type},
            ExpiresIn=expires,
        )
        return url

    def presign_get(self, key: str, expires: int, content_type: str | None = None) -> str:
        params: dict[str, Any] = {"Bucket": self._bucket, "Key": key}
        if content_type:
            params["ResponseContentType"] = content_type
        url: str = self._s3.generate_presigned_url("get_object", Params=params, ExpiresIn=expires)
        return url

    def start_multipart(self, key: str, content_type: str) -> str:
        got = self._s3.create_multipart_upload(
            Bucket=self._bucket, Key=key, ContentType=content_type
        )
        return str(got["UploadId"])

    def presign_part(self, key: str, upload_id: str, number: int, expires: int) -> str:
        url: str = self._s3.generate_presigned_url(
            "upload_part",
            Params={
                "Bucket": self._bucket,
                "Key": key,
                "UploadId": upload_id,
                "PartNumber": number,
            },
            ExpiresIn=expires,
        )
        return url

    def complete_multipart(
        self, key: str, upload_id: str, parts: Sequence[tuple[int, str]]
    ) -> None:
        self._s3.complete_multipart_upload(
            Bucket=self._bucket,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in parts]},
        )
