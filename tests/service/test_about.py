"""routes/about.py over HTTP, as a person or a probe reaches the service: ``GET /`` says what it
is, ``GET /health`` answers, both without a key and without an AWS call; every link they give
works."""

from __future__ import annotations

import tomllib
from pathlib import Path

from chalicelib.routes import about

ROOT = Path(__file__).resolve().parents[2]


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
