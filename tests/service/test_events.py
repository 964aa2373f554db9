"""The sample events in events/ drive the real handlers, exactly as AWS would deliver them."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from chalicelib.storage.tenants import ALL_SCOPES
from local.lambda_runtime import LambdaContext

EVENTS = Path(__file__).resolve().parents[2] / "events"


def load(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


@pytest.fixture
def sample_tenant(lambda_app):
    lambda_app.deps.tenants.create_tenant("sample")
    lambda_app.deps.tenants.create_key("sample", ALL_SCOPES, api_key="sample-event-key")
    return lambda_app


def call(app_module, name: str) -> dict:
    return app_module.app(load(name), LambdaContext())


def test_every_event_is_covered():
    names = {p.name for p in EVENTS.glob("*.json")}
    documented = (EVENTS / "README.md").read_text()
    assert names and all(n in documented for n in names)


def test_api_and_indexer_events_round_trip(sample_tenant):
    app = sample_tenant
    stored = call(app, "api_store_instances.json")
    assert stored["statusCode"] == 200
    body = json.loads(base64.b64decode(stored["body"]))
    assert body["00081190"]["Value"][0].startswith(
        "https://abc123.execute-api.us-east-1.amazonaws.com/api/studies/"
    )
    # the notification the STOW raised, as in events/, indexes it
    result = app.index_objects(load("sqs_s3_object_created.json"), LambdaContext())
    assert result == {"batchItemFailures": []}
    found = call(app, "api_search_for_studies.json")
    assert found["statusCode"] == 200
    assert len(json.loads(base64.b64decode(found["body"]))) == 1
    series = call(app, "api_search_for_series.json")
    assert len(json.loads(base64.b64decode(series["body"]))) == 1
    retrieved = call(app, "api_retrieve_instance.json")
    assert retrieved["statusCode"] == 200 and retrieved["isBase64Encoded"]
    assert (EVENTS / "sample-instance.dcm").read_bytes() in base64.b64decode(retrieved["body"])
    # a remove event while the object still exists converges to "indexed"
    app.index_objects(load("sqs_s3_object_removed.json"), LambdaContext())
    assert len(json.loads(base64.b64decode(call(app, "api_search_for_studies.json")["body"]))) == 1


def test_import_and_test_events(sample_tenant):
    app = sample_tenant
    s3 = app.deps.clients.s3
    data = (EVENTS / "sample-instance.dcm").read_bytes()
    s3.put_object(
        Bucket=app.deps.settings.bucket, Key="import/sample/scanner 1/IMG0001.dcm", Body=data
    )
    assert app.index_objects(load("sqs_s3_import_created.json"), LambdaContext()) == {
        "batchItemFailures": []
    }
    assert app.deps.store.get("import/sample/scanner 1/IMG0001.dcm") is None
    assert app.index_objects(load("sqs_s3_test_event.json"), LambdaContext()) == {
        "batchItemFailures": []
    }
