"""WADO-RS metadata (PS3.18 10.4.1.1.2): study, series and instance ``/metadata``.

The indexer writes one DICOM JSON fragment per instance. A series' metadata is one document per
catalog version of the series (``meta_v``, moved by every change to it), stored immutable at
``derived/{t}/{study}/{series}/metadata/v{N}.json.gz``: reading a series' metadata costs one
GetItem and one S3 GET whatever its size. A missing document (the series changed since) is
rebuilt on read and stored, with a manifest of the fragments' ETags: the next rebuild reads
the previous document and only the fragments whose ETag changed (a series' first read after one
more instance costs 4 GETs, not one per instance). Concurrent rebuilds write the same version's
keys, so no shared object is ever rewritten with older content. A study's metadata is its
series' documents, one S3 read per series.

Invariant: the document lists every instance the catalog (QIDO) lists, because a fragment is
written before its instance enters the catalog, and every catalog change moves the version.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from chalicelib.dicomweb.dicomxml import to_xml
from chalicelib.dicomweb.errors import NotFound
from chalicelib.dicomweb.media import DICOM_JSON, DICOM_XML, MediaType, wants_dicom_xml
from chalicelib.dicomweb.metadata import absolute_uris, dumps
from chalicelib.dicomweb.resources import InstanceRef, SeriesRef, StudyRef
from chalicelib.pools import ContextPool
from chalicelib.services.answers import Body, BodyPart, Empty
from chalicelib.services.ports import CatalogReader, ListedObject, ObjectStore
from chalicelib.storage import keys


@dataclass(frozen=True)
class Document:
    """A JSON array of instance data sets (root-relative BulkDataURIs) and its validator."""

    body: bytes
    etag: str


def _etag(*parts: object) -> str:
    return '"' + hashlib.sha256(repr(parts).encode()).hexdigest()[:32] + '"'


def _instance_number(fragment: bytes | dict[str, Any]) -> tuple[float, str]:
    """The order of instances in a document: Instance Number, then SOP Instance UID."""
    doc: dict[str, Any] = json.loads(fragment) if isinstance(fragment, bytes) else fragment
    values = doc.get("00200013", {}).get("Value") or [None]
    sop = (doc.get("00080018", {}).get("Value") or [""])[0]
    try:
        return float(values[0]), sop
    except (TypeError, ValueError):
        return float("inf"), sop


#: Fragment GETs in flight while a series' document is rebuilt. Each GET costs ~4 ms of client
#: CPU besides its latency, so a rebuild is CPU-bound past a few threads (``make
#: bench-rebuild``); what keeps it short is reading only the fragments that changed.
FRAGMENT_READERS = 8


def _sop(fragment_key: str) -> str:
    return fragment_key.rsplit("/", 1)[-1].removesuffix(".json")


#: A fragment in a rebuild: its order in the document and its bytes.
Ordered = tuple[tuple[float, str], bytes]


def _previous(
    store: ObjectStore, ref: SeriesRef, documents: list[ListedObject], version: int
) -> dict[str, tuple[str, Ordered]]:
    """The newest older document with its manifest, as SOP -> (fragment ETag, its fragment);
    empty when there is none (the first build, or after a delete purged the documents)."""
    versions = {keys.series_metadata_version(o.key) for o in documents}
    for older in sorted((v for v in versions if v is not None and v < version), reverse=True):
        manifest = store.get(keys.series_manifest_key(ref, older))
        document = store.get(keys.series_metadata_key(ref, older)) if manifest else None
        if manifest is None or document is None:
            continue
        etags: dict[str, str] = json.loads(gzip.decompress(manifest))
        previous = {}
        for entry in _entries(gzip.decompress(document)):
            sop = (entry.get("00080018", {}).get("Value") or [""])[0]
            if sop in etags:
                previous[sop] = (etags[sop], (_instance_number(entry), dumps(entry)))
        return previous
    return {}


def _entries(document: bytes) -> Iterator[dict[str, Any]]:
    """The instances of a stored document one at a time: a large series' document parsed
    whole would hold every instance as Python objects at once (several times its size)."""
    text = document.decode("utf-8")
    decoder = json.JSONDecoder()
    at = 1  # after "["
    while at < len(text) and text[at] != "]":
        entry, at = decoder.raw_decode(text, at)
        yield entry
        if at < len(text) and text[at] == ",":
            at += 1


def _rebuild(store: ObjectStore, ref: SeriesRef, version: int) -> bytes:
    """The document at ``version``: the fragments listed now, each read again only when its
    ETag differs from the one the previous document was built with."""
    listed = list(store.list_all(keys.instance_fragments_prefix(ref)))
    documents = list(store.list_all(keys.series_metadata_prefix(ref)))
    previous = _previous(store, ref, documents, version)
    stale = [o.key for o in listed if previous.get(_sop(o.key), ("",))[0] != o.etag]
    with ContextPool(max_workers=FRAGMENT_READERS) as pool:
        fetched = dict(zip(stale, pool.map(store.get, stale), strict=True))
    fragments: list[Ordered] = []
    manifest: dict[str, str] = {}
    for o in listed:
        if o.key not in fetched:
            fragments.append(previous[_sop(o.key)][1])  # parsed once, with the old document
        elif (data := fetched[o.key]) is not None:  # None: deleted since the listing
            fragments.append((_instance_number(data), data))
        else:
            continue
        manifest[_sop(o.key)] = o.etag
    if not fragments:  # every instance deleted, the catalog not updated yet: store nothing
        raise NotFound("series not found")
    fragments.sort(key=lambda f: f[0])
    body = b"[" + b",".join(data for _, data in fragments) + b"]"
    store.put(keys.series_metadata_key(ref, version), gzip.compress(body, 6), DICOM_JSON)
    store.put(
        keys.series_manifest_key(ref, version),
        gzip.compress(json.dumps(manifest).encode()),
        "application/json",
    )
    for old in documents:
        found = keys.series_metadata_version(old.key)
        if found is not None and found < version:
            store.delete(old.key)
    return body


def series_version(catalog: CatalogReader, ref: SeriesRef) -> int:
    series = catalog.get_series(ref)
    if series is None:
        raise NotFound("series not found")
    return series.meta_version


def series_document(store: ObjectStore, ref: SeriesRef, version: int) -> bytes:
    """The series' instances as a JSON array, from its stored document or rebuilt."""
    stored = store.get(keys.series_metadata_key(ref, version))
    if stored is not None:
        return gzip.decompress(stored)
    return _rebuild(store, ref, version)


def series_etag(ref: SeriesRef, version: int) -> str:
    return _etag(ref.tenant, ref.series, version)


def _current(etag: str, if_none_match: str | None) -> bool:
    return bool(if_none_match) and etag in (if_none_match or "")


class Metadata:
    """Study, series and instance metadata as DICOM JSON (gzip-encoded for clients that accept
    it) or multipart DICOM+XML, with an ETag; ``Empty(304)`` while the client's copy is
    current, found from the catalog alone (no S3 read). BulkDataURIs become absolute under
    ``base_url``. Near the limits: ``routes/respond.py`` sends a document that fits (gzipped),
    and stores one that does not, even gzipped, once under the study's bundles and answers 303.
    """

    def __init__(self, store: ObjectStore, catalog: CatalogReader) -> None:
        self._store = store
        self._catalog = catalog

    def retrieve_study_metadata(
        self, ref: StudyRef, accept: list[MediaType], if_none_match: str | None, base_url: str
    ) -> Body | Empty:
        """One Query of the study's series, then one S3 read per series' document."""
        series = [(e.ref, e.meta_version) for e in self._catalog.iter_series(ref)]
        if not series:
            raise NotFound("study not found")
        etag = _etag(ref.tenant, ref.study, series)
        xml = wants_dicom_xml(accept, "metadata")
        if _current(etag, if_none_match):
            return Empty(304)

        def document(ref_version: tuple[SeriesRef, int]) -> bytes:
            try:
                return series_document(self._store, *ref_version)
            except NotFound:  # deleted, not yet indexed
                return b"[]"

        with ContextPool(max_workers=8) as pool:
            docs = list(pool.map(document, series))
        inner = [d[1:-1] for d in docs if len(d) > 2]
        if not inner:
            raise NotFound("study not found")
        body = b"[" + b",".join(inner) + b"]"
        return _answer(Document(body, etag), ref.tenant, ref.study, xml, base_url)

    def retrieve_series_metadata(
        self, ref: SeriesRef, accept: list[MediaType], if_none_match: str | None, base_url: str
    ) -> Body | Empty:
        """One GetItem, then one S3 GET of the series' document (rebuilt when missing)."""
        version = series_version(self._catalog, ref)
        etag = series_etag(ref, version)
        xml = wants_dicom_xml(accept, "metadata")
        if _current(etag, if_none_match):
            return Empty(304)
        document = Document(series_document(self._store, ref, version), etag)
        return _answer(document, ref.tenant, ref.study, xml, base_url)

    def retrieve_instance_metadata(
        self, ref: InstanceRef, accept: list[MediaType], if_none_match: str | None, base_url: str
    ) -> Body | Empty:
        """One S3 GET of the instance's fragment (its ETag is computed from it)."""
        fragment = self._store.get(keys.instance_metadata_key(ref))
        if fragment is None:
            raise NotFound("instance not found")
        etag = _etag(ref.tenant, ref.sop, hashlib.sha256(fragment).hexdigest())
        xml = wants_dicom_xml(accept, "metadata")
        if _current(etag, if_none_match):
            return Empty(304)
        return _answer(Document(b"[" + fragment + b"]", etag), ref.tenant, ref.study, xml, base_url)


def _answer(document: Document, tenant: str, study: str, xml: bool, base_url: str) -> Body:
    body = absolute_uris(document.body, base_url)
    headers = {"ETag": document.etag}
    spill_to = keys.bundles_prefix(tenant, study)
    if xml:
        parts = [BodyPart(to_xml(d), DICOM_XML) for d in json.loads(body)]
        return Body.of_parts(parts, DICOM_XML, spill_to=spill_to, headers=headers)
    return Body.single(body, DICOM_JSON, compressible=True, headers=headers, spill_to=spill_to)
