"""Least privilege, both ways: every AWS call each function makes in a full scenario is allowed
by that function's role in the built template, and every grant of each role is used by some
call in the scenario (issue 23). The scenario covers what each function serves, and its fault
and clean-up paths: STOW through the streaming receiver and through the API (the store
function, with ``StowReceiver=Disabled``), a streamed part cut short (its multipart upload
aborted), an instance the catalog cannot take (its version withdrawn), uploads and imports good
and bad, QIDO, WADO in every form, rendering, answers over the payload limit (spilled, and a
composition that fails and is aborted), delete, the change feed, the rate limiter.

Calls are recorded through botocore's hooks with the table (or index), bucket and key they
touch. Each request is recorded as the function that serves it in AWS (``routes/table.py``:
``serves_pixels``, ``writes_catalog``; STOW through the front: the receiver's task); the
indexer's calls are those made while the poller drives it (the poller's own SQS receive and
delete are the event source mapping's work, granted separately). Presigned URLs are signed
by the API's role and used by the client: their actions are the API's."""

from __future__ import annotations

import dataclasses
import json
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from chalicelib.clock import Clock
from chalicelib.dicomweb.resources import InstanceRef
from chalicelib.routes.table import ROUTES, serves_pixels, writes_catalog
from chalicelib.services.stow_stream import WHOLE_PART
from chalicelib.storage import schema
from chalicelib.storage.keys import instance_key
from infra import build, receiver, template
from local.harness import InProcessStack, in_process_stack
from tests.factories import dataset, instance_bytes, multipart_body, to_bytes
from tests.service.helpers import inject_error

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
ROLES = {
    "api": "ApiHandlerRole",
    "pixels": "PixelHandlerRole",
    "store": "StoreHandlerRole",
    "indexer": "IndexerRole",
    "receiver": "ReceiverTaskRole",
}
INDEX = "/index"  # a recorded table resource read through one of its indexes

#: Grants no scenario call can show, each with why it is needed. Nothing else may go unused.
NOT_FROM_CALLS: dict[str, dict[str, str]] = {
    "IndexerRole": {
        # Lambda's event source mapping polls the queue with the function's role
        "sqs:ReceiveMessage": "the SQS event source mapping",
        "sqs:DeleteMessage": "the SQS event source mapping",
        "sqs:GetQueueAttributes": "the SQS event source mapping",
    },
    "ReceiverTaskRole": {
        "s3:GetObject code": "the container's command copies receiver.zip (test_receiver)",
    },
}


class Recorder:
    """(phase, action, resource) for every call, resource as the template names it."""

    def __init__(self, settings: Any) -> None:
        self.phase = "client"  # the test's own calls (objects dropped in the bucket)
        self.calls: set[tuple[str, str, str]] = set()
        self.unknown: set[str] = set()
        self._tables = {
            settings.catalog_table: "CatalogTable",
            settings.tenants_table: "TenantsTable",
        }
        self._lock = threading.Lock()

    def attach(self, client: Any) -> None:
        client.meta.events.register("provide-client-params", self._record)
        client.meta.events.register("after-call.s3", self._missing)

    def _add(self, found: list[tuple[str, str]]) -> None:
        with self._lock:
            self.calls |= {(self.phase, a, r) for a, r in found}

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
            suffix = INDEX if params.get("IndexName") else ""
            for action in ACTIONS.get(op, []):
                found += [(action, self._table(t) + suffix) for t in tables]
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
        self._add(found)

    def _missing(self, http_response: Any, model: Any, **_: Any) -> None:
        """A read of a missing key is a 404 only with s3:ListBucket (without it, a 403): the
        code relies on the 404, so such a read needs the grant."""
        if model.name in ("GetObject", "HeadObject") and http_response.status_code == 404:
            self._add([("s3:ListBucket", "bucket")])

    def _table(self, name: str) -> str:
        return self._tables[name]

    @staticmethod
    def _s3_resource(action: str, key: str) -> str:
        if action.startswith("s3:ListBucket"):
            return "bucket"
        root = next((r for r in template.ROOTS if key.startswith(r)), None)
        return f"objects:{root}" if root else f"objects:?{key}"


def arn_of(resource: str) -> str:
    """A recorded resource as the template writes its ARN (JSON, keys sorted)."""
    if resource.endswith(INDEX):
        table = template.att(resource.removesuffix(INDEX), "Arn")
        arn: Any = {"Fn::Join": ["", [table, "/index/*"]]}
    elif resource in ("CatalogTable", "TenantsTable"):
        arn = template.att(resource, "Arn")
    elif resource == "bucket":
        arn = template.sub(template.BUCKET_ARN)
    else:
        arn = template.sub(f"{template.BUCKET_ARN}/{resource.removeprefix('objects:')}*")
    return json.dumps(arn, sort_keys=True)


def statements(sam: dict[str, Any], role: str) -> list[dict[str, Any]]:
    """The role's inline Allow statements but its log writes (the runtime's, not the code's)."""
    return [
        s
        for policy in sam["Resources"][role]["Properties"]["Policies"]
        for s in policy["PolicyDocument"]["Statement"]
        if s["Effect"] == "Allow" and not str(s["Action"]).startswith("['logs:")
    ]


def grants(sam: dict[str, Any], role: str) -> set[tuple[str, str]]:
    """(action, resource ARN as JSON) for every action and resource of every statement."""
    out = set()
    for s in statements(sam, role):
        actions = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
        resources = s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]
        out |= {(a, json.dumps(r, sort_keys=True)) for a in actions for r in resources}
    return out


def permits(sam: dict[str, Any], role: str, action: str, resource: str) -> bool:
    return (action, arn_of(resource)) in grants(sam, role)


def unexplained(role: str, granted: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """The grants of ``granted`` NOT_FROM_CALLS does not explain."""
    code = json.dumps(template.sub(receiver.CODE_ARN), sort_keys=True)
    explained = NOT_FROM_CALLS.get(role, {})
    return {
        (action, arn)
        for action, arn in granted
        if action not in explained and not (f"{action} code" in explained and arn == code)
    }


@pytest.fixture(scope="module")
def sam() -> dict[str, Any]:
    if not (build.DEFAULT_OUT / "sam.json").exists():
        build.build()
    return json.loads((build.DEFAULT_OUT / "sam.json").read_text())


def route_of(method: str, path: str) -> tuple[str, str]:
    """The route of the table (method, path template) serving ``method path``."""
    for route in ROUTES:
        pattern = re.sub(r"\{[^}]+\}", "[^/]+", route.path)
        if route.method == method and re.fullmatch(pattern, path.split("?")[0]):
            return route.method, route.path
    raise AssertionError(f"no route serves {method} {path}")


def function_of(method: str, path: str) -> str:
    """The function API Gateway sends ``method path`` (a concrete path) to."""
    _, template_path = route_of(method, path)
    if serves_pixels(template_path, method):
        return "pixels"
    return "store" if writes_catalog(template_path, method) else "api"


@dataclasses.dataclass
class Scenario:
    stack: InProcessStack
    recorder: Recorder
    routes: set[tuple[str, str]] = dataclasses.field(default_factory=set)

    def request(self, method: str, path: str, function: str | None = None, **kw: Any) -> Any:
        """``method path`` recorded as ``function`` (by default the one serving it in AWS)."""
        self.recorder.phase = function or function_of(method, path)
        self.routes.add(route_of(method, path))
        self.stack.deps.__dict__.pop("key_cache", None)  # each function resolves keys itself
        try:
            return self.stack.http.request(
                method, self.stack.url + path, allow_redirects=False, **kw
            )
        finally:
            self.recorder.phase = "client"

    def drain(self) -> None:
        self.recorder.phase = "indexer"
        try:
            self.stack.drain()
        finally:
            self.recorder.phase = "client"


@pytest.fixture
def scenario(lambda_app: Any) -> Iterator[Scenario]:
    deps = lambda_app.deps
    # the rate limiter on (the deployed default is on; the test tenants' is off), small
    # answers spilled to S3 as answers over 6 MB are
    deps.settings = dataclasses.replace(
        deps.settings,
        tenant_rate_limit=100_000,
        payload_limit=256 * 1024,
        multipart_threshold=1_000_000,
        upload_part_size=5 * 1024 * 1024,
    )
    deps.clock = Clock(now=time.monotonic, sleep=lambda seconds: None)  # retries at once
    deps.reset()
    with in_process_stack(lambda_app, "test-key-t1-" + "x" * 32) as stack:
        recorder = Recorder(stack.deps.settings)
        stack.deps.clients.instrument(recorder.attach)
        yield Scenario(stack, recorder)


MULTIPART = 'multipart/related; type="application/dicom"; boundary=test-boundary'
SINGLE = {"Content-Type": "application/dicom"}
CONFLICT = {"CancellationReasons": [{"Code": "TransactionConflict"}]}


def stow_paths(run: Scenario, function: str) -> str:
    """STOW as ``function`` serves it: two instances stored, then one the catalog cannot take
    (its version withdrawn, 0xA700). Returns the study."""
    study = dataset().StudyInstanceUID
    body = multipart_body([to_bytes(dataset(study=study)) for _ in range(2)])
    r = run.request("POST", "/studies", function, data=body, headers={"Content-Type": MULTIPART})
    assert r.status_code == 200, r.text
    body = multipart_body([to_bytes(dataset(study=study))])
    r = run.request(
        "POST", f"/studies/{study}", function, data=body, headers={"Content-Type": MULTIPART}
    )
    assert r.status_code == 200, r.text
    doomed = dataset(study=study)
    with inject_error(
        run.stack.deps.clients.dynamodb,
        "TransactWriteItems",
        "TransactionCanceledException",
        400,
        lambda params: doomed.SOPInstanceUID in str(params),
        extra=CONFLICT,
    ):
        r = run.request("POST", "/studies", function, data=to_bytes(doomed), headers=SINGLE)
    assert r.status_code == 409, r.text  # its only part failed
    return study


def full_scenario(run: Scenario) -> None:
    stack = run.stack
    study = stow_paths(run, "receiver")
    # a part over WHOLE_PART streams to a multipart upload; one cut short is aborted
    big_ds = dataset(study=study, rows=1024, columns=1024, frames=5)
    big = to_bytes(big_ds)
    assert len(big) > WHOLE_PART
    r = run.request(
        "POST",
        "/studies",
        "receiver",
        data=multipart_body([big]),
        headers={"Content-Type": MULTIPART},
    )
    assert r.status_code == 200, r.text
    cut = multipart_body([instance_bytes(study=study, rows=1024, columns=1024, frames=5)[:-1000]])
    r = run.request("POST", "/studies", "receiver", data=cut, headers={"Content-Type": MULTIPART})
    assert r.status_code == 409, r.text
    run.drain()
    # an import, a rejected import, and a presigned upload (the URL signed by the API's role)
    s3, bucket = stack.deps.clients.s3, stack.deps.settings.bucket
    s3.put_object(Bucket=bucket, Key="import/t1/a.dcm", Body=to_bytes(dataset(study=study)))
    s3.put_object(Bucket=bucket, Key="import/t1/bad.txt", Body=b"not dicom")
    r = run.request("POST", "/uploads", json={"files": [{"name": "u.dcm", "size": 2000}]})
    assert r.status_code == 201, r.text
    upload = r.json()["upload"]
    (spec,) = r.json()["files"]
    assert requests.put(spec["url"], data=to_bytes(dataset()), headers=spec["headers"]).ok
    run.recorder.calls.add(("api", "s3:PutObject", f"objects:{schema.IMPORT_ROOT}"))
    # a multipart upload of a file smaller than declared: completed, then rejected at import
    r = run.request("POST", "/uploads", json={"files": [{"name": "m.dcm", "size": 2_000_000}]})
    assert r.status_code == 201, r.text
    ((part,), complete) = (
        r.json()["files"][0]["multipart"]["parts"],
        r.json()["files"][0]["multipart"]["complete"],
    )
    put = requests.put(part["url"], data=to_bytes(dataset()))
    assert put.ok
    etags = [{"partNumber": 1, "etag": put.headers["ETag"]}]
    done = run.request("POST", complete.removeprefix(stack.url), json={"parts": etags})
    assert done.status_code == 200, done.text
    run.drain()
    # an object dropped straight at its canonical key, then deleted there: indexed, removed
    dropped = dataset()  # its own study: moto cannot purge a delete marker (AttributeError)
    uids = (dropped.StudyInstanceUID, dropped.SeriesInstanceUID, dropped.SOPInstanceUID)
    key = instance_key(InstanceRef("t1", *uids))
    s3.put_object(Bucket=bucket, Key=key, Body=to_bytes(dropped))
    run.drain()
    s3.delete_object(Bucket=bucket, Key=key)
    run.drain()
    series = run.request("GET", f"/studies/{study}/series").json()
    (ds_series, *_) = [s["0020000E"]["Value"][0] for s in series]
    instances = run.request("GET", f"/studies/{study}/series/{ds_series}/instances").json()
    sop = instances[0]["00080018"]["Value"][0]
    base = f"/studies/{study}/series/{ds_series}/instances/{sop}"
    meta = run.request("GET", f"{base}/metadata").json()[0]
    bulk = next(v["BulkDataURI"] for v in meta.values() if "BulkDataURI" in v)
    series_path = f"/studies/{study}/series/{ds_series}"
    dicom = 'multipart/related; type="application/dicom"; transfer-syntax=*'
    # a large bulk data element: composed under derived/ by multipart copy (the API function)
    big_base = (
        f"/studies/{study}/series/{big_ds.SeriesInstanceUID}/instances/{big_ds.SOPInstanceUID}"
    )
    big_meta = run.request("GET", f"{big_base}/metadata").json()[0]
    pixels = big_meta["7FE00010"]["BulkDataURI"].removeprefix(stack.url)
    octets = "multipart/related; type=application/octet-stream"
    # a composition that fails is aborted (the answer is a 503; nothing is left open), in the
    # pixel function and in the API function; the next request composes it again
    for path, accept in ((f"/studies/{study}", dicom), (pixels, octets)):
        with inject_error(s3, "CompleteMultipartUpload", "InternalError", times=1):
            got = run.request("GET", path, headers={"Accept": accept})
        assert got.status_code == 503, (path, got.status_code, got.text[:200])
        assert run.request("GET", path, headers={"Accept": accept}).status_code == 303
    gets = [
        ("/studies", "application/dicom+json"),
        ("/series", "application/dicom+json"),
        ("/instances", "application/dicom+json"),
        (f"{series_path}/instances", "application/dicom+json"),
        (f"{series_path}/metadata", "application/dicom+json"),
        (series_path, dicom),
        (bulk.removeprefix(stack.url), "multipart/related; type=application/octet-stream"),
        (f"{base}/frames/1/rendered", "image/png"),
        (f"{base}/frames/1/thumbnail", "image/jpeg"),
        (f"{series_path}/rendered", "image/png"),
        (f"{series_path}/thumbnail", "image/jpeg"),
        (f"/studies/{study}/rendered", "image/png"),
        ("/changefeed/latest", "application/json"),
        *((r.path, "*/*") for r in ROUTES if r.scope is None and "{" not in r.path),
        (f"/studies/{study}/instances", "application/dicom+json"),
        (f"/studies/{study}/metadata", "application/dicom+json"),  # spilled: over 256 KB
        (base, 'multipart/related; type="application/dicom"; transfer-syntax=*'),
        (f"{base}/metadata", "application/dicom+json"),
        (f"{base}/frames/1", "multipart/related; type=application/octet-stream"),
        (f"{base}/rendered", "image/png"),
        (f"{base}/thumbnail", "image/jpeg"),
        (f"/studies/{study}/thumbnail", "image/jpeg"),
        (f"/studies/{study}", "application/zip"),  # composed by multipart copy: over 256 KB
        ("/changefeed", "application/json"),
        ("/imports/rejected", "application/json"),
        (f"/uploads/{upload}", "application/json"),
        (
            f"/wado?requestType=WADO&studyUID={study}&seriesUID={ds_series}&objectUID={sop}"
            "&contentType=application/dicom",
            "application/dicom",
        ),
    ]
    for path, accept in gets:
        got = run.request("GET", path, headers={"Accept": accept})
        assert got.status_code in (200, 303), (path, got.status_code, got.text[:200])
    # STOW through the API: the store function (StowReceiver=Disabled)
    with in_process_stack(stack.app, stack.key, receiver=False) as api_only:
        stow_paths(Scenario(api_only, run.recorder), "store")
    # delete, then the removal events
    assert run.request("DELETE", f"{base}").status_code == 204
    other_series = f"/studies/{study}/series/{series[1]['0020000E']['Value'][0]}"
    assert run.request("DELETE", other_series).status_code == 204
    assert run.request("DELETE", f"/studies/{study}").status_code == 204
    run.drain()


def test_each_function_is_granted_exactly_what_its_calls_need(
    scenario: Scenario, sam: dict[str, Any]
) -> None:
    full_scenario(scenario)
    assert {(r.method, r.path) for r in ROUTES} - scenario.routes == set(), "every route ran"
    recorder = scenario.recorder
    assert not recorder.unknown, f"map these operations to IAM actions: {recorder.unknown}"
    assert {phase for phase, _, _ in recorder.calls} == {*ROLES, "client"}, "each one ran"
    report = {}
    for phase, role in ROLES.items():
        needed = {(a, arn_of(r)) for p, a, r in recorder.calls if p == phase}
        granted = grants(sam, role)
        missing, unused = needed - granted, unexplained(role, granted - needed)
        if missing or unused:
            report[role] = {"missing": sorted(missing), "unused": sorted(unused)}
    assert report == {}, json.dumps(report, indent=1)


def test_the_check_itself_refuses_what_a_role_lacks(sam: dict[str, Any]) -> None:
    assert not permits(sam, "IndexerRole", "dynamodb:GetItem", "TenantsTable")
    assert permits(sam, "ApiHandlerRole", "dynamodb:GetItem", "TenantsTable")
    assert not permits(sam, "ApiHandlerRole", "dynamodb:Scan", "CatalogTable")
    assert not permits(sam, "ApiHandlerRole", "s3:GetObject", "objects:?elsewhere/x")
    assert permits(sam, "ApiHandlerRole", "s3:ListBucket", "bucket")
    assert not permits(sam, "ApiHandlerRole", "s3:ListBucket", f"objects:{schema.DICOM_ROOT}")
    # only code that runs the indexer's reconcile writes the catalog (issue 23)
    for role in ("ApiHandlerRole", "PixelHandlerRole"):
        for write in ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"):
            assert not permits(sam, role, write, "CatalogTable"), (role, write)
        for root in (schema.DICOM_ROOT, schema.REJECTED_ROOT):
            assert not permits(sam, role, "s3:PutObject", f"objects:{root}"), role
            assert not permits(sam, role, "s3:DeleteObject", f"objects:{root}"), role
    for role in ("StoreHandlerRole", "ReceiverTaskRole", "IndexerRole"):
        assert permits(sam, role, "dynamodb:PutItem", "CatalogTable"), role
    # the pixel function writes nothing but derived/
    assert permits(sam, "PixelHandlerRole", "s3:PutObject", f"objects:{schema.DERIVED_ROOT}")
    assert not permits(sam, "PixelHandlerRole", "s3:PutObject", f"objects:{schema.IMPORT_ROOT}")
    # a function updates only the rate limiter's counters in the tenants table
    for role in ("ApiHandlerRole", "PixelHandlerRole", "StoreHandlerRole", "ReceiverTaskRole"):
        updates = [
            s
            for s in statements(sam, role)
            if "dynamodb:UpdateItem" in s["Action"] and "TenantsTable" in json.dumps(s["Resource"])
        ]
        assert updates and all(
            s["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
            == template.RATE_COUNTER_KEYS
            for s in updates
        ), role
    # and the both-ways comparison sees an over-grant
    extra = {("dynamodb:PutItem", arn_of("CatalogTable"))}
    assert unexplained("ApiHandlerRole", extra) == extra
