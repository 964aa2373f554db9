"""A study or series as one zip of Part 10 files (Sup 211, ``application/zip``), without a
DICOMDIR, each file named ``{study}/{series}/{sop}.dcm``, stored (not deflated: pixel data
hardly compresses, and stored members stream).

The archive is written from ranged reads of 8 MiB, so memory stays bounded whatever its size:
into memory when the answer goes in the response, into a spooled temporary file (Lambda's /tmp
beyond 32 MB) when it is spilled to S3 (``services/spill.py``).
"""

from __future__ import annotations

import zipfile
from typing import IO

from chalicelib.dicomweb.errors import NotFound
from chalicelib.services.answers import ObjectSlice, ZipArchive
from chalicelib.services.ports import ObjectStore

ZIP = "application/zip"
_CHUNK = 8 * 1024 * 1024


def member_name(key: str) -> str:
    """dicom/{tenant}/{study}/{series}/{sop}.dcm -> {study}/{series}/{sop}.dcm"""
    return key.split("/", 2)[2]


def archive_of(objects: list[ObjectSlice]) -> ZipArchive:
    return ZipArchive(tuple((member_name(o.key), o) for o in objects))


def _write_member(
    store: ObjectStore, archive: zipfile.ZipFile, name: str, obj: ObjectSlice
) -> None:
    with archive.open(name, "w", force_zip64=obj.length > 0xFFFFFFFF) as out:
        for start in range(obj.offset, obj.offset + max(obj.length, 1), _CHUNK):
            end = min(obj.offset + obj.length, start + _CHUNK) - 1
            got = store.get_range(obj.key, start, end)
            if got is None:
                raise NotFound("an instance disappeared while zipping")
            out.write(got.data)


def write_zip(store: ObjectStore, zipped: ZipArchive, out: IO[bytes]) -> None:
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, obj in zipped.members:
            _write_member(store, archive, name, obj)
