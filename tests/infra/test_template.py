"""The built template (``make infra-check`` builds it first) against the code's own definitions:
table keys and indexes, bucket roots and notifications, queue settings, environment variables,
roles, the API's GatewayResponses. What is checked here cannot drift between the local stack
and a deployment."""

from __future__ import annotations

import inspect
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest

from chalicelib.config import RESOURCE_ENV, Settings
from chalicelib.routes.placement import PIXEL_DISTRIBUTIONS, PIXEL_MODULES
from chalicelib.routes.table import serves_pixels, writes_catalog
from chalicelib.storage import schema
from infra import build, template

SAM = build.DEFAULT_OUT / "sam.json"


@pytest.fixture(scope="module")
def sam() -> dict[str, Any]:
    if not SAM.exists():  # `make infra-check` builds it; alone, build it here
        build.build()
    return json.loads(SAM.read_text())


def of_type(sam: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in sam["Resources"].items() if v["Type"] == kind}


def props(sam: dict[str, Any], name: str) -> dict[str, Any]:
    return sam["Resources"][name]["Properties"]


def test_tables_have_exactly_the_schema_keys_and_indexes(sam: dict[str, Any]) -> None:
    assert set(of_type(sam, "AWS::DynamoDB::Table")) == {"CatalogTable", "TenantsTable"}
    for name, definition in (
        ("CatalogTable", schema.catalog_table("x")),
        ("TenantsTable", schema.tenants_table("x")),
    ):
        p = props(sam, name)
        for key in ("KeySchema", "AttributeDefinitions", "BillingMode"):
            assert p[key] == definition[key], (name, key)
        assert p.get("GlobalSecondaryIndexes") == definition.get("GlobalSecondaryIndexes")
        assert p["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert p["SSESpecification"]["SSEEnabled"] is True
        assert sam["Resources"][name]["DeletionPolicy"] == "Retain"
    gsi = {g["IndexName"] for g in props(sam, "CatalogTable")["GlobalSecondaryIndexes"]}
    assert gsi == set(schema.CATALOG_INDEXES)
    ttl = props(sam, "TenantsTable")["TimeToLiveSpecification"]
    assert ttl == {"AttributeName": schema.TENANTS_TTL_ATTRIBUTE, "Enabled": True}


def test_bucket_notifies_the_index_queue_for_the_fixed_roots_only(sam: dict[str, Any]) -> None:
    p = props(sam, "DicomBucket")
    configs = p["NotificationConfiguration"]["QueueConfigurations"]
    got = {
        (c["Event"], c["Filter"]["S3Key"]["Rules"][0]["Value"])
        for c in configs
        if c["Queue"] == {"Fn::GetAtt": ["IndexQueue", "Arn"]}
    }
    assert len(configs) == len(got)
    assert got == {(e, r) for e in schema.NOTIFIED_EVENTS for r in schema.NOTIFIED_ROOTS}
    assert schema.DERIVED_ROOT not in {r for _, r in got}
    assert p["VersioningConfiguration"] == {"Status": "Enabled"}
    assert all(p["PublicAccessBlockConfiguration"].values())
    assert "LoggingConfiguration" in p
    rules = {r["Id"]: r for r in p["LifecycleConfiguration"]["Rules"]}
    assert "AbortIncompleteMultipartUpload" in rules["abort-incomplete-multipart-uploads"]
    assert "NoncurrentVersionExpiration" in rules["expire-noncurrent-versions"]
    cors = p["CorsConfiguration"]["CorsRules"][0]
    assert set(cors["AllowedMethods"]) == set(schema.BUCKET_CORS_RULES[0]["AllowedMethods"])
    assert "ETag" in cors["ExposedHeaders"]
    assert sam["Resources"]["DicomBucket"]["DeletionPolicy"] == "Retain"


def test_buckets_refuse_plain_http(sam: dict[str, Any]) -> None:
    for policy in ("DicomBucketPolicy", "AccessLogBucketPolicy"):
        statements = props(sam, policy)["PolicyDocument"]["Statement"]
        assert any(
            s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
            for s in statements
        ), policy


def test_queue_settings_match_the_indexer(sam: dict[str, Any]) -> None:
    queue = props(sam, "IndexQueue")
    assert queue["SqsManagedSseEnabled"] is True and "KmsMasterKeyId" not in queue
    assert queue["RedrivePolicy"]["maxReceiveCount"] == schema.MAX_RECEIVE_COUNT
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["IndexDLQ", "Arn"]}
    indexer = props(sam, template.INDEX_FUNCTION)
    assert queue["VisibilityTimeout"] >= 6 * indexer["Timeout"]
    assert indexer["Timeout"] == schema.INDEXER_TIMEOUT_S
    source = indexer["Events"][template.INDEX_EVENT_SOURCE]
    assert source["Type"] == "SQS"
    assert source["Properties"]["Queue"] == {"Fn::GetAtt": ["IndexQueue", "Arn"]}
    assert source["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert source["Properties"]["BatchSize"] == schema.INDEXER_BATCH_SIZE
    assert props(sam, "IndexDLQ")["SqsManagedSseEnabled"] is True


def test_functions_get_every_resource_the_code_reads_from_the_environment(
    sam: dict[str, Any],
) -> None:
    functions = of_type(sam, "AWS::Serverless::Function")
    assert set(functions) == {
        template.API_FUNCTION,
        template.INDEX_FUNCTION,
        template.PIXEL_FUNCTION,
        template.STORE_FUNCTION,
    }
    expected = {
        RESOURCE_ENV["bucket"]: {"Ref": "DicomBucket"},
        RESOURCE_ENV["catalog_table"]: {"Ref": "CatalogTable"},
        RESOURCE_ENV["tenants_table"]: {"Ref": "TenantsTable"},
        RESOURCE_ENV["index_queue"]: {"Fn::GetAtt": ["IndexQueue", "QueueName"]},
        RESOURCE_ENV["index_dlq"]: {"Fn::GetAtt": ["IndexDLQ", "QueueName"]},
    }
    for name, function in functions.items():
        variables = function["Properties"]["Environment"]["Variables"]
        for var, value in expected.items():
            assert variables[var] == value, (name, var)
        # every variable set is one the code reads (a typo would go unnoticed otherwise)
        read = set(re.findall(r'e\.get\("([A-Z_]+)"', inspect.getsource(Settings.from_env)))
        unknown = {v for v in variables if not v.startswith("POWERTOOLS_")}
        assert unknown <= read | set(RESOURCE_ENV.values()), unknown - read
        assert function["Properties"]["Runtime"] == "python3.11"
        # Lambda records each invocation's segment; the code loads no X-Ray SDK (no Tracer
        # setting is left to record a return value or an exception's message)
        assert function["Properties"]["Tracing"] == "Active"
        assert not any(v.startswith("POWERTOOLS_TRACE") for v in variables), name
        assert function["Properties"]["Role"]["Fn::GetAtt"][1] == "Arn"
    assert set(RESOURCE_ENV.values()) <= set(expected)


def test_each_function_has_its_own_least_privilege_role(sam: dict[str, Any]) -> None:
    roles = {
        template.API_FUNCTION: "ApiHandlerRole",
        template.INDEX_FUNCTION: "IndexerRole",
        template.PIXEL_FUNCTION: "PixelHandlerRole",
        template.STORE_FUNCTION: "StoreHandlerRole",
    }
    for function, role in roles.items():
        assert props(sam, function)["Role"] == {"Fn::GetAtt": [role, "Arn"]}
        statements = [
            s for p in props(sam, role)["Policies"] for s in p["PolicyDocument"]["Statement"]
        ]
        for s in statements:
            actions = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
            assert not any(a.endswith("*") for a in actions), (role, actions)
            assert s["Resource"] != "*", (role, actions)
        text = json.dumps(statements)
        assert "dynamodb:Scan" not in text  # QIDO answers from indexes, never by scanning
        assert "s3:DeleteBucket" not in text
    api_text = json.dumps(props(sam, "ApiHandlerRole"))
    indexer_text = json.dumps(props(sam, "IndexerRole"))
    assert "sqs:ReceiveMessage" in indexer_text and "sqs:" not in api_text
    assert "TenantsTable" in api_text and "TenantsTable" not in indexer_text


def test_api_gateway_settings(sam: dict[str, Any]) -> None:
    api = props(sam, "RestAPI")
    body = api["DefinitionBody"]
    assert body["x-amazon-apigateway-binary-media-types"] == ["*/*"]
    (method,) = api["MethodSettings"]
    assert method["DataTraceEnabled"] is False and method["LoggingLevel"] == "OFF"
    assert "ThrottlingRateLimit" in method and "ThrottlingBurstLimit" in method
    assert api["TracingEnabled"] is True
    log_format = json.loads(api["AccessLogSetting"]["Format"])
    assert not any("querystring" in v.lower() for v in log_format.values())
    # every route of the app is in the API, with its CORS preflight
    paths = body["paths"]
    assert "/studies" in paths and "options" in paths["/studies"]
    assert "/studies/{study}/series/{series}/instances/{instance}/frames/{frames}" in paths


@pytest.mark.parametrize(
    ("response_type", "status"),
    [
        ("REQUEST_TOO_LARGE", 413),
        ("THROTTLED", 429),
        ("INTEGRATION_TIMEOUT", 504),
        ("MISSING_AUTHENTICATION_TOKEN", 404),
    ],
)
def test_gateway_errors_carry_the_service_error_body_and_cors(
    sam: dict[str, Any], response_type: str, status: int
) -> None:
    response = props(sam, "RestAPI")["GatewayResponses"][response_type]
    assert response["StatusCode"] == str(status)
    body = json.loads(response["ResponseTemplates"]["application/json"])
    assert set(body) == {"error"} and body["error"]["status"] == status
    assert body["error"]["code"] and body["error"]["message"]
    headers = response["ResponseParameters"]["Headers"]
    assert headers["Access-Control-Allow-Origin"] == "'*'"


def test_alarms_cover_the_failure_signals(sam: dict[str, Any]) -> None:
    alarms = of_type(sam, "AWS::CloudWatch::Alarm")
    metrics = {
        (a["Properties"]["Namespace"], a["Properties"]["MetricName"]) for a in alarms.values()
    }
    assert ("AWS/SQS", "ApproximateNumberOfMessagesVisible") in metrics  # DLQ not empty
    assert ("AWS/Lambda", "Errors") in metrics
    assert ("AWS/ApiGateway", "5XXError") in metrics
    assert ("AWS/Lambda", "Throttles") in metrics
    for alarm in alarms.values():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def test_the_indexer_keeps_pace_with_the_stated_peak(sam: dict[str, Any]) -> None:
    """50 pollers index the peak of docs/scale.md (10x the largest tenant, objects written
    straight to S3) with a quarter to spare; the old 10 fell behind for good."""
    source = props(sam, template.INDEX_FUNCTION)["Events"][template.INDEX_EVENT_SOURCE]
    assert source["Properties"]["ScalingConfig"] == {
        "MaximumConcurrency": {"Ref": "IndexMaxConcurrency"}
    }
    parameter = sam["Parameters"]["IndexMaxConcurrency"]
    assert parameter["Default"] == template.INDEX_MAX_CONCURRENCY == 50
    assert parameter["MinValue"] == 2 and parameter["MaxValue"] == 1000  # SQS's bounds
    busy = template.INDEX_PEAK_RECORDS_S * template.INDEX_RECORD_S  # functions at the peak
    deployed = parameter["Default"]  # what the built template deploys, not the constant
    assert 1.25 * busy <= deployed
    assert busy > 10  # the old setting could not keep pace
    # a 10 M-instance day (the peak for 8 hours) is indexed well within the day
    per_day = deployed / template.INDEX_RECORD_S * 24 * 3600
    assert per_day >= 3 * 10_000_000


def test_a_backlog_alarms_well_before_sqs_deletes_it(sam: dict[str, Any]) -> None:
    """SQS deletes a message at its retention without a word: the retention alarm fires on the
    queue's oldest message with most of the retention left to recover (docs/scale.md)."""
    retention = props(sam, "IndexQueue")["MessageRetentionPeriod"]
    assert retention == template.SQS_RETENTION_S == 14 * 24 * 3600
    alarm = props(sam, "IndexRetentionAlarm")
    assert alarm["Namespace"] == "AWS/SQS"
    assert alarm["MetricName"] == "ApproximateAgeOfOldestMessage"
    assert alarm["Statistic"] == "Maximum"
    assert alarm["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["IndexQueue", "QueueName"]}}
    ]
    assert alarm["Threshold"] == template.INDEX_RETENTION_ALARM_S == 24 * 3600
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert retention - alarm["Threshold"] >= 13 * 24 * 3600  # 13 days to recover
    assert alarm["Threshold"] > props(sam, "IndexLagAlarm")["Threshold"]
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    assert "reindex" in alarm["AlarmDescription"] and "docs/scale.md" in alarm["AlarmDescription"]


def test_the_stage_samples_traces_as_chosen(sam: dict[str, Any]) -> None:
    """API Gateway samples by the stack's rule for its stage, with the reservoir and rate
    chalicelib/observability.py chose (and docs/cost.md prices)."""
    from bench import pricing
    from chalicelib.observability import TRACE_FIXED_RATE, TRACE_RESERVOIR_PER_S

    (name,) = of_type(sam, "AWS::XRay::SamplingRule")
    rule = props(sam, name)["SamplingRule"]
    assert rule["ReservoirSize"] == TRACE_RESERVOIR_PER_S == 1
    assert rule["FixedRate"] == TRACE_FIXED_RATE == 0.01
    assert rule["ServiceType"] == "AWS::ApiGateway::Stage"
    stage_arn = rule["ResourceARN"]["Fn::Sub"]
    assert stage_arn.endswith(f"::/restapis/${{RestAPI}}/stages/{template.API_STAGE}")
    assert {rule[k] for k in ("Host", "HTTPMethod", "URLPath", "ServiceName")} == {"*"}
    assert rule["Version"] == 1 and 1 <= rule["Priority"] <= 9999
    # a rule name is 32 characters at most; a REST API's id is 10
    assert len(rule["RuleName"]["Fn::Sub"].replace("${RestAPI}", "x" * 10)) <= 32
    assert props(sam, "RestAPI")["TracingEnabled"] is True
    assert pricing.api_sampling() == (TRACE_RESERVOIR_PER_S, TRACE_FIXED_RATE)


def test_data_resources_are_retained_and_outputs_serve_the_cli(sam: dict[str, Any]) -> None:
    for name in ("DicomBucket", "AccessLogBucket", "CatalogTable", "TenantsTable"):
        assert sam["Resources"][name]["DeletionPolicy"] == "Retain", name
        assert sam["Resources"][name]["UpdateReplacePolicy"] == "Retain", name
    assert sam["Outputs"]["TenantsTable"]["Value"] == {"Ref": "TenantsTable"}
    assert "EndpointURL" in sam["Outputs"]


def test_every_runtime_dependency_is_packaged_and_pixel_libraries_only_in_the_layer() -> None:
    zip_path = build.DEFAULT_OUT / "deployment.zip"
    layer_path = build.DEFAULT_OUT / template.PIXEL_LAYER_ZIP
    if not layer_path.exists():
        build.build()
    assert build.missing_dependencies(zip_path, layer_path) == []
    code, layer = build.packaged(zip_path), build.packaged_layer(layer_path)
    assert set(layer) == PIXEL_DISTRIBUTIONS
    assert set(build.requirements()) == set(code) | set(layer)
    assert not set(code) & PIXEL_DISTRIBUTIONS
    with zipfile.ZipFile(zip_path) as z:
        tops = {n.split("/", 1)[0] for n in z.namelist()}
    assert not tops & (PIXEL_MODULES | {"numpy.libs", "pillow.libs"}), tops & PIXEL_MODULES
    with zipfile.ZipFile(layer_path) as z:
        assert {n.split("/", 1)[0] for n in z.namelist()} == {"python"}
        layer_tops = {n.split("/")[1] for n in z.namelist()}
    assert layer_tops >= PIXEL_MODULES


def test_pixel_and_store_routes_go_to_their_functions_and_the_rest_to_the_api(
    sam: dict[str, Any],
) -> None:
    """Every route that may decode pixel data reaches the function with the layer; every route
    that writes the catalog (STOW, DELETE) reaches the store function; every other route
    reaches the lean API function. Both are the API's code with their own name and role; the
    pixel function has more memory and the layer."""
    targets: dict[str, set[str]] = {
        template.API_FUNCTION: set(),
        template.PIXEL_FUNCTION: set(),
        template.STORE_FUNCTION: set(),
    }
    paths = props(sam, "RestAPI")["DefinitionBody"]["paths"]
    for path, methods in paths.items():
        for method, operation in methods.items():
            uri = json.dumps(operation["x-amazon-apigateway-integration"].get("uri", ""))
            if method == "options":
                assert "Arn" not in uri  # CORS preflights are mock integrations
                continue
            (function,) = [f for f in targets if "${" + f + ".Arn}" in uri]
            targets[function].add(f"{method.upper()} {path}")
            assert (function == template.PIXEL_FUNCTION) == serves_pixels(path, method), path
            assert (function == template.STORE_FUNCTION) == writes_catalog(path, method), path
    assert (
        "GET /studies/{study}/series/{series}/instances/{instance}/rendered"
        in targets[template.PIXEL_FUNCTION]
    )
    assert "GET /studies" in targets[template.API_FUNCTION]
    # study, series, instance, frames; rendered and thumbnail at 4 levels; WADO-URI
    assert len(targets[template.PIXEL_FUNCTION]) == 13
    # STOW at two levels, DELETE at three
    assert len(targets[template.STORE_FUNCTION]) == 5
    assert "POST /studies" in targets[template.STORE_FUNCTION]
    api, pixel = props(sam, template.API_FUNCTION), props(sam, template.PIXEL_FUNCTION)
    assert pixel["Layers"] == [{"Ref": template.PIXEL_LAYER}]
    assert "Layers" not in api and "Layers" not in props(sam, template.INDEX_FUNCTION)
    assert pixel["MemorySize"] == template.PIXEL_MEMORY_MB > api["MemorySize"]
    same = {k: v for k, v in api.items() if k not in ("FunctionName", "Role", "MemorySize")}
    assert {k: pixel[k] for k in same} == same
    layer = props(sam, template.PIXEL_LAYER)
    assert layer["ContentUri"] == f"./{template.PIXEL_LAYER_ZIP}"
    store = props(sam, template.STORE_FUNCTION)
    assert {k: store[k] for k in same if k != "MemorySize"} == {
        k: v for k, v in same.items() if k != "MemorySize"
    }
    assert "Layers" not in store
    for function in (template.PIXEL_FUNCTION, template.STORE_FUNCTION):
        permission = props(sam, f"{function}InvokePermission")
        assert permission["FunctionName"] == {"Ref": function}
        assert permission["Principal"] == "apigateway.amazonaws.com"
    role_statements = [
        [s for p in props(sam, r)["Policies"] for s in p["PolicyDocument"]["Statement"]]
        for r in ("ApiHandlerRole", "PixelHandlerRole")
    ]
    # the same app serves both, but the pixel function gets only what its GET routes use
    # (tests/infra/test_permissions.py checks every call it makes is allowed): no action of
    # its role the API's lacks, and no delete or catalog write at all (issue 23)
    actions = [
        {a for s in ss for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}
        for ss in role_statements
    ]
    assert actions[1] <= actions[0]
    assert not {a for a in actions[1] if "Delete" in a or a == "dynamodb:PutItem"}


def test_a_dependency_the_package_lacks_is_reported(tmp_path: Path) -> None:
    import zipfile

    fake = tmp_path / "deployment.zip"
    with zipfile.ZipFile(fake, "w") as z:
        z.writestr("pydicom-3.0.2.dist-info/METADATA", "")
        z.writestr("numpy-1.0.0.dist-info/METADATA", "")
    missing = build.missing_dependencies(fake)
    assert any(m.startswith("numpy==") and "packaged: 1.0.0" in m for m in missing)
    assert any(m.startswith("pillow==") and "packaged: none" in m for m in missing)
    assert not any(m.startswith("pydicom==") for m in missing)
