"""STOW-RS (PS3.18 10.5): store instances.

``instance_parts`` reads the request (its Content-Type decides 415 or 400 before any instance
is looked at); ``InstanceWriter`` is the core every STOW front shares, one part at a time:
``check`` validates a part's header, ``write`` puts a valid instance once, at its canonical S3
key (the catalog is not touched here: the S3 event drives indexing). Every outcome carries its
part's 1-based position in the request and, when it failed, a reason in words. ``Stow`` runs
them over a whole request and answers as Orthanc's STOW does: accumulate (``StowResult``), then
decide 200, 202 or 409, with the Store Instances Response Module as DICOM JSON
(``dicomweb/stow_response.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from io import BytesIO

import pydicom

from chalicelib.dicomweb.errors import (
    BadRequest,
    FailureReason,
    InstanceRejected,
    UnsupportedMediaType,
)
from chalicelib.dicomweb.instance import read_instance
from chalicelib.dicomweb.media import (
    APPLICATION_DICOM,
    MULTIPART_RELATED,
    multipart_type,
    parse_media_type,
)
from chalicelib.dicomweb.multipart import read_multipart
from chalicelib.dicomweb.resources import InstanceRef, is_valid_uid
from chalicelib.observability import count, logger
from chalicelib.pools import ContextPool
from chalicelib.services.answers import Body, json_body
from chalicelib.services.ports import ObjectStore, StorageBusy, StorageError
from chalicelib.services.searchable import Searchable
from chalicelib.services.stow_outcomes import (
    FailedInstance,
    InstancePart,
    StoredInstance,
    StowResult,
    ValidInstance,
)
from chalicelib.storage.keys import instance_key

#: Instances written at once: a batch of 50 costs about two PUT latencies, not 50, which keeps
#: a full STOW far inside API Gateway's 29 s.
PUT_CONCURRENCY = 8


def stow_boundary(content_type: str | None) -> str | None:
    """The multipart boundary of a STOW request, or None for one ``application/dicom``
    instance (a Microsoft extension). Any other Content-Type is 415: ``multipart/related`` of
    ``application/dicom`` parts only (``type`` absent or application/dicom); a multipart
    without a boundary is 400."""
    if not content_type:
        raise UnsupportedMediaType(
            "Content-Type is required: multipart/related or application/dicom"
        )
    try:
        media = parse_media_type(content_type)
    except BadRequest as exc:
        raise UnsupportedMediaType(exc.message) from exc
    if media.essence == APPLICATION_DICOM:
        return None
    if media.essence != MULTIPART_RELATED:
        raise UnsupportedMediaType(
            f'{media.essence} is not accepted: use multipart/related; type="application/dicom"'
        )
    if multipart_type(media) not in (None, APPLICATION_DICOM):
        raise UnsupportedMediaType(
            f"multipart/related of {multipart_type(media)} is not accepted; "
            'use type="application/dicom"'
        )
    boundary = media.params.get("boundary")
    if not boundary:
        raise BadRequest("multipart/related without a boundary parameter", code="InvalidMultipart")
    return str(boundary)


EMPTY_BODY = BadRequest(
    "the request body is empty: send one DICOM Part 10 file as application/dicom, "
    'or several as multipart/related; type="application/dicom"',
    code="InvalidRequestBody",
)


def instance_parts(content_type: str | None, body: bytes) -> list[InstancePart]:
    """The instances of a whole STOW request body (``stow_boundary`` decides 415 or 400
    first); an empty ``application/dicom`` body, or a multipart that cannot be read, is 400."""
    boundary = stow_boundary(content_type)
    if boundary is None:
        if not body:
            raise EMPTY_BODY
        return [InstancePart(body)]
    return [
        InstancePart(p.content, p.content_type or "")  # none: refused by the part (check)
        for p in read_multipart(body, boundary)
    ]


def check_part_type(content_type: str) -> None:
    """Raise ``InstanceRejected`` unless a part's Content-Type is application/dicom: without
    one (PS3.18 10.5.1: every part has one; never guessed) or of another type."""
    media_type = content_type.split(";")[0].strip().lower()
    if not media_type:
        raise InstanceRejected(FailureReason.CANNOT_UNDERSTAND, "the part has no Content-Type")
    if media_type != APPLICATION_DICOM:
        raise InstanceRejected(  # the type itself is not quoted: it is the sender's text
            FailureReason.CANNOT_UNDERSTAND,
            "the part's Content-Type is not application/dicom",
        )


def best_effort_uids(data: bytes) -> tuple[str | None, str | None]:
    """SOP Class / Instance UIDs of a rejected part, if they can be read at all."""
    try:
        ds = pydicom.dcmread(BytesIO(data), force=True, stop_before_pixels=True)
        cls, sop = str(ds.get("SOPClassUID", "")), str(ds.get("SOPInstanceUID", ""))
        return (cls if is_valid_uid(cls) else None, sop if is_valid_uid(sop) else None)
    except Exception:
        return None, None


def storage_failure(
    position: int, sop_class: str | None, sop: str | None, exc: StorageError
) -> FailedInstance:
    """An instance storage would not write: 0xA700 when it is busy (send it again later),
    0x0110 otherwise; the request goes on."""
    code = f" ({exc.code})" if exc.code else ""
    if isinstance(exc, StorageBusy):
        reason = FailureReason.OUT_OF_RESOURCES
        message = f"storage is busy{code}: send this instance again later"
    else:
        reason = FailureReason.PROCESSING_FAILURE
        message = f"storage refused to write the instance{code}"
    return FailedInstance(position, sop_class, sop, reason, message)


class InstanceWriter:
    """Validate and store one instance at a time: the core of every STOW front (this
    request-at-once service, and a receiver that streams parts as they arrive). The front
    numbers the parts: ``position`` is a part's 1-based position in its request."""

    def __init__(self, store: ObjectStore) -> None:
        self._store = store

    def check(
        self, part: InstancePart, tenant: str, study_in_url: str | None, *, position: int
    ) -> ValidInstance | FailedInstance:
        """The part's header read and accepted, or why not (a FailureReason): without a
        Content-Type (PS3.18 10.5.1: every part has one; never guessed), not
        application/dicom, empty or not a readable instance (0xC000 and kin), or of another
        study than the request URL names (0xA901)."""
        try:
            check_part_type(part.content_type)
            if not part.content:
                raise InstanceRejected(FailureReason.CANNOT_UNDERSTAND, "the part is empty")
            header = read_instance(part.content)
        except InstanceRejected as exc:
            sop_class, sop = best_effort_uids(part.content)
            return FailedInstance(position, sop_class, sop, exc.reason, exc.message)
        if study_in_url and header.study != study_in_url:
            return FailedInstance(
                position,
                header.sop_class,
                header.sop,
                FailureReason.STUDY_UID_MISMATCH,
                f"StudyInstanceUID {header.study} is not the study in the request URL, "
                f"{study_in_url}",
            )
        ref = InstanceRef(tenant, header.study, header.series, header.sop)
        return ValidInstance(position, ref, header.sop_class, part.content)

    def write(self, valid: ValidInstance) -> StoredInstance | FailedInstance:
        """Put the instance at its canonical key; a storage failure fails the instance
        (0xA700 when storage is busy, 0x0110 otherwise) instead of the request."""
        try:
            written = self._store.put(instance_key(valid.ref), valid.content, APPLICATION_DICOM)
        except StorageError as exc:
            return storage_failure(valid.position, valid.sop_class, valid.ref.sop, exc)
        return StoredInstance(
            valid.position, valid.ref, valid.sop_class, len(valid.content), written.version_id
        )


def same_key_chains(valid: Sequence[ValidInstance]) -> list[list[ValidInstance]]:
    """The valid instances grouped by canonical key, each group in the order of the parts:
    parts that repeat an instance are written one after the other, so the last one wins."""
    chains: dict[str, list[ValidInstance]] = {}
    for v in valid:
        chains.setdefault(instance_key(v.ref), []).append(v)
    return list(chains.values())


def stow_answer(
    result: StowResult, tenant: str, base_url: str, study_in_url: str | None, transaction: str
) -> Body:
    """A STOW's answer, whichever front read it: 200, 202 or 409 and the response module;
    one log line (counts only) and the metrics."""
    logger.info(
        "stow",
        extra={
            "transaction": transaction,
            "stored": len(result.stored),
            "failed": len(result.failed),
        },
    )
    count("InstancesStored", len(result.stored), tenant=tenant)
    count("InstancesFailed", len(result.failed), tenant=tenant)
    count("BytesStored", sum(s.size for s in result.stored), "Bytes", tenant=tenant)
    return json_body(result.to_dicom_json(base_url, study_in_url), status=result.status)


class Stow:
    def __init__(self, store: ObjectStore, searchable: Searchable | None = None) -> None:
        self._writer = InstanceWriter(store)
        self._searchable = searchable

    def store_instances(
        self,
        tenant: str,
        content_type: str | None,
        body: bytes,
        study_in_url: str | None,
        base_url: str,
    ) -> Body:
        """Store Instances: the request's parts validated and stored; 200 all stored, 202 some
        failed, 409 none stored, the response module as DICOM JSON."""
        result = self.store_parts(tenant, instance_parts(content_type, body), study_in_url)
        return stow_answer(result, tenant, base_url, study_in_url, "stow")

    def store_parts(
        self, tenant: str, parts: Sequence[InstancePart], study_in_url: str | None
    ) -> StowResult:
        """Check every part (numbered from 1 in the order given), then write the valid
        instances: distinct keys up to ``PUT_CONCURRENCY`` at a time, parts that repeat a key
        one after the other in their order, so the last one is the stored instance."""
        result = StowResult()
        valid: list[ValidInstance] = []
        for position, part in enumerate(parts, start=1):
            checked = self._writer.check(part, tenant, study_in_url, position=position)
            if isinstance(checked, ValidInstance):
                valid.append(checked)
            else:
                result.add(checked)
        chains = same_key_chains(valid)
        if len(chains) > 1:
            with ContextPool(max_workers=PUT_CONCURRENCY) as pool:
                written = list(pool.map(self._write_in_order, chains))
        else:
            written = [self._write_in_order(c) for c in chains]
        outcomes = [o for chain in written for o in chain]
        stored = [o for o in outcomes if isinstance(o, StoredInstance)]
        if self._searchable is not None and stored:  # searchable on 200
            indexed = iter(self._searchable.make_searchable(stored))
            outcomes = [next(indexed) if isinstance(o, StoredInstance) else o for o in outcomes]
        for outcome in sorted(outcomes, key=lambda o: o.position):
            result.add(outcome)
        return result

    def _write_in_order(self, chain: list[ValidInstance]) -> list[StoredInstance | FailedInstance]:
        return [self._writer.write(v) for v in chain]
