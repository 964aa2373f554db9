"""routes/about.py over HTTP, as a person or a probe reaches the service: ``GET /`` says what it
is, ``GET /health`` answers, both without a key and without an AWS call; every link they give
works; and every URL any answer carries starts with the service's root whatever Host header the
client sent (dicomweb-client sends ``Host: 127.0.0.1`` without the port)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from chalicelib.routes import about
from tests.factories import instance_bytes, multipart_body, uid

ROOT = Path(__file__).resolve().parents[2]
MULTIPART = 'multipart/related; type="application/dicom"; boundary=test-boundary'
#: Host headers a client may send: dicomweb-client's (no port), another host, the right one.
HOSTS = ["127.0.0.1", "evil.example:4443", None]


def test_health_answers_without_a_key_and_without_aws(stack):
    stack.counter.reset()
    r = stack.http.get(stack.url + "/health", headers={"apikey": ""})
    assert r.status_code == 200, r.text
    assert r.json() == {"status": "ok"}
    assert r.headers["Content-Type"] == "application/json"
    assert stack.counter.total_calls() == 0


def test_health_is_described_as_public(stack):
    doc = stack.http.get(stack.url + "/openapi.json").json()
    operation = doc["paths"]["/health"]["get"]
    assert operation["security"] == [] and operation["operationId"] == "health"


def test_root_says_what_the_service_is_without_a_key_and_without_aws(stack):
    stack.counter.reset()
    r = stack.http.get(stack.url + "/", headers={"apikey": ""})
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "application/json"
    assert r.headers["Cache-Control"] == "public, max-age=300"
    body = r.json()
    assert body == {
        "name": "Serverless DICOMweb",
        "version": about.VERSION,
        "description": body["description"],
        "dicomweb": stack.url,
        "links": {
            "openapi": stack.url + "/openapi.json",
            "conformance": stack.url + "/conformance",
            "health": stack.url + "/health",
        },
    }
    assert "DICOMweb" in body["description"] and "API key" in body["description"]
    assert stack.counter.total_calls() == 0  # no tenant, no table read: nothing about data


def test_the_roots_links_work_without_a_key(stack):
    links = stack.http.get(stack.url + "/").json()["links"]
    bare = {"apikey": ""}
    openapi = stack.http.get(links["openapi"], headers=bare)
    assert openapi.status_code == 200 and openapi.json()["servers"] == [{"url": stack.url}]
    assert openapi.json()["paths"]["/"]["get"]["security"] == []
    statement = stack.http.get(links["conformance"], headers=bare)
    assert statement.status_code == 200
    assert statement.headers["Content-Type"] == "text/markdown; charset=utf-8"
    assert statement.content == (ROOT / "docs" / "conformance.md").read_bytes()
    assert statement.text.startswith("# DICOM Conformance Statement")
    assert stack.http.get(links["health"], headers=bare).json() == {"status": "ok"}


def test_the_version_is_the_projects():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["version"] == about.VERSION


def test_the_packaged_statement_is_the_document_itself():
    """A link, not a copy: Chalice's packager writes its target into deployment.zip."""
    assert about.CONFORMANCE_FILE.is_symlink()
    assert about.CONFORMANCE_FILE.resolve() == (ROOT / "docs" / "conformance.md").resolve()


@pytest.mark.parametrize("host", HOSTS)
def test_every_url_in_an_answer_starts_with_the_root_whatever_the_host(stack, host):
    """The root, the OpenAPI servers, a STOW's RetrieveURLs (through the receiver), QIDO's,
    metadata BulkDataURIs and a presigned upload's status URL."""
    headers = {"Host": host} if host else {}
    root = stack.url
    assert stack.get("/", headers=headers).json()["dicomweb"] == root
    assert stack.get("/openapi.json", headers=headers).json()["servers"] == [{"url": root}]
    study = uid()
    stored = stack.post(
        "/studies",
        data=multipart_body([instance_bytes(study=study, rows=64, columns=64)]),
        headers={**headers, "Content-Type": MULTIPART},
    )
    assert stored.status_code == 200, stored.text
    assert stored.json()["00081190"]["Value"] == [f"{root}/studies/{study}"]
    (item,) = stored.json()["00081199"]["Value"]
    instance_url = item["00081190"]["Value"][0]
    assert instance_url.startswith(f"{root}/studies/{study}/series/")
    found = stack.get(f"/studies/{study}/instances", headers=headers).json()
    assert [i["00081190"]["Value"][0] for i in found] == [instance_url]
    series = instance_url.split("/series/")[1].split("/")[0]
    meta = stack.get(f"/studies/{study}/series/{series}/metadata", headers=headers).json()
    bulk = meta[0]["7FE00010"]["BulkDataURI"]
    assert bulk == instance_url + "/bulkdata/7FE00010"
    assert stack.get(bulk.removeprefix(root)).status_code == 200
    upload = stack.post("/uploads", json={"files": [{"name": "a.dcm", "size": 1}]}, headers=headers)
    assert upload.status_code == 201, upload.text
    assert upload.json()["status"].startswith(f"{root}/uploads/")
