"""The STOW receiver in the built template and its code package: every receiver resource
exists only with ``StowReceiver`` Enabled and nothing else depends on one; the task runs
``python -m receiver`` on port 8080 with the functions' settings, a health check, logs with a
retention and a least-privilege role that allows every call a STOW makes; the service keeps
one task and tracks CPU; and ``receiver.zip``, unpacked by the container's own command, serves
``GET /health`` from its contents alone."""

from __future__ import annotations

import inspect
import json
import re
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from chalicelib.config import RESOURCE_ENV, Settings
from chalicelib.routes.placement import PIXEL_DISTRIBUTIONS
from chalicelib.storage import schema
from infra import build, receiver, template
from local.stack import free_port
from tests.infra.test_permissions import permits

ROOT = Path(__file__).resolve().parents[2]
CT = 'multipart/related; type="application/dicom"; boundary=test-boundary'


@pytest.fixture(scope="module")
def sam() -> dict[str, Any]:
    if not (build.DEFAULT_OUT / "sam.json").exists():
        build.build()
    return json.loads((build.DEFAULT_OUT / "sam.json").read_text())


def props(sam: dict[str, Any], name: str) -> dict[str, Any]:
    return dict(sam["Resources"][name]["Properties"])


def container(sam: dict[str, Any], name: str = "receiver") -> dict[str, Any]:
    definitions = props(sam, "ReceiverTaskDefinition")["ContainerDefinitions"]
    (found,) = [c for c in definitions if c["Name"] == name]
    return dict(found)


# --- StowReceiver=Disabled leaves nothing of the receiver ----------------------------------------


def references(node: Any, skip_condition: str | None = None) -> Iterator[str]:
    """Logical ids ``node`` refers to (Ref, GetAtt, ${} in Sub), except inside the branch of an
    ``Fn::If`` on ``skip_condition`` taken only when it holds."""
    if isinstance(node, dict):
        if "Fn::If" in node:
            condition, yes, no = node["Fn::If"]
            if condition != skip_condition:
                yield from references(yes, skip_condition)
            yield from references(no, skip_condition)
            return
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                yield value
            elif key == "Fn::GetAtt":
                yield value[0] if isinstance(value, list) else value.split(".")[0]
            elif key == "Fn::Sub":
                text = value if isinstance(value, str) else value[0]
                yield from (m.split(".")[0] for m in re.findall(r"\$\{([^}!]+)\}", text))
                if not isinstance(value, str):
                    yield from references(value[1], skip_condition)
            else:
                yield from references(value, skip_condition)
    elif isinstance(node, list):
        for item in node:
            yield from references(item, skip_condition)


def test_disabled_removes_every_receiver_resource_and_nothing_else_needs_one(
    sam: dict[str, Any],
) -> None:
    resources = sam["Resources"]
    conditioned = {k for k, v in resources.items() if v.get("Condition") == receiver.CONDITION}
    assert conditioned == {k for k in resources if k.startswith("Receiver")}
    assert {
        "ReceiverVpc",
        "ReceiverLoadBalancer",
        "ReceiverVpcOrigin",
        "ReceiverTaskDefinition",
        "ReceiverService",
        "ReceiverScalableTarget",
    } <= conditioned
    # an unconditioned resource or output refers to the receiver only where Enabled holds
    for name, resource in resources.items():
        if name in conditioned:
            continue
        leaked = set(references(resource, receiver.CONDITION)) & conditioned
        assert not leaked, (name, leaked)
    for name, output in sam["Outputs"].items():
        if output.get("Condition") != receiver.CONDITION:
            assert not set(references(output, receiver.CONDITION)) & conditioned, name
    assert sam["Parameters"]["StowReceiver"] == {
        "Type": "String",
        "Default": "Enabled",
        "AllowedValues": ["Enabled", "Disabled"],
        "Description": sam["Parameters"]["StowReceiver"]["Description"],
    }
    assert sam["Conditions"][receiver.CONDITION] == {
        "Fn::Equals": [{"Ref": "StowReceiver"}, "Enabled"]
    }
    # Disabled: STOW goes to the API, whose 413 still points to the presigned uploads
    too_large = props(sam, "RestAPI")["GatewayResponses"]["REQUEST_TOO_LARGE"]
    assert "/uploads" in too_large["ResponseTemplates"]["application/json"]


def test_enabled_requires_the_code_and_the_prefix_list_before_any_change(
    sam: dict[str, Any],
) -> None:
    rule = sam["Rules"]["ReceiverNeedsItsCodeAndPrefixList"]
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "StowReceiver"}, "Enabled"]}
    required = {a["Assert"]["Fn::Not"][0]["Fn::Equals"][0]["Ref"] for a in rule["Assertions"]}
    assert required == {"ReceiverCodeBucket", "ReceiverCodeKey", "CloudFrontOriginFacingPrefixList"}


# --- the task --------------------------------------------------------------------------------


def test_the_task_runs_python_m_receiver_with_a_health_check_and_logs(sam: dict[str, Any]) -> None:
    task = props(sam, "ReceiverTaskDefinition")
    assert task["RequiresCompatibilities"] == ["FARGATE"] and task["NetworkMode"] == "awsvpc"
    assert (task["Cpu"], task["Memory"]) == (str(receiver.CPU_UNITS), str(receiver.MEMORY_MB))
    assert task["RuntimePlatform"]["CpuArchitecture"] == "X86_64"
    main = container(sam)
    assert main["EntryPoint"] == ["sh", "-c"]
    assert main["Command"][0].endswith("exec python -m receiver")
    assert main["PortMappings"] == [{"ContainerPort": 8080, "Protocol": "tcp"}]
    assert main["Image"] == {"Ref": "ReceiverImage"}
    # the code's wheels and bytecode are the functions' CPython
    major, minor = build.LAMBDA_PYTHON
    assert sam["Parameters"]["ReceiverImage"]["Default"].endswith(
        f"python:{major}.{minor}-slim-bookworm"
    )
    assert main["DependsOn"] == [{"ContainerName": "fetch", "Condition": "SUCCESS"}]
    assert main["ReadonlyRootFilesystem"] is True and main["User"] != "0"
    assert "/health" in " ".join(main["HealthCheck"]["Command"])
    fetch = container(sam, "fetch")
    assert fetch["Essential"] is False
    assert "s3://${ReceiverCodeBucket}/${ReceiverCodeKey}" in fetch["Command"][0]["Fn::Sub"]
    # the ALB's health check too, and the target group's port is the container's
    group = props(sam, "ReceiverTargetGroup")
    assert (group["HealthCheckPath"], group["Port"], group["TargetType"]) == ("/health", 8080, "ip")
    for c in (main, fetch):
        options = c["LogConfiguration"]["Options"]
        assert c["LogConfiguration"]["LogDriver"] == "awslogs"
        assert options["awslogs-group"] == {"Ref": "ReceiverLogGroup"}
    logs = props(sam, "ReceiverLogGroup")
    assert logs["RetentionInDays"] == template.LOG_RETENTION_DAYS


def test_the_task_gets_the_functions_settings(sam: dict[str, Any]) -> None:
    environment = {e["Name"]: e["Value"] for e in container(sam)["Environment"]}
    functions = props(sam, template.API_FUNCTION)["Environment"]["Variables"]
    for name, value in functions.items():
        if name == "ORIGIN_SECRET":
            continue  # from Secrets Manager (test_front)
        assert environment[name] == value, name
    read = set(re.findall(r'e\.get\("([A-Z_]+)"', inspect.getsource(Settings.from_env)))
    unknown = {n for n in environment if not n.startswith("POWERTOOLS_")} - {"PORT", "HOME"}
    assert unknown <= read | set(RESOURCE_ENV.values()), unknown - read
    d = Settings()
    assert environment["PORT"] == "8080"
    assert int(environment["STOW_MAX_REQUEST_BYTES"]) == d.stow_max_request_bytes
    assert int(environment["STOW_MAX_PARTS"]) == d.stow_max_parts
    assert int(environment["STOW_MAX_PART_BYTES"]) == d.stow_max_part_bytes
    assert float(environment["STOW_READ_TIMEOUT"]) == d.stow_read_timeout


@pytest.mark.skipif(
    not (ROOT / "receiver" / "app.py").exists(), reason="receiver/app.py not written yet"
)
def test_the_load_balancer_closes_idle_connections_before_the_receiver_does(
    sam: dict[str, Any],
) -> None:
    from receiver.app import uvicorn_config

    attributes = {
        a["Key"]: a["Value"] for a in props(sam, "ReceiverLoadBalancer")["LoadBalancerAttributes"]
    }
    idle = int(attributes["idle_timeout.timeout_seconds"])
    assert idle < uvicorn_config(None).timeout_keep_alive
    # and CloudFront's keep-alive to the origin is shorter still
    origins = props(sam, "Distribution")["DistributionConfig"]["Origins"]
    (to_receiver,) = [o["Fn::If"][1] for o in origins if "Fn::If" in o]
    assert to_receiver["VpcOriginConfig"]["OriginKeepaliveTimeout"] < idle


def test_the_service_keeps_one_task_and_scales_on_cpu(sam: dict[str, Any]) -> None:
    service = props(sam, "ReceiverService")
    assert service["LaunchType"] == "FARGATE" and service["DesiredCount"] == 1
    assert service["NetworkConfiguration"]["AwsvpcConfiguration"]["SecurityGroups"] == [
        {"Ref": "ReceiverTaskSecurityGroup"}
    ]
    assert service["LoadBalancers"][0]["ContainerPort"] == 8080
    assert service["DeploymentConfiguration"]["DeploymentCircuitBreaker"]["Rollback"] is True
    target = props(sam, "ReceiverScalableTarget")
    assert target["MinCapacity"] == 1 and target["MaxCapacity"] == {"Ref": "ReceiverMaxTasks"}
    policy = props(sam, "ReceiverScalingPolicy")
    assert policy["PolicyType"] == "TargetTrackingScaling"
    tracking = policy["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["PredefinedMetricSpecification"] == {
        "PredefinedMetricType": "ECSServiceAverageCPUUtilization"
    }
    assert 0 < tracking["TargetValue"] < 100


def test_no_nat_gateway_and_only_free_gateway_endpoints(sam: dict[str, Any]) -> None:
    types = [r["Type"] for r in sam["Resources"].values()]
    assert "AWS::EC2::NatGateway" not in types
    endpoints = [
        r["Properties"] for r in sam["Resources"].values() if r["Type"] == "AWS::EC2::VPCEndpoint"
    ]
    assert {e["VpcEndpointType"] for e in endpoints} == {"Gateway"}
    assert len(endpoints) == 2  # S3 and DynamoDB


# --- the task role allows every call a STOW makes, and no more than that ------------------------


def role_statements(sam: dict[str, Any], role: str) -> list[dict[str, Any]]:
    return [s for p in props(sam, role)["Policies"] for s in p["PolicyDocument"]["Statement"]]


def test_the_receiver_roles_are_narrow(sam: dict[str, Any]) -> None:
    for role in ("ReceiverTaskRole", "ReceiverExecutionRole"):
        for s in role_statements(sam, role):
            actions = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
            assert not any(a.endswith("*") for a in actions), (role, actions)
            assert s["Resource"] != "*", (role, actions)
    text = json.dumps(role_statements(sam, "ReceiverTaskRole"))
    for absent in ("dynamodb:Scan", "sqs:", "s3:DeleteBucket", "IndexQueue", schema.IMPORT_ROOT):
        assert absent not in text, absent
    execution = json.dumps(role_statements(sam, "ReceiverExecutionRole"))
    assert "secretsmanager:GetSecretValue" in execution and "OriginSecret" in execution
    assert (
        props(sam, "ReceiverTaskDefinition")["TaskRoleArn"]
        != props(sam, "ReceiverTaskDefinition")["ExecutionRoleArn"]
    )


def test_the_task_role_grants_only_what_stow_needs(sam: dict[str, Any]) -> None:
    """Against the API's role: no import/ or rejected/ root, no BatchGet, no uploads listing.
    (That it is granted exactly what a STOW calls: tests/infra/test_permissions.py.)"""
    role = "ReceiverTaskRole"
    assert not permits(sam, role, "s3:PutObject", f"objects:{schema.IMPORT_ROOT}")
    assert not permits(sam, role, "s3:GetObject", f"objects:{schema.REJECTED_ROOT}")
    assert permits(sam, role, "s3:AbortMultipartUpload", f"objects:{schema.DICOM_ROOT}")
    assert permits(sam, role, "dynamodb:GetItem", "TenantsTable")
    assert permits(sam, role, "dynamodb:UpdateItem", "TenantsTable")  # the rate limiter
    assert not permits(sam, role, "dynamodb:PutItem", "TenantsTable")
    assert not permits(sam, role, "dynamodb:BatchGetItem", "CatalogTable")


# --- receiver.zip ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def code_zip() -> Path:
    path = build.DEFAULT_OUT / receiver.CODE_ZIP
    if not path.exists():
        build.build()
    return path


def test_the_zip_holds_the_lean_package_the_receiver_and_its_server(code_zip: Path) -> None:
    have = build.packaged(code_zip)
    runtime = {n: v for n, v in build.requirements().items() if n not in PIXEL_DISTRIBUTIONS}
    assert {n: have.get(n) for n in runtime} == runtime
    extras = build.receiver_requirements()
    assert set(extras) == {"uvicorn", "h11", "click"}
    assert {n: have.get(n) for n in extras} == extras
    assert not set(have) & PIXEL_DISTRIBUTIONS  # the receiver decodes no pixels
    with zipfile.ZipFile(code_zip) as z:
        names = set(z.namelist())
    assert "receiver/__init__.py" in names and "app.py" in names
    assert "uvicorn/__init__.py" in names
    if sys.version_info[:2] == build.LAMBDA_PYTHON:
        assert "receiver/__pycache__/__init__.cpython-311.pyc" in names


@pytest.mark.skipif(
    not (ROOT / "receiver" / "__main__.py").exists(), reason="receiver/__main__.py not written yet"
)
def test_the_containers_command_serves_health_from_the_zip_alone(
    code_zip: Path, tmp_path: Path
) -> None:
    """The receiver container's own command (unpack, then ``python -m receiver``) with
    ``python`` an interpreter that sees no site-packages (``-S``): only the zip's contents and
    the standard library, as on the stock image; then the container's health check."""
    code = tmp_path / "code"
    code.mkdir()
    (code / receiver.CODE_ZIP).write_bytes(code_zip.read_bytes())
    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" -S "$@"\n')
    (shim / "python").chmod(0o755)
    port = free_port()
    env = {
        "PATH": f"{shim}:/usr/bin:/bin",
        "PORT": str(port),
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
        **{v: f"receiver-test-{v.lower()}" for v in RESOURCE_ENV.values()},
    }
    command = receiver.COMMAND.replace(receiver.CODE_DIR, str(code))
    process = subprocess.Popen(
        ["sh", "-c", command], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                r = requests.get(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except requests.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    output = process.stdout.read().decode() if process.stdout else ""
                    pytest.fail(f"the receiver did not start:\n{output[-3000:]}")
                time.sleep(0.2)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("application/json")
        check = receiver.HEALTH_COMMAND.replace(str(receiver.PORT), str(port))
        assert subprocess.run(["python", "-c", check], env=env).returncode == 0
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert (code / "app" / "receiver" / "__main__.py").exists()  # unpacked where it ran
