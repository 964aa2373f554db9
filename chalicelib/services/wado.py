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
from chalicelib.dicomweb.media import (
    ANY_TRANSFER_SYNTAX,
    APPLICATION_DICOM,
    MediaType,
    negotiate_dicom,
)
from chalicelib.dicomweb.resources import InstanceRef, SeriesRef, StudyRef
from chalicelib.services.large import BundlePart, Link, redirect_to_bundle, redirect_to_object
from chalicelib.services.ports import CatalogReader, ObjectStore
from chalicelib.services.transcode import can_write, transcode
from chalicelib.storage.keys import bundles_scope, instance_key, series_prefix, study_prefix


@dataclass(frozen=True)
class RetrievedInstance:
    data: bytes
    transfer_syntax: str


@dataclass(frozen=True)
class Retrieved:
    instances: list[RetrievedInstance]
    multipart: bool
    #: set when the answer is over the payload limit: a presigned URL to redirect to (303)
    redirect: str | None = None


@dataclass(frozen=True)
class Large:
    """What the large-object path needs: the catalog (stored syntaxes), the tenant, expiry."""

    catalog: CatalogReader
    tenant: str
    link: Link


def _stored_syntaxes(store: ObjectStore, large: Large, objects: list[tuple[str, int]]) -> list[str]:
    """Each object's transfer syntax: from the catalog (one Query per study), else from a
    ranged read of its header (not indexed yet)."""
    known: dict[str, str] = {}
    studies = {key.split("/")[2] for key, _ in objects}
    for study in studies:
        for entry in large.catalog.iter_instances(StudyRef(large.tenant, study)):
            known[instance_key(entry.ref)] = entry.transfer_syntax
    out = []
    for key, size in objects:
        if key not in known:
            got = store.get_range(key, 0, min(size, 1 << 20) - 1)
            known[key] = read_header(got.data, len(got.data)).transfer_syntax if got else ""
        out.append(known[key])
    return out


def _redirect(
    store: ObjectStore,
    large: Large,
    objects: list[tuple[str, int]],
    accept: list[MediaType],
    single_part_allowed: bool,
    identity: object,
) -> Retrieved:
    syntaxes = _stored_syntaxes(store, large, objects)
    choice = negotiate_dicom(accept, set(syntaxes), single_part_allowed, can_write)
    if choice is None:
        raise NotAcceptable(f"stored as {', '.join(sorted(set(syntaxes)))}")
    keep = [choice.transfer_syntax in (ANY_TRANSFER_SYNTAX, ts) for ts in syntaxes]
    if not choice.multipart and all(keep):
        return Retrieved([], False, redirect_to_object(large.link, objects[0][0]))
    parts = []
    for (key, size), ts, unchanged in zip(objects, syntaxes, keep, strict=True):
        if unchanged:
            parts.append(BundlePart(f"{APPLICATION_DICOM}; transfer-syntax={ts}", (key, 0, size)))
        else:
            data = store.get(key) or b""
            target = choice.transfer_syntax
            parts.append(
                BundlePart(
                    f"{APPLICATION_DICOM}; transfer-syntax={target}", transcode(data, target)
                )
            )
    url = redirect_to_bundle(
        store,
        bundles_scope(large.tenant, (key for key, _ in objects)),
        [identity, choice.transfer_syntax],
        parts,
        APPLICATION_DICOM,
        large.link,
    )
    return Retrieved([], True, url)


def list_objects(store: ObjectStore, prefix: str) -> list[tuple[str, int, str]]:
    """(key, size, ETag) of the instances stored under ``prefix``, in key order."""
    return [(o.key, o.size, o.etag) for o in store.list_all(prefix) if o.key.endswith(".dcm")]


def _too_large(total: int, max_bytes: int, what: str) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the {what} ({total} bytes) exceeds the response payload limit ({max_bytes} bytes); "
        "retrieve its instances one by one"
    )


def _retrieve(
    store: ObjectStore,
    keys: list[tuple[str, int, str]],
    accept: list[MediaType],
    max_bytes: int,
    large: Large,
    what: str,
) -> Retrieved:
    if not keys:
        raise NotFound(f"{what} not found")
    total = sum(size for _, size, _ in keys)
    if total > max_bytes:
        objects = [(k, size) for k, size, _ in keys]
        return _redirect(store, large, objects, accept, False, keys)
    with ThreadPoolExecutor(max_workers=min(8, len(keys))) as pool:
        blobs = list(pool.map(store.get, (k for k, _, _ in keys)))
    present = [b for b in blobs if b is not None]
    if not present:
        raise NotFound(f"{what} not found")
    return _encode(present, accept, max_bytes, False, what)


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
    store: ObjectStore, ref: InstanceRef, accept: list[MediaType], max_bytes: int, large: Large
) -> Retrieved:
    key = instance_key(ref)
    data, size = store.get_bounded(key, max_bytes)  # one GET; the body is left unread if large
    if size < 0:
        raise NotFound("instance not found")
    if data is None:
        return _redirect(store, large, [(key, size)], accept, True, [key, size])
    try:
        return _encode([data], accept, max_bytes, True, "instance")
    except PayloadTooLarge:  # grew past the limit when converted
        return _redirect(store, large, [(key, size)], accept, True, [key, size])


def retrieve_series(
    store: ObjectStore, ref: SeriesRef, accept: list[MediaType], max_bytes: int, large: Large
) -> Retrieved:
    found = list_objects(store, series_prefix(ref))
    return _retrieve(store, found, accept, max_bytes, large, "series")


def retrieve_study(
    store: ObjectStore, ref: StudyRef, accept: list[MediaType], max_bytes: int, large: Large
) -> Retrieved:
    found = list_objects(store, study_prefix(ref))
    return _retrieve(store, found, accept, max_bytes, large, "study")
