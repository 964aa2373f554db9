"""routes/respond.py: every answer becomes HTTP here; over the payload limit it is spilled to
S3 once (services/spill.py) and answered 303. Real S3 through moto, real multipart bytes."""

from __future__ import annotations

import gzip
from typing import Any

import pytest

from chalicelib.dicomweb.errors import NotFound, PayloadTooLarge
from chalicelib.dicomweb.multipart import read_multipart
from chalicelib.routes.respond import respond
from chalicelib.routes.route import Call
from chalicelib.services.answers import Body, BodyPart, Empty, ObjectSlice, Redirect, json_body
from chalicelib.services.spill import Spill
from chalicelib.storage.objects import S3ObjectStore

LIMIT = 1000
SPILL_TO = "derived/t1/1.2/bundles/"


def link(key: str, content_type: str) -> str:
    return f"https://signed.example/{key}?type={content_type}"


def call(**headers: str) -> Call:
    return Call(None, {}, {}, headers, b"", "https://dicomweb.example", "dicomweb.example")


def keys(store: S3ObjectStore, prefix: str = "") -> list[str]:
    return [o.key for o in store.list(prefix)[0]]


def send(answer: Any, store: S3ObjectStore, **headers: str) -> Any:
    return respond(answer, call(**headers), Spill(store, link), LIMIT)


def test_small_body_is_sent_with_its_headers_and_cors(store: S3ObjectStore) -> None:
    got = send(json_body([1, 2], headers={"ETag": '"x"'}), store)
    assert got.status_code == 200
    assert got.body == b"[1,2]"
    assert got.headers["Content-Type"] == "application/dicom+json"
    assert got.headers["ETag"] == '"x"'
    assert got.headers["Access-Control-Allow-Origin"] == "*"


def test_multipart_under_the_limit_reads_unread_parts(store: S3ObjectStore) -> None:
    store.put("dicom/t1/a.dcm", b"A" * 100, "application/dicom")
    store.put("dicom/t1/b.dcm", b"0123456789", "application/dicom")
    body = Body.of_parts(
        [
            BodyPart(ObjectSlice.of_object("dicom/t1/a.dcm", 100), "application/dicom"),
            BodyPart(ObjectSlice("dicom/t1/b.dcm", 2, 3), "application/octet-stream"),
            BodyPart(b"inline", "application/octet-stream"),
        ],
        "application/dicom",
        spill_to=SPILL_TO,
    )
    got = send(body, store)
    content_type = got.headers["Content-Type"]
    assert content_type.startswith('multipart/related; type="application/dicom"; boundary=')
    parts = read_multipart(got.body, content_type.rsplit("boundary=", 1)[1])
    assert [p.content for p in parts] == [b"A" * 100, b"234", b"inline"]
    assert [p.content_type for p in parts][1] == "application/octet-stream"
    assert keys(store, "derived/") == []  # nothing spilled


def test_a_stored_object_over_the_limit_redirects_to_itself(store: S3ObjectStore) -> None:
    store.put("dicom/t1/big.dcm", b"B" * 5000, "application/dicom")
    body = Body.single(ObjectSlice.of_object("dicom/t1/big.dcm", 5000), "application/dicom")
    got = send(body, store)
    assert got.status_code == 303
    assert got.headers["Location"] == link("dicom/t1/big.dcm", "application/dicom")
    assert keys(store, "derived/") == []  # not copied


def test_multipart_over_the_limit_is_composed_once_and_redirected(store: S3ObjectStore) -> None:
    store.put("dicom/t1/big.dcm", b"B" * 3000, "application/dicom")
    body = Body.of_parts(
        [
            BodyPart(ObjectSlice.of_object("dicom/t1/big.dcm", 3000), "application/dicom"),
            BodyPart(b"tail", "application/dicom"),
        ],
        "application/dicom",
        spill_to=SPILL_TO,
    )
    first = send(body, store)
    assert first.status_code == 303
    (spilled,) = keys(store, SPILL_TO)
    location = first.headers["Location"]
    assert location.startswith(f"https://signed.example/{spilled}?type=multipart/related;")
    boundary = location.rsplit("boundary=", 1)[1]
    parts = read_multipart(store.get(spilled) or b"", boundary)
    assert [p.content for p in parts] == [b"B" * 3000, b"tail"]
    again = send(body, store)
    assert again.headers["Location"] == location
    assert keys(store, SPILL_TO) == [spilled]  # content-addressed: stored once


def test_compressible_body_is_gzipped_for_clients_that_accept_it(store: S3ObjectStore) -> None:
    doc = b"[" + b'{"a":1},' * 300 + b"{}]"  # 2.4 KB, compresses far under the limit
    body = Body.single(doc, "application/dicom+json", spill_to=SPILL_TO, compressible=True)
    zipped = send(body, store, **{"accept-encoding": "gzip, br"})
    assert zipped.status_code == 200
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert zipped.headers["Vary"] == "Accept-Encoding"
    assert gzip.decompress(zipped.body) == doc
    plain = send(body, store)  # without gzip it is over the limit: stored uncompressed
    assert plain.status_code == 303
    (spilled,) = keys(store, SPILL_TO)
    assert store.get(spilled) == doc


def test_an_oversize_answer_without_a_spill_place_is_413(store: S3ObjectStore) -> None:
    with pytest.raises(PayloadTooLarge):
        send(Body.single(b"x" * 2000, "application/json"), store)


def test_parts_deleted_meanwhile_are_left_out_and_none_left_is_404(store: S3ObjectStore) -> None:
    store.put("dicom/t1/a.dcm", b"A", "application/dicom")
    kept = BodyPart(ObjectSlice.of_object("dicom/t1/a.dcm", 1), "application/dicom")
    gone = BodyPart(ObjectSlice.of_object("dicom/t1/gone.dcm", 1), "application/dicom")
    got = send(Body.of_parts([kept, gone], "application/dicom"), store)
    boundary = got.headers["Content-Type"].rsplit("boundary=", 1)[1]
    assert [p.content for p in read_multipart(got.body, boundary)] == [b"A"]
    with pytest.raises(NotFound):
        send(Body.of_parts([gone], "application/dicom"), store)


def test_empty_and_redirect_answers(store: S3ObjectStore) -> None:
    deleted = send(Empty(), store)
    assert (deleted.status_code, deleted.body) == (204, b"")
    current = send(Empty(304, {"ETag": '"v1"'}), store)
    assert current.status_code == 304 and current.headers["ETag"] == '"v1"'
    moved = send(Redirect("https://elsewhere.example/x"), store)
    assert moved.status_code == 303
    assert moved.headers["Location"] == "https://elsewhere.example/x"
    assert moved.headers["Access-Control-Allow-Origin"] == "*"


# --- caching: no-store on every answer with a principal, 303s and errors ------------------


def keyed_call() -> Call:
    from chalicelib.services.ports import Principal

    principal = Principal("t1", "k1", frozenset({"read"}))
    return Call(principal, {}, {}, {}, b"", "https://dicomweb.example", "dicomweb.example")


@pytest.mark.parametrize(
    ("answer", "cache"),
    [
        (json_body([1]), "no-store"),
        (Empty(204, {"ETag": '"e"'}), "no-store"),
        (Redirect("https://signed.example/x"), "no-store"),
    ],
)
def test_every_keyed_answer_is_kept_from_shared_caches(
    store: S3ObjectStore, answer: Any, cache: str
) -> None:
    got = respond(answer, keyed_call(), Spill(store, link), LIMIT)
    assert got.headers["Cache-Control"] == cache
    assert got.headers["X-Content-Type-Options"] == "nosniff"


def test_a_spilled_303_is_no_store_even_without_a_principal(store: S3ObjectStore) -> None:
    store.put("dicom/t1/big.dcm", b"B" * 5000, "application/dicom")
    body = Body.single(ObjectSlice.of_object("dicom/t1/big.dcm", 5000), "application/dicom")
    got = send(body, store)
    assert got.status_code == 303
    assert got.headers["Cache-Control"] == "no-store"


def test_a_public_answer_may_be_cached_briefly(store: S3ObjectStore) -> None:
    got = send(json_body({"status": "ok"}, "application/json"), store)
    assert got.headers["Cache-Control"] == "public, max-age=300"
    assert got.headers["X-Content-Type-Options"] == "nosniff"


def test_errors_are_no_store_and_nosniff() -> None:
    from chalicelib.routes.http import error_response

    got = error_response(NotFound("no such study <b>x</b>"))
    assert got.headers["Cache-Control"] == "no-store"
    assert got.headers["X-Content-Type-Options"] == "nosniff"
