"""Real-world files: every DICOM file shipped inside pydicom goes through STOW.

Each valid file must round-trip byte for byte and be indexed; each invalid one must get a
FailureReason; none may get a 5xx. The counts are printed for the closing note.
"""

from __future__ import annotations

import hashlib

from chalicelib.dicomweb.errors import FailureReason
from tests.factories import PYDICOM_TEST_FILES
from tests.service.helpers import ANY_TS

FILES = sorted(PYDICOM_TEST_FILES.glob("*.dcm"))


def test_the_corpus_is_there():
    assert len(FILES) >= 70


def test_pydicom_corpus_round_trips(stack):
    stored: dict[str, tuple[str, str]] = {}  # file -> (RetrieveURL, sha256)
    last_at_url: dict[str, str] = {}  # several corpus files share SOP Instance UIDs
    rejected: dict[str, int] = {}
    server_errors = []
    for path in FILES:
        data = path.read_bytes()
        r = stack.post("/studies", data=data, headers={"Content-Type": "application/dicom"})
        if r.status_code >= 500:
            server_errors.append(path.name)
            continue
        body = r.json()
        if r.status_code == 200:
            url = body["00081199"]["Value"][0]["00081190"]["Value"][0]
            stored[path.name] = (url, hashlib.sha256(data).hexdigest())
            last_at_url[url] = path.name
        else:
            assert r.status_code == 409, (path.name, r.status_code)
            reason = body["00081198"]["Value"][0]["00081197"]["Value"][0]
            assert reason in {int(r) for r in FailureReason}
            rejected[path.name] = reason
    print(
        f"\npydicom corpus: {len(FILES)} files, {len(stored)} stored, "
        f"{len(rejected)} rejected, {len(server_errors)} 5xx"
    )
    print("rejected:", ", ".join(f"{n} ({hex(r)})" for n, r in sorted(rejected.items())))
    assert server_errors == []
    assert len(stored) >= 50
    for url, name in last_at_url.items():
        digest = stored[name][1]
        path = url.split("/", 3)[3]
        r = stack.get("/" + path, headers={"Accept": ANY_TS})
        assert r.status_code == 200, name
        boundary = r.headers["Content-Type"].split("boundary=")[1]
        from chalicelib.dicomweb.multipart import read_multipart

        (part,) = read_multipart(r.content, boundary)
        assert hashlib.sha256(part.content).hexdigest() == digest, name
    stack.drain()
    sqs = stack.deps.clients.sqs
    dlq = sqs.get_queue_url(QueueName=stack.deps.settings.index_dlq)["QueueUrl"]
    assert "Messages" not in sqs.receive_message(QueueUrl=dlq)
    found = set()
    for study in stack.get("/studies", params={"limit": "1000"}).json():
        found.add(study["0020000D"]["Value"][0])
    assert found  # every stored file's study is searchable
    expected = {url.split("/studies/")[1].split("/")[0] for url, _ in stored.values()}
    assert found == expected
