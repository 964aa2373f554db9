"""WADO-RS (PS3.18 10.4): retrieve study, series and instance from S3.

Instances are found by their canonical keys (a study or series by listing its S3 prefix), so
they are retrievable as soon as STOW answers, before indexing; S3 is the one truth. The stored
bytes are returned unchanged for ``transfer-syntax=*`` or when they already have the syntax
asked for; otherwise they are converted (``transcode.py``) or the answer is 406.

Near the limits: the response is buffered, so its total size is checked against Lambda's
payload (``Settings.max_binary_response``) from the S3 listing, before any object is read;
over it, 413 (the large-object path is a later issue).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from chalicelib.dicomweb.errors import NotAcceptable, NotFound, PayloadTooLarge
from chalicelib.dicomweb.instance import read_header
from chalicelib.dicomweb.media import ANY_TRANSFER_SYNTAX, MediaType, negotiate_dicom
from chalicelib.dicomweb.resources import InstanceRef, SeriesRef, StudyRef
from chalicelib.services.ports import ObjectStore
from chalicelib.services.transcode import can_write, transcode
from chalicelib.storage.keys import instance_key, series_prefix, study_prefix


@dataclass(frozen=True)
class RetrievedInstance:
    data: bytes
    transfer_syntax: str


@dataclass(frozen=True)
class Retrieved:
    instances: list[RetrievedInstance]
    multipart: bool


def _list_keys(store: ObjectStore, prefix: str) -> list[tuple[str, int]]:
    found: list[tuple[str, int]] = []
    start: str | None = None
    while True:
        objects, more = store.list(prefix, start)
        found += [(o.key, o.size) for o in objects if o.key.endswith(".dcm")]
        if not more:
            return found
        start = more


def _too_large(total: int, max_bytes: int, what: str) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the {what} ({total} bytes) exceeds the response payload limit ({max_bytes} bytes); "
        "retrieve its instances one by one"
    )


def _retrieve(
    store: ObjectStore,
    keys: list[tuple[str, int]],
    accept: list[MediaType],
    max_bytes: int,
    single_part_allowed: bool,
    what: str,
) -> Retrieved:
    if not keys:
        raise NotFound(f"{what} not found")
    total = sum(size for _, size in keys)
    if total > max_bytes:
        raise _too_large(total, max_bytes, what)
    with ThreadPoolExecutor(max_workers=min(8, len(keys))) as pool:
        blobs = list(pool.map(store.get, (k for k, _ in keys)))
    present = [b for b in blobs if b is not None]
    if not present:
        raise NotFound(f"{what} not found")
    return _encode(present, accept, max_bytes, single_part_allowed, what)


def _encode(
    present: list[bytes],
    accept: list[MediaType],
    max_bytes: int,
    single_part_allowed: bool,
    what: str,
) -> Retrieved:
    syntaxes = [read_header(b, len(b)).transfer_syntax for b in present]
    choice = negotiate_dicom(accept, set(syntaxes), single_part_allowed, can_write)
    if choice is None:
        raise NotAcceptable(
            f"stored as {', '.join(sorted(set(syntaxes)))}; ask for one of these, "
            "transfer-syntax=*, or a syntax the service converts to"
        )
    out = []
    for data, ts in zip(present, syntaxes, strict=True):
        if choice.transfer_syntax in (ANY_TRANSFER_SYNTAX, ts):
            out.append(RetrievedInstance(data, ts))
        else:
            out.append(
                RetrievedInstance(transcode(data, choice.transfer_syntax), choice.transfer_syntax)
            )
    size = sum(len(i.data) for i in out)
    if size > max_bytes:
        raise _too_large(size, max_bytes, what)
    return Retrieved(out, choice.multipart)


def retrieve_instance(
    store: ObjectStore, ref: InstanceRef, accept: list[MediaType], max_bytes: int
) -> Retrieved:
    data = store.get(instance_key(ref))  # one GET: no listing for a single instance
    if data is None:
        raise NotFound("instance not found")
    if len(data) > max_bytes:
        raise _too_large(len(data), max_bytes, "instance")
    return _encode([data], accept, max_bytes, True, "instance")


def retrieve_series(
    store: ObjectStore, ref: SeriesRef, accept: list[MediaType], max_bytes: int
) -> Retrieved:
    found = _list_keys(store, series_prefix(ref))
    return _retrieve(store, found, accept, max_bytes, False, "series")


def retrieve_study(
    store: ObjectStore, ref: StudyRef, accept: list[MediaType], max_bytes: int
) -> Retrieved:
    found = _list_keys(store, study_prefix(ref))
    return _retrieve(store, found, accept, max_bytes, False, "study")
