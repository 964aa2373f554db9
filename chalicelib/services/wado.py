"""WADO-RS (PS3.18 10.4): retrieve instances from S3.

An instance is found by its canonical key, so it is retrievable as soon as STOW answers
(read-after-write), before the indexer has catalogued it.
"""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.dicomweb.errors import NotAcceptable, NotFound, PayloadTooLarge
from chalicelib.dicomweb.instance import read_header
from chalicelib.dicomweb.media import MediaType, negotiate_dicom
from chalicelib.dicomweb.resources import InstanceRef
from chalicelib.services.ports import ObjectStore
from chalicelib.storage.keys import instance_key


@dataclass(frozen=True)
class RetrievedInstance:
    data: bytes
    transfer_syntax: str
    multipart: bool


def retrieve_instance(
    store: ObjectStore, ref: InstanceRef, accept: list[MediaType], max_bytes: int
) -> RetrievedInstance:
    data = store.get(instance_key(ref))
    if data is None:
        raise NotFound("instance not found")
    stored_ts = read_header(data, len(data)).transfer_syntax
    choice = negotiate_dicom(accept, {stored_ts}, single_part_allowed=True)
    if choice is None:
        raise NotAcceptable(
            f"the instance is stored as {stored_ts}; request transfer-syntax=* or that syntax"
        )
    if len(data) > max_bytes:
        raise PayloadTooLarge(
            f"the instance ({len(data)} bytes) exceeds the response payload limit ({max_bytes})"
        )
    return RetrievedInstance(data, stored_ts, choice.multipart)
