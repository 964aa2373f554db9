"""The front in the built template: the CloudFront Function, run in Node.js over the routing
cases of ``chalicelib/routes/front.py``, agrees with ``is_stow`` and sets the root header; no
behaviour caches and every behaviour forwards the viewer's credentials but not its Host; the
origins' timeouts; the origin secret; the receiver's load balancer admits only CloudFront."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from chalicelib.routes.front import ROOT_HEADER, SECRET_HEADER, is_stow
from infra import build, front, receiver
from tests.unit.routes.test_front import ROUTING_CASES

NODE = shutil.which("node") or "/usr/bin/node"

#: The ``cloudfront`` module of CloudFront Functions' runtime 2.0, recording origin changes.
STUB = """
globalThis.__origins = [];
export default {
  selectRequestOriginById(id) { globalThis.__origins.push(['select', id]); },
  updateRequestOrigin(params) { globalThis.__origins.push(['update', params]); },
  createRequestOriginGroup(params) { globalThis.__origins.push(['group', params]); },
};
"""
HARNESS = """
import { readFileSync } from 'node:fs';
import { handler } from './function.mjs';
const cases = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const out = [];
for (const c of cases) {
  globalThis.__origins.length = 0;
  const event = {
    version: '1.0',
    context: {
      distributionDomainName: 'd111111abcdef8.cloudfront.net',
      eventType: 'viewer-request',
    },
    viewer: { ip: '192.0.2.1' },
    request: { method: c.method, uri: c.path, querystring: {}, headers: c.headers, cookies: {} },
  };
  const request = await handler(event);
  out.push({ origins: [...globalThis.__origins], headers: request.headers, uri: request.uri });
}
console.log(JSON.stringify(out));
"""


@pytest.fixture(scope="module")
def sam() -> dict[str, Any]:
    if not (build.DEFAULT_OUT / "sam.json").exists():
        build.build()
    return json.loads((build.DEFAULT_OUT / "sam.json").read_text())


def run_function(code: str, cases: list[dict[str, Any]], tmp: Path) -> list[dict[str, Any]]:
    """``code`` (a CloudFront Function) in Node.js, the ``cloudfront`` module stubbed."""
    assert "export" not in code  # CloudFront Functions' runtime calls handler by name
    module = tmp / "node_modules" / "cloudfront"
    module.mkdir(parents=True, exist_ok=True)
    (module / "package.json").write_text('{"name": "cloudfront", "type": "module"}')
    (module / "index.js").write_text(STUB)
    (tmp / "function.mjs").write_text(code + "\nexport { handler };\n")
    (tmp / "harness.mjs").write_text(HARNESS)
    (tmp / "cases.json").write_text(json.dumps(cases))
    run = subprocess.run(
        [NODE, "harness.mjs", "cases.json"], cwd=tmp, capture_output=True, text=True, timeout=30
    )
    assert run.returncode == 0, run.stderr
    out: list[dict[str, Any]] = json.loads(run.stdout)
    return out


def function_code(sam: dict[str, Any]) -> dict[bool, str]:
    """The deployed code, for StowReceiver Enabled (True) and Disabled (False)."""
    code = sam["Resources"]["ViewerRequestFunction"]["Properties"]["FunctionCode"]
    condition, enabled, disabled = code["Fn::If"]
    assert condition == receiver.CONDITION
    return {True: enabled, False: disabled}


def viewer_headers(**extra: str) -> dict[str, dict[str, str]]:
    return {
        "host": {"value": "pacs.example.org"},
        "apikey": {"value": "k-123"},
        "authorization": {"value": "Bearer t"},
        ROOT_HEADER: {"value": "https://evil.example"},  # a viewer cannot name the root
        SECRET_HEADER: {"value": "guessed"},  # nor send the secret on
        **{k: {"value": v} for k, v in extra.items()},
    }


@pytest.mark.skipif(not Path(NODE).exists(), reason="node is not installed")
@pytest.mark.parametrize("enabled", [True, False], ids=["receiver", "no-receiver"])
def test_the_function_sends_exactly_the_stow_requests_to_the_receiver(
    sam: dict[str, Any], enabled: bool, tmp_path: Path
) -> None:
    code = function_code(sam)[enabled]
    assert code == front.viewer_request_code(enabled)
    assert len(code.encode()) < front.FUNCTION_MAX_BYTES
    cases = [{"method": m, "path": p, "headers": viewer_headers()} for m, p, _ in ROUTING_CASES]
    results = run_function(code, cases, tmp_path)
    for (method, path, expected), result in zip(ROUTING_CASES, results, strict=True):
        assert is_stow(method, path) is expected
        to_receiver = [["select", front.RECEIVER_ORIGIN]] if enabled and expected else []
        assert result["origins"] == to_receiver, (method, path)
        headers = result["headers"]
        # the root is the viewer's host over HTTPS; the viewer's secret is gone (CloudFront
        # adds the real one as an origin custom header); credentials pass untouched
        assert headers[ROOT_HEADER] == {"value": "https://pacs.example.org"}
        assert SECRET_HEADER not in headers
        assert headers["apikey"] == {"value": "k-123"}
        assert headers["authorization"] == {"value": "Bearer t"}
        assert result["uri"] == path


@pytest.mark.skipif(not Path(NODE).exists(), reason="node is not installed")
def test_without_a_host_the_root_is_the_distributions_domain(tmp_path: Path) -> None:
    headers = viewer_headers()
    del headers["host"]
    (result,) = run_function(
        front.viewer_request_code(True),
        [{"method": "GET", "path": "/studies", "headers": headers}],
        tmp_path,
    )
    assert result["headers"][ROOT_HEADER] == {"value": "https://d111111abcdef8.cloudfront.net"}


def distribution(sam: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = sam["Resources"]["Distribution"]["Properties"]["DistributionConfig"]
    return config


def test_no_behaviour_caches_and_every_one_forwards_credentials_but_not_host(
    sam: dict[str, Any],
) -> None:
    config = distribution(sam)
    behaviours = [config["DefaultCacheBehavior"], *config.get("CacheBehaviors", [])]
    for b in behaviours:
        # managed CachingDisabled (TTLs 0, no key) + AllViewerExceptHostHeader (every viewer
        # header, cookie and query string but Host: apikey, x-api-key and Authorization reach
        # the origins, API Gateway gets its own Host)
        assert (
            b["CachePolicyId"] == front.CACHING_DISABLED == "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
        )
        assert (
            b["OriginRequestPolicyId"]
            == front.ALL_VIEWER_EXCEPT_HOST_HEADER
            == "b689b0a8-53d0-40ab-baf2-68738e2966ac"
        )
        # no legacy cache settings beside the policies
        assert not {"ForwardedValues", "DefaultTTL", "MinTTL", "MaxTTL"} & set(b)
        assert set(b["AllowedMethods"]) == {
            "GET",
            "HEAD",
            "OPTIONS",
            "PUT",
            "POST",
            "PATCH",
            "DELETE",
        }
        assert b["ViewerProtocolPolicy"] == "https-only"  # a redirect would drop a POST's body
        (association,) = b["FunctionAssociations"]
        assert association["EventType"] == "viewer-request"
        assert association["FunctionARN"] == {
            "Fn::GetAtt": ["ViewerRequestFunction", "FunctionARN"]
        }
    assert config["DefaultCacheBehavior"]["TargetOriginId"] == front.API_ORIGIN
    function = sam["Resources"]["ViewerRequestFunction"]["Properties"]
    assert function["FunctionConfig"]["Runtime"] == "cloudfront-js-2.0"
    assert function["AutoPublish"] is True


def origins(sam: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for origin in distribution(sam)["Origins"]:
        if "Fn::If" in origin:
            condition, origin, otherwise = origin["Fn::If"]
            assert condition == receiver.CONDITION and otherwise == {"Ref": "AWS::NoValue"}
        found[origin["Id"]] = origin
    return found


def test_origins_their_timeouts_and_the_secret_they_get(sam: dict[str, Any]) -> None:
    found = origins(sam)
    assert set(found) == {front.API_ORIGIN, front.RECEIVER_ORIGIN}
    api, recv = found[front.API_ORIGIN], found[front.RECEIVER_ORIGIN]
    assert api["OriginPath"] == "/api"
    assert api["DomainName"] == {
        "Fn::Sub": "${RestAPI}.execute-api.${AWS::Region}.${AWS::URLSuffix}"
    }
    assert api["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
    assert api["CustomOriginConfig"]["OriginReadTimeout"] == 30  # API Gateway stops at 29 s
    # the receiver: the internal ALB through a VPC origin, 60 s (CloudFront's most without a
    # quota increase), and no overall response deadline
    vpc = recv["VpcOriginConfig"]
    assert vpc["VpcOriginId"] == {"Fn::GetAtt": ["ReceiverVpcOrigin", "Id"]}
    assert vpc["OriginReadTimeout"] == {"Ref": "ReceiverOriginReadTimeout"}
    assert sam["Parameters"]["ReceiverOriginReadTimeout"]["Default"] == 60
    assert "ResponseCompletionTimeout" not in recv
    assert recv["DomainName"] == {"Fn::GetAtt": ["ReceiverLoadBalancer", "DNSName"]}
    # both get the origin secret as SECRET_HEADER, from Secrets Manager
    for origin in (api, recv):
        assert origin["OriginCustomHeaders"] == [
            {
                "HeaderName": SECRET_HEADER,
                "HeaderValue": {
                    "Fn::Sub": "{{resolve:secretsmanager:${OriginSecret}:SecretString}}"
                },
            }
        ]
    secret = sam["Resources"]["OriginSecret"]
    assert secret["Type"] == "AWS::SecretsManager::Secret"
    generate = secret["Properties"]["GenerateSecretString"]
    assert generate["ExcludePunctuation"] is True and generate["PasswordLength"] >= 32


def test_every_origin_gets_the_same_secret_and_root(sam: dict[str, Any]) -> None:
    secret = {"Fn::Sub": "{{resolve:secretsmanager:${OriginSecret}:SecretString}}"}
    for name in ("APIHandler", "PixelHandler"):
        variables = sam["Resources"][name]["Properties"]["Environment"]["Variables"]
        assert variables["ORIGIN_SECRET"] == secret, name
        assert variables["PUBLIC_ROOT"] == {"Ref": "PublicRoot"}, name
    indexer = sam["Resources"]["IndexObjects"]["Properties"]["Environment"]["Variables"]
    assert "ORIGIN_SECRET" not in indexer  # it answers no HTTP request
    container = receiver_container(sam)
    assert {"Name": "ORIGIN_SECRET", "ValueFrom": {"Ref": "OriginSecret"}} in container["Secrets"]
    environment = {e["Name"]: e["Value"] for e in container["Environment"]}
    assert "ORIGIN_SECRET" not in environment  # never plain text in the task definition
    assert environment["PUBLIC_ROOT"] == {"Ref": "PublicRoot"}


def receiver_container(sam: dict[str, Any]) -> dict[str, Any]:
    definitions = sam["Resources"]["ReceiverTaskDefinition"]["Properties"]["ContainerDefinitions"]
    (container,) = [c for c in definitions if c["Name"] == "receiver"]
    return dict(container)


def test_the_receivers_load_balancer_admits_only_cloudfront(sam: dict[str, Any]) -> None:
    resources = sam["Resources"]
    alb = resources["ReceiverLoadBalancer"]["Properties"]
    assert alb["Scheme"] == "internal"
    assert alb["Subnets"] == [
        {"Ref": "ReceiverPrivateSubnet1"},
        {"Ref": "ReceiverPrivateSubnet2"},
    ]
    (group,) = alb["SecurityGroups"]
    rules = resources[group["Ref"]]["Properties"]["SecurityGroupIngress"]
    assert rules == [
        {
            "Description": "CloudFront origin-facing addresses",
            "IpProtocol": "tcp",
            "FromPort": 80,
            "ToPort": 80,
            "SourcePrefixListId": {"Ref": "CloudFrontOriginFacingPrefixList"},
        }
    ]
    # no other way in: no rule elsewhere adds to that group, the private subnets have no
    # route to the internet, the VPC origin is the ALB's only client
    assert not [
        r
        for r in resources.values()
        if r["Type"] == "AWS::EC2::SecurityGroupIngress" and r["Properties"]["GroupId"] == group
    ]
    private_routes = [
        r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::EC2::Route"
        and r["Properties"]["RouteTableId"] == {"Ref": "ReceiverPrivateRoutes"}
    ]
    assert private_routes == []
    origin = resources["ReceiverVpcOrigin"]["Properties"]["VpcOriginEndpointConfig"]
    assert origin["Arn"] == {"Ref": "ReceiverLoadBalancer"}
    # the tasks admit the ALB only, on the receiver's port
    (task_rule,) = resources["ReceiverTaskSecurityGroup"]["Properties"]["SecurityGroupIngress"]
    assert task_rule["SourceSecurityGroupId"] == {"Ref": "ReceiverLoadBalancerSecurityGroup"}
    assert task_rule["FromPort"] == task_rule["ToPort"] == receiver.PORT
    assert sam["Parameters"]["CloudFrontOriginFacingPrefixList"]["AllowedPattern"].startswith(
        "^(pl-"
    )


def test_the_root_is_the_distribution_and_the_api_url_stays_secondary(
    sam: dict[str, Any],
) -> None:
    outputs = sam["Outputs"]
    assert outputs["DicomWebRoot"]["Value"] == {
        "Fn::If": [
            "HasPublicRoot",
            {"Fn::Sub": "${PublicRoot}/"},
            {"Fn::Sub": "https://${Distribution.DomainName}/"},
        ]
    }
    assert "EndpointURL" in outputs and "secondary" in outputs["EndpointURL"]["Description"]
