"""A study or series as one zip of Part 10 files (Sup 211, ``application/zip``), without a
DICOMDIR, each file named ``{study}/{series}/{sop}.dcm``.

Under the payload limit the zip is built in memory. Over it, it is written through a spooled
temporary file (memory bounded, Lambda's /tmp beyond 32 MB), uploaded once under
``derived/{tenant}/{study}[/{series}]/bundles/`` (deleted with the data; named by a hash of
what it holds) and answered with a 303, like
every large answer.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import zipfile
from io import BytesIO

from chalicelib.dicomweb.errors import NotFound
from chalicelib.services.large import Link
from chalicelib.services.ports import ObjectStore
from chalicelib.storage.keys import bundles_scope

ZIP = "application/zip"
_CHUNK = 8 * 1024 * 1024


def _name(key: str) -> str:
    # dicom/{tenant}/{study}/{series}/{sop}.dcm -> {study}/{series}/{sop}.dcm
    return key.split("/", 2)[2]


def _write(store: ObjectStore, archive: zipfile.ZipFile, key: str, size: int) -> None:
    with archive.open(_name(key), "w", force_zip64=size > 0xFFFFFFFF) as out:
        for start in range(0, max(size, 1), _CHUNK):
            got = store.get_range(key, start, min(size, start + _CHUNK) - 1)
            if got is None:
                raise NotFound("an instance disappeared while zipping")
            out.write(got.data)


def retrieve_zip(
    store: ObjectStore,
    tenant: str,
    objects: list[tuple[str, int, str]],
    max_bytes: int,
    link: Link,
) -> bytes | str:
    """The zip's bytes, or the URL of the stored zip to redirect to when it is too large."""
    if not objects:
        raise NotFound("nothing to zip")
    total = sum(size for _, size, _ in objects)
    if total + 200 * len(objects) <= max_bytes:
        buf = BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as archive:
            for key, _, _ in objects:
                data = store.get(key)
                if data is not None:
                    archive.writestr(_name(key), data)
        return buf.getvalue()
    identity = json.dumps(sorted(objects)).encode()
    scope = bundles_scope(tenant, (k for k, _, _ in objects))
    key = f"{scope}{hashlib.sha256(identity).hexdigest()[:40]}.zip"
    if not store.exists(key):
        with tempfile.SpooledTemporaryFile(max_size=32 * 1024 * 1024) as spool:
            with zipfile.ZipFile(spool, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
                for name, size, _ in objects:
                    _write(store, archive, name, size)
            spool.seek(0)
            store.put_file(key, spool, ZIP)
    return link(key, ZIP)
