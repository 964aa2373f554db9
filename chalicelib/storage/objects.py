"""S3: put, ranged get, copy, delete, list, presigned and multipart uploads. Implements
``services.ports.ObjectStore`` and ``UploadStore``; raises the service's exceptions
(``aws_errors.py``)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.services.ports import (
    ListedObject,
    ObjectRange,
    Piece,
    StoredObject,
    UploadNotFound,
    UploadPartsRefused,
)
from chalicelib.storage import aws_errors
from chalicelib.storage.aws_errors import is_missing, raises_storage_errors

MIN_PART = 5 * 1024 * 1024  # S3: every part but the last is at least 5 MiB
FLUSH_AT = 8 * 1024 * 1024


def _listed(o: dict[str, Any]) -> ListedObject:
    return ListedObject(
        o["Key"], int(o["Size"]), o["LastModified"].isoformat(), o["ETag"].strip('"')
    )


@raises_storage_errors
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
            if is_missing(exc):
                return None
            raise
        body: bytes = got["Body"].read()
        return body

    def get_bounded(self, key: str, limit: int) -> tuple[bytes | None, int]:
        """(the object's bytes, size), or (None, size) when it is larger than ``limit``
        (the body is then not read), or (None, -1) when it does not exist."""
        try:
            got = self._s3.get_object(Bucket=self._bucket, Key=key)
        except ClientError as exc:
            if is_missing(exc):
                return None, -1
            raise
        size = int(got["ContentLength"])
        if size > limit:
            got["Body"].close()
            return None, size
        data: bytes = got["Body"].read()
        return data, size

    def get_range(self, key: str, start: int, end: int) -> ObjectRange | None:
        """Bytes ``start..end`` (inclusive) and the object's total size; None if absent."""
        try:
            got = self._s3.get_object(Bucket=self._bucket, Key=key, Range=f"bytes={start}-{end}")
        except ClientError as exc:
            if is_missing(exc):
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
        """Delete an object for good: every version of it. (In a versioned bucket a plain
        DELETE only adds a delete marker and keeps the data; on a key that is already gone it
        would even add a marker.)"""
        versions = [v for v in self.list_versions(key) if v[0] == key]
        self.delete_versions(versions)

    def list(
        self, prefix: str, start_after: str | None = None, limit: int = 1000
    ) -> tuple[list[ListedObject], str | None]:
        kwargs: dict[str, Any] = {"Bucket": self._bucket, "Prefix": prefix, "MaxKeys": limit}
        if start_after:
            kwargs["StartAfter"] = start_after
        got = self._s3.list_objects_v2(**kwargs)
        objects = [_listed(o) for o in got.get("Contents", [])]
        more = objects[-1].key if got.get("IsTruncated") and objects else None
        return objects, more

    def list_all(self, prefix: str) -> Iterator[ListedObject]:
        """Every object under ``prefix`` in key order: one ListObjectsV2 per 1,000, each
        read as the caller gets to it."""
        paginator = self._s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self._bucket, Prefix=prefix):
            for o in page.get("Contents", []):
                yield _listed(o)

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

    def upload_part(self, key: str, upload_id: str, number: int, data: bytes) -> str:
        got = self._s3.upload_part(
            Bucket=self._bucket,
            Key=key,
            UploadId=upload_id,
            PartNumber=number,
            Body=data,
        )
        return str(got["ETag"])

    def abort_multipart(self, key: str, upload_id: str) -> None:
        try:
            self._s3.abort_multipart_upload(Bucket=self._bucket, Key=key, UploadId=upload_id)
        except ClientError as exc:
            if aws_errors.error_code(exc) != aws_errors.NO_SUCH_UPLOAD:  # gone already
                raise

    def complete_multipart(
        self, key: str, upload_id: str, parts: Sequence[tuple[int, str]]
    ) -> str | None:
        """The new object's VersionId. Raises ``UploadPartsRefused`` when the parts do not
        match the upload, ``UploadNotFound`` when it is completed, aborted or expired."""
        try:
            got = self._s3.complete_multipart_upload(
                Bucket=self._bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in parts]},
            )
            version: str | None = got.get("VersionId")
            return version
        except ClientError as exc:
            code = aws_errors.error_code(exc)
            if code in aws_errors.REFUSED_PARTS_CODES:
                raise UploadPartsRefused(code) from exc
            if code == aws_errors.NO_SUCH_UPLOAD:
                raise UploadNotFound(code) from exc
            raise

    def list_versions(self, prefix: str) -> Sequence[tuple[str, str]]:
        """Every version and delete marker under a prefix: (key, version id)."""
        found = []
        paginator = self._s3.get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=self._bucket, Prefix=prefix):
            for v in page.get("Versions", []) + page.get("DeleteMarkers", []):
                found.append((v["Key"], v["VersionId"]))
        return found

    def delete_versions(self, versions: Sequence[tuple[str, str]]) -> None:
        """Permanently delete object versions (DeleteObjects, 1,000 a request)."""
        for start in range(0, len(versions), 1000):
            chunk = versions[start : start + 1000]
            got = self._s3.delete_objects(
                Bucket=self._bucket,
                Delete={
                    "Objects": [{"Key": k, "VersionId": v} for k, v in chunk],
                    "Quiet": True,
                },
            )
            if got.get("Errors"):
                raise RuntimeError(f"{len(got['Errors'])} versions could not be deleted")

    def put_file(self, key: str, fileobj: Any, content_type: str) -> None:
        """Upload a file-like object (S3 multipart for large ones: boto3's managed transfer,
        imported here: only this rare path needs it, not every cold start)."""
        from boto3.s3.transfer import TransferConfig, create_transfer_manager

        with create_transfer_manager(self._s3, TransferConfig()) as manager:
            manager.upload(fileobj, self._bucket, key, {"ContentType": content_type}).result()

    def exists(self, key: str) -> bool:
        try:
            self._s3.head_object(Bucket=self._bucket, Key=key)
        except ClientError as exc:
            if is_missing(exc):
                return False
            raise
        return True

    def compose(self, dest: str, pieces: Iterable[Piece], content_type: str) -> int:
        """Write ``dest`` as the concatenation of ``pieces`` with an S3 multipart upload:
        large byte ranges are copied server-side (UploadPartCopy), the rest is buffered in
        parts of 5 to 8 MiB, so memory stays bounded whatever the total. Returns its size."""
        upload: str | None = None
        parts: list[tuple[int, str]] = []
        buf = bytearray()
        total = 0

        def start() -> str:
            nonlocal upload
            if upload is None:
                got = self._s3.create_multipart_upload(
                    Bucket=self._bucket, Key=dest, ContentType=content_type
                )
                upload = str(got["UploadId"])
            return upload

        def flush() -> None:
            got = self._s3.upload_part(
                Bucket=self._bucket,
                Key=dest,
                UploadId=start(),
                PartNumber=len(parts) + 1,
                Body=bytes(buf),
            )
            parts.append((len(parts) + 1, got["ETag"]))
            buf.clear()

        def read(key: str, offset: int, length: int) -> bytes:
            got = self.get_range(key, offset, offset + length - 1)
            if got is None:
                raise FileNotFoundError(key)
            return got.data

        try:
            for piece in pieces:
                if isinstance(piece, bytes):
                    buf += piece
                    total += len(piece)
                else:
                    key, offset, length = piece
                    total += length
                    need = max(0, MIN_PART - len(buf))  # to make the buffer a legal part
                    if length - need >= MIN_PART:  # the rest is copied server-side
                        if need:
                            buf += read(key, offset, need)
                            offset, length = offset + need, length - need
                        flush()
                        got = self._s3.upload_part_copy(
                            Bucket=self._bucket,
                            Key=dest,
                            UploadId=start(),
                            PartNumber=len(parts) + 1,
                            CopySource={"Bucket": self._bucket, "Key": key},
                            CopySourceRange=f"bytes={offset}-{offset + length - 1}",
                        )
                        parts.append((len(parts) + 1, got["CopyPartResult"]["ETag"]))
                    else:
                        buf += read(key, offset, length)
                if len(buf) >= FLUSH_AT:
                    flush()
            if upload is None:
                self._s3.put_object(
                    Bucket=self._bucket, Key=dest, Body=bytes(buf), ContentType=content_type
                )
                return total
            if buf or not parts:
                flush()
            self.complete_multipart(dest, upload, parts)
        except BaseException:
            if upload is not None:
                self._s3.abort_multipart_upload(Bucket=self._bucket, Key=dest, UploadId=upload)
            raise
        return total
