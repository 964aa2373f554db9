"""receiver/app.py over real HTTP: refusals before the body (Expect: 100-continue), streamed
parts stored and searchable on 200, bounds, a client cut off midway, the public root."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import requests

from chalicelib.dicomweb.resources import InstanceRef
from chalicelib.services.stow_stream import WHOLE_PART
from chalicelib.storage.keys import instance_key
from tests.conftest import KEY, OTHER_KEY, TENANT
from tests.factories import dataset, instance_bytes, multipart_body, to_bytes, uid
from tests.receiver.conftest import Start

BOUNDARY = "test-boundary"
MULTIPART = f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'
REFERENCED = "00081199"
FAILED = "00081198"
REASON = "00081197"
RETRIEVE_URL = "00081190"


def big_instance(study: str, frames: int = 5) -> bytes:
    """An instance over WHOLE_PART: it streams to an S3 multipart upload."""
    data = instance_bytes(study=study, rows=1024, columns=1024, frames=frames)
    assert len(data) > WHOLE_PART
    return data


def post(url: str, body: Any, key: str = KEY, content_type: str = MULTIPART, **kw: Any):
    headers = {"apikey": key, "Content-Type": content_type, **kw.pop("headers", {})}
    return requests.post(url + "/studies", data=body, headers=headers, timeout=60, **kw)


def stored(lambda_app: ModuleType, ref: InstanceRef) -> bytes | None:
    return lambda_app.deps.store.get(instance_key(ref))


def open_uploads(lambda_app: ModuleType) -> list[dict[str, Any]]:
    deps = lambda_app.deps
    got = deps.clients.s3.list_multipart_uploads(Bucket=deps.settings.bucket)
    return list(got.get("Uploads", []))


def refs(answer: dict[str, Any]) -> list[str]:
    return [i["00081155"]["Value"][0] for i in answer.get(REFERENCED, {}).get("Value", [])]


def test_small_and_streamed_parts_are_stored_byte_identical_and_searchable_on_200(
    receiver_url: str, lambda_app: ModuleType, stack: Any
) -> None:
    study = uid()
    small = [dataset(study=study) for _ in range(3)]
    big = big_instance(study)
    r = post(receiver_url, multipart_body([to_bytes(d) for d in small] + [big]))
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/dicom+json")
    answer = r.json()
    assert len(refs(answer)) == 4
    # searchable at once, through the API
    found = stack.get(f"/studies/{study}/instances")
    assert found.status_code == 200
    assert len(found.json()) == 4
    sop = refs(answer)[3]
    series = answer[REFERENCED]["Value"][3][RETRIEVE_URL]["Value"][0].split("/series/")[1]
    assert stored(lambda_app, InstanceRef(TENANT, study, series.split("/")[0], sop)) == big
    assert open_uploads(lambda_app) == []


def test_a_chunked_body_and_a_single_application_dicom_instance(
    receiver_url: str, stack: Any
) -> None:
    study = uid()
    body = multipart_body([instance_bytes(study=study), big_instance(study)])

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(body), 100_000):
            yield body[i : i + 100_000]

    r = post(receiver_url, chunks())  # no Content-Length: Transfer-Encoding: chunked
    assert r.status_code == 200, r.text
    one = post(receiver_url, big_instance(study), content_type="application/dicom")
    assert one.status_code == 200, one.text
    assert len(stack.get(f"/studies/{study}/instances").json()) == 3


def raw_request(url: str, head: str, body: bytes = b"", wait: float = 2.0) -> bytes:
    """Send ``head`` (and ``body``) on a socket; what the server answers within ``wait``."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=wait) as sock:
        sock.sendall(head.encode() + body)
        got = b""
        try:
            while chunk := sock.recv(65536):
                got += chunk
                if b"\r\n\r\n" in got and (b"100 Continue" not in got.split(b"\r\n")[0]):
                    break
        except TimeoutError:
            pass
        return got


def expect_head(url: str, key: str, content_type: str = MULTIPART, length: int = 10**6) -> str:
    host = urlsplit(url).netloc
    return (
        f"POST /studies HTTP/1.1\r\nHost: {host}\r\napikey: {key}\r\n"
        f"Content-Type: {content_type}\r\nContent-Length: {length}\r\n"
        "Expect: 100-continue\r\n\r\n"
    )


def test_expect_100_continue_refusals_come_before_the_body(
    receiver_url: str, lambda_app: ModuleType
) -> None:
    _, read_only = lambda_app.deps.tenants.create_key(TENANT, frozenset({"read"}), name="ro")
    cases = [
        ("wrong-key", MULTIPART, 10**6, b"401"),
        (read_only, MULTIPART, 10**6, b"403"),
        (KEY, "text/plain", 10**6, b"415"),
        (KEY, 'multipart/related; type="application/dicom"', 10**6, b"400"),  # no boundary
        (KEY, MULTIPART, 5 * 1024**4, b"413"),  # 5 TiB declared
    ]
    for key, content_type, length, status in cases:
        got = raw_request(receiver_url, expect_head(receiver_url, key, content_type, length))
        first = got.split(b"\r\n", 1)[0]
        assert status in first, (key, content_type, got[:200])
        assert b"100 Continue" not in got


def test_expect_100_continue_is_answered_when_the_request_is_acceptable(
    receiver_url: str,
) -> None:
    got = raw_request(receiver_url, expect_head(receiver_url, KEY), wait=1.0)
    assert got.startswith(b"HTTP/1.1 100 Continue"), got[:100]


def test_a_client_cut_off_midway_leaves_whole_indexed_instances_and_no_open_upload(
    receiver_url: str, lambda_app: ModuleType, stack: Any
) -> None:
    study = uid()
    whole = [instance_bytes(study=study) for _ in range(2)]
    cut = big_instance(study)
    body = multipart_body([*whole, cut])
    head = expect_head(receiver_url, KEY, length=len(body)).replace("Expect: 100-continue\r\n", "")
    sent_upto = body.index(cut) + len(cut) // 2 + WHOLE_PART // 2  # inside the streamed part
    parts = urlsplit(receiver_url)
    with socket.create_connection((parts.hostname, parts.port)) as sock:
        sock.sendall(head.encode() + body[:sent_upto])
        time.sleep(0.5)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        found = stack.get(f"/studies/{study}/instances")
        if found.status_code == 200 and len(found.json()) == 2 and not open_uploads(lambda_app):
            break
        time.sleep(0.1)
    assert len(stack.get(f"/studies/{study}/instances").json()) == 2
    assert open_uploads(lambda_app) == []
    listed = list(lambda_app.deps.store.list_all(f"dicom/{TENANT}/{study}/"))
    assert len(listed) == 2


def test_a_streamed_part_that_fails_its_length_rules_leaves_nothing(
    receiver_url: str, lambda_app: ModuleType
) -> None:
    study = uid()
    good = instance_bytes(study=study)
    big = big_instance(study)
    truncated = big[: len(big) - 1000]  # Pixel Data declares 1000 bytes more than it holds
    r = post(receiver_url, multipart_body([good, truncated]))
    assert r.status_code == 202, r.text
    answer = r.json()
    assert len(refs(answer)) == 1
    failed = answer[FAILED]["Value"]
    assert failed[0][REASON]["Value"] == [0xC000]
    assert open_uploads(lambda_app) == []
    assert len(list(lambda_app.deps.store.list_all(f"dicom/{TENANT}/{study}/"))) == 1


def test_a_part_of_another_study_than_the_url_is_refused_while_streaming(
    receiver_url: str,
) -> None:
    study = uid()
    r = requests.post(
        f"{receiver_url}/studies/{study}",
        data=multipart_body([big_instance(uid())]),
        headers={"apikey": KEY, "Content-Type": MULTIPART},
        timeout=60,
    )
    assert r.status_code == 409, r.text
    assert r.json()[FAILED]["Value"][0][REASON]["Value"] == [0xA901]


def test_bounds_parts_bytes_and_a_stalled_client(start_receiver: Start) -> None:
    url = start_receiver(stow_max_parts=2, stow_max_request_bytes=3_000_000, stow_read_timeout=1.0)
    study = uid()
    three = multipart_body([instance_bytes(study=study) for _ in range(3)])
    r = post(url, three)
    assert r.status_code == 202, r.text  # two stored, the rest refused with the reason
    answer = r.json()
    assert len(refs(answer)) == 2
    assert "more than 2 parts" in json.dumps(answer[FAILED])

    def endless() -> Iterator[bytes]:
        yield multipart_body([instance_bytes(study=study)])[:-30]
        while True:
            yield b"\0" * 65536

    too_much = post(url, endless())
    assert too_much.status_code == 413, too_much.text
    assert too_much.json()["error"]["code"] == "PayloadTooLarge"

    head = expect_head(url, KEY, length=10**6).replace("Expect: 100-continue\r\n", "")
    got = raw_request(url, head, b"--" + BOUNDARY.encode() + b"\r\n", wait=5.0)
    assert got.split(b"\r\n", 1)[0].endswith(b"408 Request Timeout"), got[:200]


def test_tenants_are_apart_and_the_answer_names_the_fronts_root(
    start_receiver: Start, stack: Any
) -> None:
    url = start_receiver(origin_secret="s3cret")
    study = uid()
    front = {"x-dicomweb-root": "https://dicom.example.org", "x-dicomweb-origin-secret": "s3cret"}
    r = post(url, multipart_body([instance_bytes(study=study)]), key=OTHER_KEY, headers=front)
    assert r.status_code == 200
    assert r.json()[RETRIEVE_URL]["Value"][0] == f"https://dicom.example.org/studies/{study}"
    forged = {**front, "x-dicomweb-origin-secret": "guess"}
    r = post(url, multipart_body([instance_bytes(study=study)]), key=OTHER_KEY, headers=forged)
    assert r.json()[RETRIEVE_URL]["Value"][0].startswith(url)
    assert stack.get(f"/studies/{study}/instances").json() == []  # t1 sees nothing of t2
    theirs = stack.get(f"/studies/{study}/instances", headers={"apikey": OTHER_KEY})
    assert len(theirs.json()) == 2


def test_health_and_other_paths(receiver_url: str) -> None:
    assert requests.get(receiver_url + "/health", timeout=5).json() == {"status": "ok"}
    other = requests.get(receiver_url + "/studies", headers={"apikey": KEY}, timeout=5)
    assert other.status_code == 404
    assert other.json()["error"]["code"] == "NotFound"
