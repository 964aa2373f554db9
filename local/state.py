"""Local persistence: moto keeps everything in memory, so the local stack mirrors what S3
holds under ``dicom/`` and ``rejected/`` into a directory (atomic writes) and puts it back at
start, through the normal S3-event path, so a restart loses nothing."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from chalicelib.storage.schema import DICOM_ROOT, REJECTED_ROOT

MIRRORED_ROOTS = (DICOM_ROOT, REJECTED_ROOT)


class ObjectMirror:
    def __init__(self, state_dir: Path, s3: Any, bucket: str) -> None:
        self.root = state_dir / "objects"
        self.root.mkdir(parents=True, exist_ok=True)
        self._s3 = s3
        self._bucket = bucket

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents:
            raise ValueError("key escapes the state directory")
        return path

    def save(self, key: str) -> None:
        """Copy the object's current bytes to disk (or remove the file if it is gone)."""
        if not key.startswith(MIRRORED_ROOTS):
            return
        try:
            body = self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()
        except self._s3.exceptions.NoSuchKey:
            self.remove(key)
            return
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as fh:
            fh.write(body)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)

    def remove(self, key: str) -> None:
        if not key.startswith(MIRRORED_ROOTS):
            return
        self._path(key).unlink(missing_ok=True)

    def sync_prefix(self, prefix: str) -> None:
        """Mirror every object under a prefix that is not on disk yet (rejected imports)."""
        paginator = self._s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self._bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                if not self._path(obj["Key"]).exists():
                    self.save(obj["Key"])

    def stored_keys(self) -> Iterator[str]:
        for path in sorted(self.root.rglob("*")):
            if path.is_file() and not path.name.startswith(".tmp-"):
                yield path.relative_to(self.root).as_posix()

    def restore(self) -> int:
        """Put every mirrored object back into S3 (raising the usual events). Returns count."""
        count = 0
        for key in self.stored_keys():
            self._s3.put_object(Bucket=self._bucket, Key=key, Body=self._path(key).read_bytes())
            count += 1
        return count
