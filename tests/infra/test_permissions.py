"""Least privilege that still works: every AWS call each function makes in a full scenario
(STOW, uploads, imports good and bad, QIDO, WADO in every form, rendering, delete, the change
feed), recorded through botocore's hooks with the table, bucket and key it touches, must be
allowed by that function's role in the built template, on that resource.

The API's calls are those made while an HTTP request is served; the indexer's, those made
while the poller drives it (the poller's own SQS receive and delete are the event source
mapping's work in AWS, not the function's). Presigned URLs are signed by the API's role and
used by the client: their actions are checked from the URLs' operations."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from chalicelib.routes.table import ROUTES, serves_pixels
from chalicelib.storage import schema
from infra import build, template
from local.harness import InProcessStack
from tests.factories import dataset, multipart_body, to_bytes

#: botocore operation -> the IAM actions it needs (S3 and DynamoDB as documented by AWS).
ACTIONS: dict[str, list[str]] = {
    "s3.GetObject": ["s3:GetObject"],
    "s3.HeadObject": ["s3:GetObject"],
    "s3.PutObject": ["s3:PutObject"],
    "s3.CopyObject": ["s3:PutObject"],  # + s3:GetObject on CopySource
    "s3.DeleteObject": ["s3:DeleteObject"],
    "s3.DeleteObjects": ["s3:DeleteObject", "s3:DeleteObjectVersion"],
    "s3.ListObjectsV2": ["s3:ListBucket"],
    "s3.ListObjectVersions": ["s3:ListBucketVersions"],
    "s3.CreateMultipartUpload": ["s3:PutObject"],
    "s3.UploadPart": ["s3:PutObject"],
    "s3.UploadPartCopy": ["s3:PutObject"],  # + s3:GetObject on CopySource
    "s3.CompleteMultipartUpload": ["s3:PutObject"],
    "s3.AbortMultipartUpload": ["s3:AbortMultipartUpload"],
    "s3.ListParts": ["s3:ListMultipartUploadParts"],
    "dynamodb.GetItem": ["dynamodb:GetItem"],
    "dynamodb.BatchGetItem": ["dynamodb:BatchGetItem"],
    "dynamodb.Query": ["dynamodb:Query"],
    "dynamodb.PutItem": ["dynamodb:PutItem"],
    "dynamodb.UpdateItem": ["dynamodb:UpdateItem"],
    "dynamodb.DeleteItem": ["dynamodb:DeleteItem"],
    "dynamodb.BatchWriteItem": ["dynamodb:BatchWriteItem"],
}
TRANSACT = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
}


class Recorder:
    """(phase, action, resource) for every call, resource as the template names it."""

    def __init__(self, settings: Any) -> None:
        self.phase = "api"
        self.calls: set[tuple[str, str, str]] = set()
        self.unknown: set[str] = set()
        self._tables = {
            settings.catalog_table: "CatalogTable",
            settings.tenants_table: "TenantsTable",
        }
        self._lock = threading.Lock()

    def attach(self, client: Any) -> None:
        client.meta.events.register("provide-client-params", self._record)

    def _record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        service = model.service_model.service_name
        op = f"{service}.{model.name}"
        if service == "sqs":
            return  # the poller stands in for Lambda's event source mapping
        found = []
        if op == "dynamodb.TransactWriteItems":
            for item in params["TransactItems"]:
                ((kind, body),) = item.items()
                found.append((TRANSACT[kind], self._table(body["TableName"])))
        elif service == "dynamodb":
            tables = params.get("RequestItems", {}).keys() or [params["TableName"]]
            for action in ACTIONS.get(op, []):
                found += [(action, self._table(t)) for t in tables]
        elif service == "s3":
            keys = [o["Key"] for o in params.get("Delete", {}).get("Objects", [])] or [
                params.get("Key") or params.get("Prefix") or ""
            ]
            for action in ACTIONS.get(op, []):
                found += [(action, self._s3_resource(action, key)) for key in keys]
            if "CopySource" in params:
                source = params["CopySource"]
                source_key = source["Key"] if isinstance(source, dict) else source.split("/", 1)[1]
                found.append(("s3:GetObject", self._s3_resource("s3:GetObject", source_key)))
        if op not in ACTIONS and op != "dynamodb.TransactWriteItems":
            self.unknown.add(op)
        with self._lock:
            self.calls |= {(self.phase, a, r) for a, r in found}

    def _table(self, name: str) -> str:
        return self._tables[name]

    @staticmethod
    def _s3_resource(action: str, key: str) -> str:
        if action.startswith("s3:ListBucket"):
            return "bucket"
        root = next((r for r in template.ROOTS if key.startswith(r)), None)
        return f"objects:{root}" if root else f"objects:?{key}"


def allowed(sam: dict[str, Any], role: str) -> list[tuple[set[str], set[str]]]:
    """(actions, resources as JSON) of each Allow statement of the role."""
    out = []
    for policy in sam["Resources"][role]["Properties"]["Policies"]:
        for s in policy["PolicyDocument"]["Statement"]:
            if s["Effect"] == "Allow":
                actions = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
                resources = s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]
                out.append((set(actions), {json.dumps(r, sort_keys=True) for r in resources}))
    return out


def arn_of(resource: str) -> str:
    """A recorded resource as the template writes its ARN."""
    if resource in ("CatalogTable", "TenantsTable"):
        arn: Any = template.att(resource, "Arn")
    elif resource == "bucket":
        arn = template.sub(template.BUCKET_ARN)
    else:
        arn = template.sub(f"{template.BUCKET_ARN}/{resource.removeprefix('objects:')}*")
    return json.dumps(arn, sort_keys=True)


def permits(statements: list[tuple[set[str], set[str]]], action: str, resource: str) -> bool:
    return any(action in actions and arn_of(resource) in arns for actions, arns in statements)


@pytest.fixture(scope="module")
def sam() -> dict[str, Any]:
    if not (build.DEFAULT_OUT / "sam.json").exists():
        build.build()
    return json.loads((build.DEFAULT_OUT / "sam.json").read_text())


@pytest.fixture
def recorded(stack: InProcessStack) -> Iterator[tuple[InProcessStack, Recorder]]:
    recorder = Recorder(stack.deps.settings)
    stack.deps.clients.instrument(recorder.attach)
    original = stack.poller.drain

    def drain_as_indexer() -> int:
        recorder.phase = "indexer"
        try:
            return original()
        finally:
            recorder.phase = "api"

    stack.poller.drain = drain_as_indexer  # type: ignore[method-assign]
    RECORDERS[id(stack)] = recorder
    yield stack, recorder
    RECORDERS.pop(id(stack), None)


#: The recorder of each stack the scenario runs on (its phase names the function serving).
RECORDERS: dict[int, Recorder] = {}


def pixel_route(path: str) -> bool:
    """Whether the route of ``path`` (a concrete GET path) is one the pixel function serves."""
    for route in ROUTES:
        pattern = re.sub(r"\{[^}]+\}", "[^/]+", route.path)
        if route.method == "GET" and re.fullmatch(pattern, path.split("?")[0]):
            return serves_pixels(route.path, route.method)
    return False


def scenario(stack: InProcessStack) -> set[str]:
    """Every kind of request the service serves; returns the presigned operations issued."""
    study = dataset().StudyInstanceUID
    series = [dataset(study=study) for _ in range(2)]
    body = multipart_body([to_bytes(ds) for ds in series])
    ct = 'multipart/related; type="application/dicom"; boundary=test-boundary'
    assert stack.post("/studies", data=body, headers={"Content-Type": ct}).status_code == 200
    stack.drain()
    # an import, a rejected import, and a presigned upload
    s3 = stack.deps.clients.s3
    bucket = stack.deps.settings.bucket
    s3.put_object(Bucket=bucket, Key="import/t1/a.dcm", Body=to_bytes(dataset(study=study)))
    s3.put_object(Bucket=bucket, Key="import/t1/bad.txt", Body=b"not dicom")
    r = stack.post("/uploads", json={"files": [{"name": "u.dcm", "size": 2000}]})
    assert r.status_code == 201, r.text
    (spec,) = r.json()["files"]
    presigned = {"s3:PutObject"}
    assert requests.put(spec["url"], data=to_bytes(dataset()), headers=spec["headers"]).ok
    stack.drain()
    ds = series[0]
    base = f"/studies/{study}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}"
    gets = [
        ("/studies", "application/dicom+json"),
        (f"/studies/{study}/series", "application/dicom+json"),
        (f"/studies/{study}/instances", "application/dicom+json"),
        (f"/studies/{study}/metadata", "application/dicom+json"),
        (base, 'multipart/related; type="application/dicom"; transfer-syntax=*'),
        (f"{base}/metadata", "application/dicom+json"),
        (f"{base}/frames/1", "multipart/related; type=application/octet-stream"),
        (f"{base}/rendered", "image/png"),
        (f"{base}/thumbnail", "image/jpeg"),
        (f"/studies/{study}/thumbnail", "image/jpeg"),
        (f"/studies/{study}", "application/zip"),
        ("/changefeed", "application/json"),
        ("/imports/rejected", "application/json"),
        (f"/uploads/{r.json()['upload']}", "application/json"),
    ]
    recorder = RECORDERS[id(stack)]
    for path, accept in gets:
        # the routes infra sends to the pixel function are recorded as its calls
        recorder.phase = "pixels" if pixel_route(path) else "api"
        got = stack.get(path, headers={"Accept": accept}, allow_redirects=False)
        assert got.status_code in (200, 303), (path, got.status_code, got.text[:200])
    recorder.phase = "pixels"
    wado = stack.get(
        f"/wado?requestType=WADO&studyUID={study}&seriesUID={ds.SeriesInstanceUID}"
        f"&objectUID={ds.SOPInstanceUID}&contentType=application/dicom"
    )
    assert wado.status_code == 200
    recorder.phase = "api"
    assert stack.http.delete(stack.url + f"/studies/{study}/series/{ds.SeriesInstanceUID}").ok
    assert stack.http.delete(stack.url + f"/studies/{study}").ok
    stack.drain()
    return presigned


def test_every_call_of_each_function_is_allowed_by_its_role(
    recorded: tuple[InProcessStack, Recorder], sam: dict[str, Any]
) -> None:
    stack, recorder = recorded
    presigned = scenario(stack)
    assert not recorder.unknown, f"map these operations to IAM actions: {recorder.unknown}"
    roles = {"api": "ApiHandlerRole", "indexer": "IndexerRole", "pixels": "PixelHandlerRole"}
    phases = {phase for phase, _, _ in recorder.calls}
    assert phases == {"api", "indexer", "pixels"}
    for action in presigned:
        recorder.calls.add(("api", action, f"objects:{schema.IMPORT_ROOT}"))
    denied = sorted(
        (phase, action, resource)
        for phase, action, resource in recorder.calls
        if not permits(allowed(sam, roles[phase]), action, resource)
    )
    assert denied == []
    # and the scenario exercised both sides for real
    actions = {(p, a) for p, a, _ in recorder.calls}
    assert ("indexer", "dynamodb:ConditionCheckItem") in actions or (
        "indexer",
        "dynamodb:PutItem",
    ) in actions
    assert ("api", "s3:PutObject") in actions and ("indexer", "s3:GetObject") in actions


def test_the_check_itself_refuses_what_a_role_lacks(sam: dict[str, Any]) -> None:
    indexer = allowed(sam, "IndexerRole")
    api = allowed(sam, "ApiHandlerRole")
    assert not permits(indexer, "dynamodb:GetItem", "TenantsTable")
    assert permits(api, "dynamodb:GetItem", "TenantsTable")
    assert not permits(api, "dynamodb:Scan", "CatalogTable")
    assert not permits(api, "s3:GetObject", "objects:?elsewhere/x")
    assert permits(api, "s3:ListBucket", "bucket")
    assert not permits(api, "s3:ListBucket", f"objects:{schema.DICOM_ROOT}")
    assert not permits(indexer, "s3:AbortMultipartUpload", f"objects:{schema.DICOM_ROOT}")
    # a function updates only the rate limiter's counters in the tenants table (issue 23)
    for role in ("ApiHandlerRole", "PixelHandlerRole"):
        updates = [
            st
            for p in sam["Resources"][role]["Properties"]["Policies"]
            for st in p["PolicyDocument"]["Statement"]
            if "dynamodb:UpdateItem" in st["Action"]
            and "TenantsTable" in json.dumps(st["Resource"])
        ]
        assert updates and all(
            st["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
            == template.RATE_COUNTER_KEYS
            for st in updates
        ), role
    # the pixel function writes nothing but derived/, never the catalog (issue 23)
    pixels = allowed(sam, "PixelHandlerRole")
    assert permits(pixels, "s3:PutObject", f"objects:{schema.DERIVED_ROOT}")
    for root in (schema.DICOM_ROOT, schema.IMPORT_ROOT, schema.REJECTED_ROOT):
        assert not permits(pixels, "s3:PutObject", f"objects:{root}")
        assert not permits(pixels, "s3:DeleteObject", f"objects:{root}")
    for write in ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"):
        assert not permits(pixels, write, "CatalogTable")
