"""No patient value reaches a log line or a metric; each request's line tells its AWS calls.

Instances with distinctive patient values are stored (STOW, an S3 import whose key names the
patient, a presigned upload named after the patient), searched for by those values, retrieved,
rendered, deleted, refused and broken every way the API and the indexer know. Everything the
two functions emit is captured:

* logs: the Powertools handler's JSON lines (what CloudWatch receives); every Python logging
  record reaching the root logger (the Lambda runtime's handler is there) or a logger with its
  own handler, at DEBUG, the AWS SDK's DEBUG dumps of request parameters excepted (the root
  logger stays at WARNING in Lambda); stdout and stderr (EMF metrics, prints); Python warnings;
  and what the Lambda runtime logs of an exception the indexer raises;
* traces: the functions load no X-Ray SDK (Lambda's active tracing and API Gateway's record
  the trace, with no request data in it); what its subsegment per AWS call told is on each
  request's and each indexer batch's log line: the calls by operation, the failed ones, the time
  in AWS. Lambda's trace header is set, as in Lambda, so that every line carries its trace id.

None may hold a patient value, in any case, URL-encoded or not; and the logs and metrics must
hold the safe fields (tenant, transaction, request id, UIDs, counts, AWS calls), so that the
test cannot pass with nothing captured.
"""

from __future__ import annotations

import io
import json
import logging
import re
import traceback
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
import requests
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from chalicelib.dicomweb.resources import InstanceRef
from chalicelib.observability import ALLOWED_LOG_KEYS
from chalicelib.services.indexer import key_hash
from chalicelib.storage.keys import instance_key
from local.harness import InProcessStack
from local.lambda_runtime import LambdaContext
from tests.conftest import OTHER_KEY, OTHER_TENANT, TENANT
from tests.factories import dataset, multipart_body, to_bytes
from tests.service.helpers import MULTIPART, inject_error, s3_record, sqs_event

PATIENT_NAME = "Zyxwv^Qponm"
PATIENT_ID = "PHI-ID-987654"
BIRTH_DATE = "19011231"
ACCESSION = "ACCPHI4242"
PATIENT = {
    "PatientName": PATIENT_NAME,
    "PatientID": PATIENT_ID,
    "PatientBirthDate": BIRTH_DATE,
    "AccessionNumber": ACCESSION,
}


def needles() -> set[str]:
    """Each value as is, URL-encoded both ways, its name components and its date written out;
    compared lowercased."""
    values = [*PATIENT.values(), *PATIENT_NAME.split("^"), "1901-12-31"]
    return {v.lower() for value in values for v in (value, quote(value), quote_plus(value))}


#: Fixed UIDs: a random one could hold a patient value's digits by chance.
ROOT = "1.2.826.0.1.3680043.10.543.7"
STUDY, OTHER_STUDY = f"{ROOT}.1", f"{ROOT}.2"
SERIES = f"{ROOT}.1.1"
SOPS = [f"{ROOT}.1.1.{n}" for n in range(1, 4)]
UPLOAD_STUDY, IMPORT_STUDY, POISON_STUDY = f"{ROOT}.3", f"{ROOT}.4", f"{ROOT}.5"
#: A value no decoder knows, holding the patient's name: rendering refuses it (406), and
#: pydicom's error, which names the value, is not echoed.
ODD_PHOTOMETRIC = PATIENT_NAME.upper().replace("^", " ")

#: The keys Powertools writes on every line (and the X-Ray trace id: Lambda's header).
POWERTOOLS_KEYS = {"level", "location", "message", "timestamp", "service", "xray_trace_id"}

#: Libraries that log every request's parameters at DEBUG (bodies, items, keys); in Lambda the
#: root logger is at WARNING, at which they log none of it.
SDK_LOGGERS = ("botocore", "boto3", "s3transfer", "urllib3", "moto", "werkzeug", "responses")


def instance(sop: str, study: str = STUDY, series: str = SERIES, **kw: Any) -> bytes:
    return to_bytes(dataset(study=study, series=series, sop=sop, **{**PATIENT, **kw}))


# --- capture ---------------------------------------------------------------------------------


class Records(logging.Handler):
    """Every logging record, of every logger, kept."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@dataclass
class Captured:
    powertools: io.StringIO
    logged: Records
    warned: list[warnings.WarningMessage]
    outputs: list[str] = field(default_factory=list)  # stdout + stderr, read by the test
    raised: list[str] = field(default_factory=list)  # what the Lambda runtime logs of a raise

    def json_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.powertools.getvalue().splitlines()]

    def record_texts(self) -> list[str]:
        formatter = logging.Formatter()
        texts = []
        for r in self.logged.records:
            if r.name.startswith(SDK_LOGGERS) and r.levelno < logging.WARNING:
                continue
            text = r.getMessage() + json.dumps(r.__dict__, default=str)
            if r.exc_info:
                text += formatter.formatException(r.exc_info)
            texts.append(text)
        return texts

    def everything(self) -> dict[str, list[str]]:
        return {
            "powertools log line": self.powertools.getvalue().splitlines(),
            "logging record": self.record_texts(),
            "stdout/stderr": self.outputs,
            "warning": [f"{w.filename}:{w.lineno} {w.message}" for w in self.warned],
            "raised to the runtime": self.raised,
        }


TRACE_HEADER = "Root=1-65a1b2c3-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=1"


@pytest.fixture
def captured(payloads: dict[str, bytes], monkeypatch: pytest.MonkeyPatch) -> Iterator[Captured]:
    """Every logger at DEBUG, metrics published, every warning shown; all restored afterwards.
    (The payloads are built first: building an invalid value warns, in the test's own code.)"""
    from chalicelib import observability
    from chalicelib.observability import logger

    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    monkeypatch.setenv("_X_AMZN_TRACE_ID", TRACE_HEADER)  # what Lambda sets per invocation
    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    stream, level, root_level = handler.stream, logger.level, logging.root.level
    powertools = io.StringIO()
    handler.setStream(powertools)
    logger.setLevel("DEBUG")
    logging.root.setLevel(logging.DEBUG)
    logged = Records()

    # the root (the Lambda runtime's handler is there), and the loggers that write elsewhere
    # (Chalice's app logger has its own handler; pytest's own handlers do not count)
    def writes(h: logging.Handler) -> bool:
        return not isinstance(h, logging.NullHandler) and "pytest" not in type(h).__module__

    loggers = [logging.root] + [
        lg
        for lg in map(logging.getLogger, list(logging.root.manager.loggerDict))
        if not lg.propagate and any(map(writes, lg.handlers))
    ]
    for lg in loggers:
        lg.addHandler(logged)
    try:
        with warnings.catch_warnings(record=True) as warned:
            # every warning the service's own filters let through, each time
            warnings.simplefilter("always", append=True)
            # the filters the service sets at import (pytest resets filters set in a test)
            observability.quiet_library_diagnostics()
            yield Captured(powertools, logged, warned)
    finally:
        for lg in loggers:
            lg.removeHandler(logged)
        logging.root.setLevel(root_level)
        handler.setStream(stream)
        logger.setLevel(level)


# --- the scenario ----------------------------------------------------------------------------


@pytest.fixture
def payloads() -> dict[str, bytes]:
    def with_patient_in_instance_number(sop: str, study: str, series: str) -> bytes:
        """An invalid IS value holding the patient's name (pydicom quotes it when it fails to
        convert it)."""
        data = instance(sop, study, series, InstanceNumber=9898989898)
        return data.replace(b"9898989898", PATIENT_NAME[:10].encode())

    no_series = dataset(study=STUDY, sop=f"{ROOT}.9.1", **PATIENT)
    del no_series.SeriesInstanceUID
    return {
        "a": instance(SOPS[0]),
        "b": instance(SOPS[1]),
        "c": instance(SOPS[2]),
        "junk": f"{PATIENT_NAME} {PATIENT_ID} {BIRTH_DATE}".encode(),
        "wrong_study": instance(f"{ROOT}.2.1.1", study=OTHER_STUDY, series=f"{ROOT}.2.1"),
        "no_series": to_bytes(no_series),
        "truncated": instance(f"{ROOT}.9.2", rows=64, columns=64)[:-3000],
        "invalid_is": with_patient_in_instance_number(f"{ROOT}.6.1.1", f"{ROOT}.6", f"{ROOT}.6.1"),
        "invalid_is_import": with_patient_in_instance_number(
            f"{ROOT}.6.1.2", f"{ROOT}.6", f"{ROOT}.6.1"
        ),
        "odd_photometric": instance(
            f"{ROOT}.7.1.1", f"{ROOT}.7", f"{ROOT}.7.1", PhotometricInterpretation=ODD_PHOTOMETRIC
        ),
        "uploaded": instance(f"{ROOT}.3.1.1", study=UPLOAD_STUDY, series=f"{ROOT}.3.1"),
        "imported": instance(f"{ROOT}.4.1.1", study=IMPORT_STUDY, series=f"{ROOT}.4.1"),
        "poison": instance(f"{ROOT}.5.1.1", study=POISON_STUDY, series=f"{ROOT}.5.1"),
    }


def store(stack: InProcessStack, body: bytes, path: str = "/studies", ctype: str = MULTIPART):
    return stack.post(path, data=body, headers={"Content-Type": ctype})


def put_object(stack: InProcessStack, key: str, body: bytes) -> None:
    stack.deps.clients.s3.put_object(Bucket=stack.deps.settings.bucket, Key=key, Body=body)


def exercise(stack: InProcessStack, data: dict[str, bytes], runtime_log: list[str]) -> None:
    """Every handler, with the patient's values in bodies, queries, paths and object keys."""
    get, dicom = stack.get, "application/dicom"
    # STOW: two stored; then a partial failure, a study mismatch, a missing UID, a truncated
    # instance, junk holding the patient's values, a malformed and an unsupported media type
    assert store(stack, multipart_body([data["a"], data["b"]])).status_code == 200
    assert store(stack, multipart_body([data["c"], data["junk"]])).status_code == 202
    r = store(stack, multipart_body([data["wrong_study"]]), f"/studies/{STUDY}")
    assert r.status_code == 409
    assert store(stack, data["no_series"], ctype=dicom).status_code == 409
    assert store(stack, data["truncated"], ctype=dicom).status_code == 409
    assert store(stack, data["invalid_is"], ctype=dicom).status_code in (200, 409)
    assert store(stack, data["odd_photometric"], ctype=dicom).status_code == 200
    malformed = f'multipart/related; type="application/dicom"; boundary="{PATIENT_NAME}'
    assert store(stack, data["junk"], ctype=malformed).status_code in (400, 415)
    assert store(stack, data["junk"], ctype=f"application/{PATIENT_NAME}").status_code == 415
    # a presigned upload named after the patient, and S3 imports keyed by the patient's values
    files = [{"name": f"{PATIENT_NAME} {PATIENT_ID}.dcm", "size": len(data["uploaded"])}]
    r = stack.post("/uploads", json={"files": files})
    assert r.status_code == 201, r.text
    upload = r.json()
    (spec,) = upload["files"]
    r = requests.put(spec["url"], data=data["uploaded"], headers=spec["headers"])
    assert r.status_code == 200
    name = f"{PATIENT_NAME} {PATIENT_ID} {BIRTH_DATE}"
    put_object(stack, f"import/{TENANT}/{name}/{ACCESSION}.dcm", data["imported"])
    put_object(stack, f"import/{TENANT}/{name}/invalid.dcm", data["invalid_is_import"])
    put_object(stack, f"import/{TENANT}/{name}/notes.txt", data["junk"])  # not DICOM
    stack.drain()
    assert stack.get(upload["status"].removeprefix(stack.url)).json()["stored"] == 1
    rejected = get("/imports/rejected").json()["rejected"]
    assert PATIENT_NAME in json.dumps(rejected)  # the answer may hold it, the logs may not
    # a poison import: copying it fails every time, it reaches the dead-letter queue; a batch
    # that failed whole is raised, and the Lambda runtime logs what is raised
    poison_key = f"import/{TENANT}/{name}/poison.dcm"
    with inject_error(stack.deps.clients.s3, "CopyObject", "InternalError"):
        put_object(stack, poison_key, data["poison"])
        stack.drain()
    invalid = instance_key(InstanceRef(TENANT, f"{ROOT}.6", f"{ROOT}.6.1", f"{ROOT}.6.1.1"))
    for key in (poison_key, invalid):  # failing on a ClientError; on pydicom's ValueError
        event = sqs_event([{"Records": [s3_record(stack.deps.settings.bucket, key)]}])
        try:
            with inject_error(stack.deps.clients.s3, "CopyObject", "InternalError"):
                stack.app.index_objects(event, LambdaContext())
        except BatchProcessingError as exc:
            runtime_log.append("".join(traceback.format_exception(exc)))
    assert runtime_log  # the poison batch at least
    # QIDO by the patient's values, at every level, and with values that are refused
    searches = [
        {"PatientName": PATIENT_NAME},
        {"PatientName": PATIENT_NAME.lower(), "fuzzymatching": "true"},
        {"PatientName": PATIENT_NAME[:5] + "*", "includefield": "all"},
        {"PatientID": PATIENT_ID, "PatientBirthDate": BIRTH_DATE},
        {"AccessionNumber": ACCESSION, "includefield": "PatientName"},
        {"00100010": PATIENT_NAME, "00100020": PATIENT_ID},
    ]
    for params in searches:
        r = get("/studies", params=params)
        assert r.status_code == 200 and r.json(), (params, r.text)
    assert get(f"/studies/{STUDY}/series", params={"PatientID": PATIENT_ID}).json()
    assert get("/instances", params={"PatientName": PATIENT_NAME}).json()
    refused = [
        {"PatientBirthDate": PATIENT_NAME},
        {"StudyDate": f"{BIRTH_DATE}-{PATIENT_ID}"},
        {"limit": PATIENT_ID},
        {"offset": PATIENT_NAME},
        {"includefield": PATIENT_NAME},
        {PATIENT_NAME: PATIENT_ID},
    ]
    for params in refused:
        assert get("/studies", params=params).status_code in (200, 400), params
    # WADO-RS metadata and retrieval, rendered, WADO-URI; the patient in refused values
    base = f"/studies/{STUDY}/series/{SERIES}/instances/{SOPS[0]}"
    for path in (f"/studies/{STUDY}/metadata", f"/studies/{STUDY}/series/{SERIES}/metadata"):
        assert PATIENT_NAME in get(path).text
    assert get(f"{base}/metadata").status_code == 200
    assert get(f"/studies/{ROOT}.6/metadata").status_code in (200, 404)
    any_ts = 'multipart/related; type="application/dicom"; transfer-syntax=*'
    assert get(f"/studies/{STUDY}", headers={"Accept": any_ts}).status_code == 200
    assert get(base, headers={"Accept": any_ts}).status_code == 200
    assert get(f"/studies/{STUDY}", headers={"Accept": "application/zip"}).status_code == 200
    assert get(f"{base}/frames/1").status_code == 200
    assert get(f"{base}/rendered", headers={"Accept": "image/png"}).status_code == 200
    assert get(f"{base}/thumbnail").status_code == 200
    assert get(f"{base}/rendered", params={"window": PATIENT_NAME}).status_code == 400
    odd = f"/studies/{ROOT}.7/series/{ROOT}.7.1/instances/{ROOT}.7.1.1/rendered"
    # rendering refuses the value it cannot decode, naming only the error's type
    refused = get(odd)
    assert refused.status_code == 406 and PATIENT_NAME.split("^")[0] not in refused.text
    # an unhandled error whose message quotes the patient (a library failing inside an AWS
    # call: a botocore hook over moto), logged without its message
    s3 = stack.deps.clients.s3

    def failing(params: dict[str, Any], **_: Any) -> None:
        if f"{ROOT}.7.1.1" in params.get("Key", ""):
            raise RuntimeError(f"cannot read the file of {PATIENT_NAME} ({PATIENT_ID})")

    s3.meta.events.register("before-parameter-build.s3.GetObject", failing)
    try:
        assert get(odd).status_code == 500
    finally:
        s3.meta.events.unregister("before-parameter-build.s3.GetObject", failing)
    assert get(f"{base}/rendered", headers={"Accept": f"image/{PATIENT_NAME}"}).status_code == 406
    wado = {"requestType": "WADO", "studyUID": STUDY, "seriesUID": SERIES, "objectUID": SOPS[0]}
    assert get("/wado", params={**wado, "contentType": dicom}).status_code == 200
    assert get("/wado", params={**wado, "objectUID": PATIENT_NAME}).status_code == 400
    assert get(f"/studies/{quote(PATIENT_NAME)}/metadata").status_code == 400
    assert get(f"/studies/{PATIENT_ID}/series/{BIRTH_DATE}").status_code in (400, 406)
    assert get(f"/studies/{ROOT}.404/metadata").status_code == 404
    # a transient storage error; an unauthenticated search for the patient
    # (AWS error messages can echo request values: this one quotes the patient)
    throttled = f"Rate exceeded for {PATIENT_NAME} {PATIENT_ID}"
    with inject_error(
        stack.deps.clients.dynamodb, "Query", "ThrottlingException", status=400, message=throttled
    ):
        assert get("/studies", params={"PatientName": PATIENT_NAME}).status_code == 503
    r = requests.get(stack.url + "/studies", params={"PatientID": PATIENT_ID})
    assert r.status_code == 401
    # DELETE, then the indexer removes what was deleted
    delete = stack.http.delete
    assert delete(stack.url + base).status_code == 204
    assert delete(f"{stack.url}/studies/{STUDY}/series/{SERIES}").status_code == 204
    assert delete(f"{stack.url}/studies/{IMPORT_STUDY}").status_code == 204
    stack.drain()
    assert get("/studies", params={"PatientID": PATIENT_ID}).status_code == 200


def test_no_patient_value_in_any_log_line_or_metric(
    payloads: dict[str, bytes],
    stack: InProcessStack,
    captured: Captured,
    capfd: pytest.CaptureFixture[str],
) -> None:
    exercise(stack, payloads, captured.raised)
    out, err = capfd.readouterr()
    captured.outputs = [*out.splitlines(), *err.splitlines()]
    everything = captured.everything()

    leaks = [
        (kind, needle, text[:300])
        for kind, texts in everything.items()
        for text in texts
        for needle in needles()
        if needle in text.lower()
    ]
    assert not leaks, "\n".join(map(repr, leaks[:20]))

    # not vacuous: the logs, metrics and traces hold what they should
    lines = captured.json_lines()
    requests_logged = [line for line in lines if line["message"] == "request"]
    assert len(requests_logged) >= 40
    for line in requests_logged:
        assert line["request_id"] and line["transaction"].split()[0] in {"GET", "POST", "DELETE"}
        assert line["tenant"] == (TENANT if line["status"] != 401 else "-")
    assert {"GET /studies", "POST /studies", "DELETE /studies/{study}"} <= {
        line["transaction"] for line in requests_logged
    }
    assert {(line["stored"], line["failed"]) for line in lines if line["message"] == "stow"} >= {
        (2, 0),
        (1, 1),
    }
    indexed = [line for line in lines if line["message"] == "indexed"]
    assert {SOPS[0], SOPS[1]} <= {line.get("sop_uid") for line in indexed}
    assert all(re.fullmatch(r"[0-9a-f]{16}", line["key_hash"]) for line in indexed)
    assert all(line["transaction"] == "index" and line["request_id"] for line in indexed)
    assert {"imported", "rejected", "removed"} <= {line["action"] for line in indexed}
    failures = [line for line in lines if line["message"].startswith("indexing failed")]
    poison_hash = key_hash(f"import/{TENANT}/{PATIENT_NAME} {PATIENT_ID} {BIRTH_DATE}/poison.dcm")
    poisoned = [line for line in failures if line["key_hash"] == [poison_hash]]
    assert len(poisoned) == 6  # the queue's maxReceiveCount, then the batch raised
    assert all(line["aws_error"] == "InternalError" and line["where"] for line in poisoned)
    (unhandled,) = [line for line in lines if line["message"] == "unhandled error"]
    assert unhandled["tenant"] == TENANT and unhandled["error"] and unhandled["where"]
    # every line holds the keys Powertools writes and the service's allowed keys, no other
    for line in lines:
        assert set(line) - POWERTOOLS_KEYS <= ALLOWED_LOG_KEYS, line
    assert any(line["message"] == "transient AWS error" for line in lines)
    metrics = [json.loads(line) for line in captured.outputs if '"_aws"' in line]
    assert any(m.get("tenant") == TENANT and "InstancesStored" in m for m in metrics)
    # the trace id on every line (Powertools reads Lambda's header): a trace finds its lines
    trace_id = TRACE_HEADER.split(";")[0].removeprefix("Root=")
    assert all(line["xray_trace_id"] == trace_id for line in lines)
    # each request's AWS calls, as its X-Ray subsegments told them: by operation, never a key;
    # STOW's too (served by the streaming receiver, its worker pools carrying the tally)
    tallied = [line for line in requests_logged if "aws_calls" in line]
    assert tallied == requests_logged
    stored = [line for line in tallied if line["transaction"].startswith("POST /studies")]
    assert stored and all(
        "s3.PutObject" in line["aws_ops"] for line in stored if line["status"] == 200
    )
    for line in tallied:
        assert line["aws_calls"] == sum(line["aws_ops"].values()) and line["aws_ms"] >= 0
    searched = [line for line in requests_logged if line["transaction"] == "GET /studies"]
    assert any("dynamodb.Query" in line["aws_ops"] for line in searched)
    assert any("s3.GetObject" in line["aws_ops"] for line in tallied)
    # a failed call is counted (its message, which quoted the patient, is nowhere)
    throttled = [line for line in searched if line["status"] == 503]
    assert throttled and all(line["aws_failed"] >= 1 for line in throttled)
    # the indexer's batches: one line each, with their calls
    batches = [line for line in lines if line["message"] == "batch"]
    assert batches and all(line["transaction"] == "index" for line in batches)
    assert any("s3.CopyObject" in line["aws_ops"] for line in batches)
    assert any(line.get("aws_failed") for line in batches)  # the dead-lettered import


# --- metrics: no dimension per tenant -------------------------------------------------------


def emf_documents(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if '"_aws"' in line]


def test_no_metric_carries_a_tenant_dimension(
    stack: InProcessStack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every metric both tenants' requests publish (STOW through the receiver, QIDO, WADO, a
    404, a 405, DELETE, the indexer's batch) has dimensions among the fixed, code-chosen
    ``METRIC_DIMENSIONS`` (plus Powertools' service): a tenant would make one billed custom
    metric per tenant and route. The tenant is still on each line, as a property, for Logs
    Insights."""
    from chalicelib.observability import METRIC_DIMENSIONS

    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    other = {"apikey": OTHER_KEY}
    for headers in ({}, other):
        study = dataset()
        r = stack.post(
            "/studies",
            data=multipart_body([to_bytes(study)]),
            headers={"Content-Type": MULTIPART, **headers},
        )
        assert r.status_code == 200, r.text
        assert stack.get("/studies", headers=headers).status_code == 200
        assert stack.get(f"/studies/{study.StudyInstanceUID}/metadata", headers=headers).ok
        assert stack.get(f"/studies/{ROOT}.99/series", headers=headers).status_code in (200, 404)
        assert stack.http.put(stack.url + "/studies", headers=headers).status_code == 405
        delete = stack.http.delete(
            stack.url + f"/studies/{study.StudyInstanceUID}", headers=headers
        )
        assert delete.status_code == 204
    assert stack.drain() > 0
    documents = emf_documents(capsys.readouterr().out)

    published: dict[str, set[str]] = {}
    for doc in documents:
        for directive in doc["_aws"]["CloudWatchMetrics"]:
            dimensions = {d for dimension_set in directive["Dimensions"] for d in dimension_set}
            assert dimensions <= METRIC_DIMENSIONS | {"service"}, (dimensions, doc)
            for metric in directive["Metrics"]:
                published.setdefault(metric["Name"], set()).add(str(doc.get("tenant")))
    # not vacuous: the per-request and per-STOW metrics of both tenants were published, and
    # each line names its tenant as a property; the indexer's counts name none
    assert published["Requests"] >= {TENANT, OTHER_TENANT}
    assert published["InstancesStored"] == {TENANT, OTHER_TENANT}
    assert published["BytesStored"] == {TENANT, OTHER_TENANT}
    assert any(name.startswith("Index_") for name in published)
    requests_by = {
        (doc.get("transaction"), doc.get("tenant")) for doc in documents if "Requests" in doc
    }
    assert ("GET /studies", OTHER_TENANT) in requests_by


def test_a_tenant_dimension_is_refused() -> None:
    from chalicelib.observability import count

    with pytest.raises(ValueError, match="tenant"):
        count("Requests", 1, dimensions={"transaction": "GET /studies", "tenant": TENANT})
