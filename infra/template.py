"""The resources Chalice does not generate, as a template merged into ``chalice package``.

Everything the code depends on comes from the code's own definitions: the table keys and
indexes (``chalicelib/storage/schema.py``), the bucket roots and notification filters, the queue
settings, the environment variable names (``chalicelib/config.RESOURCE_ENV``) and the JSON error
body (``chalicelib/routes/http.error_body``). ``tests/infra`` checks the built template against
the same definitions, so the two cannot drift.

Chalice generates the two functions (``APIHandler``, ``IndexObjects``), the REST API and its
invoke permission; this template adds to them (deep merge): roles, names, environment, API
access logs, throttling, tracing and GatewayResponses, and the SQS event source's
``FunctionResponseTypes``. In front of it all, the DICOMweb root clients configure: a CloudFront
distribution (``infra/front.py``) that sends STOW requests to the streaming STOW receiver on
ECS Fargate (``infra/receiver.py``, ``StowReceiver`` Enabled) and everything else to the API.
"""

from __future__ import annotations

import json
from typing import Any

from chalicelib.config import RESOURCE_ENV
from chalicelib.observability import TRACE_FIXED_RATE, TRACE_RESERVOIR_PER_S
from chalicelib.routes.http import CORS_HEADERS, error_body
from chalicelib.storage import schema

APP_NAME = "dicomweb"  # .chalice/config.json app_name: the REST API's name (ApiName metric)
API_STAGE = "api"  # .chalice/config.json api_gateway_stage
API_FUNCTION = "APIHandler"
INDEX_FUNCTION = "IndexObjects"
# The routes that decode pixel data run in their own function: the same code plus a layer of
# numpy, Pillow and the codecs (chalicelib/routes/placement.py; infra/build.py wires it).
PIXEL_FUNCTION = "PixelHandler"
PIXEL_LAYER = "PixelLayer"
PIXEL_LAYER_ZIP = "pixels-layer.zip"
# The routes that write the catalog (STOW through the API, DELETE: ``Route.writes``) run in
# their own function, the same code as the API's, so the API function's role stays read-only
# on the catalog (issue 23: only code that runs the indexer's reconcile writes it).
STORE_FUNCTION = "StoreHandler"
INDEX_EVENT_SOURCE = "IndexObjectsSqsEventSource"

#: Sizing from measurements (infra/README.md, "Sizing"): the whole in-process stack (API,
#: indexer and moto holding every object) peaks at 249 MB RSS in ``make bench-wado`` and 232 MB
#: in ``make bench-indexing``; importing the app costs 86 MB. The API gets 1024 MB for the
#: ~0.6 vCPU that comes with it (pixel decoding, transcoding, rendering are CPU-bound).
API_MEMORY_MB = 1024
API_TIMEOUT_S = 29  # API Gateway's integration timeout: a longer Lambda run is never answered
INDEX_MEMORY_MB = 512
PIXEL_MEMORY_MB = 2048  # Lambda's CPU grows with memory: decoding and encoding are CPU-bound
#: The indexer's SQS pollers (the event source's MaximumConcurrency), sized for a stated peak
#: (docs/scale.md, "3."): 10x the largest tenant, 350 objects/s written straight to S3 at ~110 ms
#: a record, needs ~39 busy; 50 keeps pace with 25 % to spare (~455/s, ~39 M a day). 10 (~91/s)
#: never drained such a migration. It bounds the catalog's write rate (~7,200 WRU/s at 50). The
#: default of the ``IndexMaxConcurrency`` parameter (2 to 1,000): a new account whose Lambda
#: quota is 10 sets it lower until the quota is raised (docs/scale.md, "1.").
INDEX_MAX_CONCURRENCY = 50
#: The stated peak (docs/scale.md): records a second, and what one costs the indexer (an object
#: written straight to S3, the costliest common case: ~110 ms measured, docs/cost.md's rows).
INDEX_PEAK_RECORDS_S = 350
INDEX_RECORD_S = 0.110
LOG_RETENTION_DAYS = 90
SQS_RETENTION_S = 14 * 24 * 3600
#: The index queue's oldest message a day old: 13 days before SQS deletes it unindexed (without
#: a dead-letter queue), time to fix the cause, add pollers and, if need be, ``cli reindex``.
INDEX_RETENTION_ALARM_S = 24 * 3600

RETAIN = {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"}


def sub(text: str) -> dict[str, str]:
    return {"Fn::Sub": text}


def ref(name: str) -> dict[str, str]:
    return {"Ref": name}


def att(name: str, attribute: str) -> dict[str, list[str]]:
    return {"Fn::GetAtt": [name, attribute]}


def skip(*checks: tuple[str, str]) -> dict[str, Any]:
    """checkov inline suppressions, each with its reason."""
    return {"checkov": {"skip": [{"id": c, "comment": why} for c, why in checks]}}


BUCKET_NAME = "${AWS::StackName}-dicom-${AWS::AccountId}-${AWS::Region}"
LOG_BUCKET_NAME = "${AWS::StackName}-logs-${AWS::AccountId}-${AWS::Region}"
BUCKET_ARN = "arn:${AWS::Partition}:s3:::" + BUCKET_NAME
API_FUNCTION_NAME = "${AWS::StackName}-api"
API_STAGE_ARN = "arn:${AWS::Partition}:apigateway:${AWS::Region}::/restapis/${RestAPI}/stages/" + (
    API_STAGE
)
INDEX_FUNCTION_NAME = "${AWS::StackName}-indexer"
PIXEL_FUNCTION_NAME = "${AWS::StackName}-pixels"
STORE_FUNCTION_NAME = "${AWS::StackName}-store"
ROOTS = (schema.DICOM_ROOT, schema.IMPORT_ROOT, schema.DERIVED_ROOT, schema.REJECTED_ROOT)


def tls_only(resource_arns: list[Any], action: str) -> dict[str, Any]:
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": action,
        "Resource": resource_arns,
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def table_properties(definition: dict[str, Any]) -> dict[str, Any]:
    """CreateTable arguments (the schema) -> AWS::DynamoDB::Table properties."""
    props = {k: v for k, v in definition.items() if k != "TableName"}
    props.update(
        PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
        SSESpecification={"SSEEnabled": True},
        DeletionProtectionEnabled=True,
    )
    return props


def bucket_cors() -> list[dict[str, Any]]:
    """schema.BUCKET_CORS_RULES (S3 API shape) -> CloudFormation CorsRule shape."""
    rename = {"ExposeHeaders": "ExposedHeaders", "MaxAgeSeconds": "MaxAge"}
    return [{rename.get(k, k): v for k, v in rule.items()} for rule in schema.BUCKET_CORS_RULES]


def gateway_response(status: int, code: str, message: str, **headers: str) -> dict[str, Any]:
    """A GatewayResponse giving API Gateway's own errors the service's body and CORS headers."""
    quoted = {k: f"'{v}'" for k, v in {**CORS_HEADERS, **headers}.items()}
    return {
        "StatusCode": str(status),
        "ResponseParameters": {"Headers": quoted},
        "ResponseTemplates": {"application/json": json.dumps(error_body(status, code, message))},
    }


LARGE = "bodies over 6 MB go through POST /uploads (presigned S3 upload)"
GATEWAY_RESPONSES = {
    # API Gateway answers an unknown path with 403 "Missing Authentication Token".
    "MISSING_AUTHENTICATION_TOKEN": gateway_response(404, "NotFound", "no such resource"),
    "REQUEST_TOO_LARGE": gateway_response(
        413, "PayloadTooLarge", f"the request exceeds API Gateway's 10 MB body limit; {LARGE}"
    ),
    "THROTTLED": gateway_response(
        429, "TooManyRequests", "the API's request rate limit was exceeded", **{"Retry-After": "1"}
    ),
    "QUOTA_EXCEEDED": gateway_response(429, "TooManyRequests", "the API's quota was exceeded"),
    "INTEGRATION_TIMEOUT": gateway_response(
        504,
        "GatewayTimeout",
        "the request did not finish within API Gateway's 29 s; retrieve large studies with "
        "Accept: multipart/related and follow the 303 to a presigned URL",
    ),
    # Lambda refuses an event or a response over its 6 MB payload limit.
    "INTEGRATION_FAILURE": gateway_response(
        502, "BadGateway", f"the function could not be invoked (payload over 6 MB?); {LARGE}"
    ),
    "DEFAULT_5XX": gateway_response(502, "BadGateway", "the gateway could not serve the request"),
}


def env() -> dict[str, Any]:
    values = {
        "bucket": ref("DicomBucket"),
        "catalog_table": ref("CatalogTable"),
        "tenants_table": ref("TenantsTable"),
        "index_queue": att("IndexQueue", "QueueName"),
        "index_dlq": att("IndexDLQ", "QueueName"),
    }
    assert values.keys() == RESOURCE_ENV.keys()
    return {
        **{RESOURCE_ENV[k]: v for k, v in values.items()},
        "TENANT_RATE_LIMIT": ref("TenantRateLimit"),
        # the root of every URL in an answer; empty: the front's ROOT_HEADER (chalicelib/routes/
        # front.py), trusted only with the origin secret (functions: ORIGIN_SECRET below)
        "PUBLIC_ROOT": ref("PublicRoot"),
        "POWERTOOLS_SERVICE_NAME": "dicomweb",
        "POWERTOOLS_METRICS_NAMESPACE": "DicomWeb",
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }


def objects(*roots: str) -> list[dict[str, str]]:
    return [sub(f"{BUCKET_ARN}/{root}*") for root in roots]


def table_arns(*tables: str) -> list[Any]:
    return [att(t, "Arn") for t in tables]


def role(name: str, function_name: str, statements: list[dict[str, Any]]) -> dict[str, Any]:
    logs = {
        "Effect": "Allow",
        "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": sub(
            "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:"
            f"/aws/lambda/{function_name}:*"
        ),
    }
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            },
            # X-Ray's write actions have no resource-level permissions.
            "ManagedPolicyArns": [
                sub("arn:${AWS::Partition}:iam::aws:policy/AWSXRayDaemonWriteAccess")
            ],
            "Policies": [
                {
                    "PolicyName": name,
                    "PolicyDocument": {"Version": "2012-10-17", "Statement": [logs, *statements]},
                }
            ],
        },
    }


# Each function's grants are exactly what its calls need, action by action and root by root:
# tests/infra/test_permissions.py records every call of a scenario covering every route and
# the fault and clean-up paths, and fails on a call a role does not allow or a grant no call
# uses (issue 23). No code reads an older object version (GetObjectVersion), lists multipart
# parts or batch-writes the catalog.
S3_LIST = ["s3:ListBucket"]  # also turns a missing key's 403 into the 404 the code relies on
S3_LIST_VERSIONS = [*S3_LIST, "s3:ListBucketVersions"]  # reconciling or purging a key's versions
S3_REMOVE = ["s3:DeleteObject", "s3:DeleteObjectVersion"]
CATALOG_READ = ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query"]
#: The catalog as the indexer's reconcile writes it (on the table; its indexes are only read).
CATALOG_WRITE = [
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:ConditionCheckItem",
]


def allow(actions: list[str], resources: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": actions, "Resource": resources}


def catalog(table: list[str], indexes: list[str] | None = None) -> list[dict[str, Any]]:
    """``table`` actions on the catalog table, ``indexes`` on its indexes (Query only)."""
    out = [allow(table, table_arns("CatalogTable"))]
    if indexes:
        out.append(allow(indexes, [{"Fn::Join": ["", [att("CatalogTable", "Arn"), "/index/*"]]}]))
    return out


#: The only tenants-table items a function writes: the rate limiter's per-second counters
#: (``{tenant}#RATE#{second}``, storage/ratelimit.py), never a key or tenant item (scopes,
#: revocation), which only the admin CLI writes.
RATE_COUNTER_KEYS = ["*#RATE#*"]


def tenant_statements() -> list[dict[str, Any]]:
    """API keys and tenants read; the rate limiter's counters, and only they, updated."""
    return [
        allow(["dynamodb:GetItem"], table_arns("TenantsTable")),
        {
            **allow(["dynamodb:UpdateItem"], table_arns("TenantsTable")),
            "Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": RATE_COUNTER_KEYS}},
        },
    ]


def api_statements() -> list[dict[str, Any]]:
    """The API function reads; it writes no catalog item and deletes nothing. Its writes:
    presigned uploads under import/ (it signs the URLs, starts and completes their multipart
    uploads), series metadata documents it rebuilds and answers over the payload limit under
    derived/ (composed by multipart copy, aborted when that fails)."""
    return [
        allow(["s3:GetObject"], objects(schema.DICOM_ROOT, schema.DERIVED_ROOT)),
        allow(["s3:PutObject"], objects(schema.IMPORT_ROOT, schema.DERIVED_ROOT)),
        allow(["s3:AbortMultipartUpload"], objects(schema.DERIVED_ROOT)),
        allow(S3_LIST, sub(BUCKET_ARN)),
        *catalog(
            ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query"], ["dynamodb:Query"]
        ),
        *tenant_statements(),
    ]


def api_role() -> dict[str, Any]:
    return role("api", API_FUNCTION_NAME, api_statements())


def pixel_role() -> dict[str, Any]:
    """The pixel function (native codecs on untrusted pixel data) serves GET routes only: it
    reads dicom/ and the catalog, and writes only derived/ (rendered caches, thumbnails,
    answers over the payload limit, composed there by multipart copy); tenants: the key
    lookup and the rate count. No catalog write, no delete, nothing outside those roots."""
    return role(
        "pixels",
        PIXEL_FUNCTION_NAME,
        [
            allow(["s3:GetObject"], objects(schema.DICOM_ROOT, schema.DERIVED_ROOT)),
            allow(["s3:PutObject", "s3:AbortMultipartUpload"], objects(schema.DERIVED_ROOT)),
            allow(S3_LIST, sub(BUCKET_ARN)),
            *catalog(["dynamodb:GetItem", "dynamodb:Query"]),
            *tenant_statements(),
        ],
    )


def store_role() -> dict[str, Any]:
    """STOW through the API and DELETE: instances written under dicom/, their fragments under
    derived/ and the catalog by the indexer's reconcile run inline, a withdrawn version
    deleted; DELETE purges every version of what it removes (dicom/ and derived/)."""
    return role(
        "store",
        STORE_FUNCTION_NAME,
        [
            allow(["s3:GetObject"], objects(schema.DICOM_ROOT)),
            allow(["s3:PutObject", *S3_REMOVE], objects(schema.DICOM_ROOT, schema.DERIVED_ROOT)),
            allow(S3_LIST_VERSIONS, sub(BUCKET_ARN)),
            *catalog([*CATALOG_WRITE, "dynamodb:Query"], ["dynamodb:Query"]),
            *tenant_statements(),
        ],
    )


def indexer_role() -> dict[str, Any]:
    """Ranged header reads (dicom/, import/) and the derived/ documents it keeps; imports
    copied into dicom/ or rejected/ and removed from import/; the catalog by reconcile; the
    queue, polled by Lambda's event source mapping with this role."""
    return role(
        "indexer",
        INDEX_FUNCTION_NAME,
        [
            allow(
                ["s3:GetObject"],
                objects(schema.DICOM_ROOT, schema.IMPORT_ROOT, schema.DERIVED_ROOT),
            ),
            allow(
                ["s3:PutObject"],
                objects(schema.DICOM_ROOT, schema.DERIVED_ROOT, schema.REJECTED_ROOT),
            ),
            allow(S3_REMOVE, objects(schema.IMPORT_ROOT)),
            allow(S3_LIST_VERSIONS, sub(BUCKET_ARN)),
            *catalog(CATALOG_WRITE, ["dynamodb:Query"]),
            allow(
                ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
                att("IndexQueue", "Arn"),
            ),
        ],
    )


def bucket() -> dict[str, Any]:
    return {
        "Type": "AWS::S3::Bucket",
        **RETAIN,
        "DependsOn": ["IndexQueuePolicy"],  # S3 tests the queue's permission at creation
        "Properties": {
            "BucketName": sub(BUCKET_NAME),
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {
                        "ServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"},
                        "BucketKeyEnabled": True,
                    }
                ]
            },
            "VersioningConfiguration": {"Status": "Enabled"},
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
            "LoggingConfiguration": {
                "DestinationBucketName": ref("AccessLogBucket"),
                "LogFilePrefix": "s3/dicom/",
            },
            "LifecycleConfiguration": {
                "Rules": [
                    {
                        "Id": "abort-incomplete-multipart-uploads",
                        "Status": "Enabled",
                        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 2},
                    },
                    {
                        # Re-stored instances leave their old bytes as noncurrent versions
                        # (DELETE purges every version itself).
                        "Id": "expire-noncurrent-versions",
                        "Status": "Enabled",
                        "NoncurrentVersionExpiration": {
                            "NoncurrentDays": ref("NoncurrentVersionDays")
                        },
                        "ExpiredObjectDeleteMarker": True,
                    },
                ]
            },
            "CorsConfiguration": {"CorsRules": bucket_cors()},
            "NotificationConfiguration": {
                "QueueConfigurations": [
                    {
                        "Event": event,
                        "Queue": att("IndexQueue", "Arn"),
                        "Filter": {"S3Key": {"Rules": [{"Name": "prefix", "Value": root}]}},
                    }
                    for root in schema.NOTIFIED_ROOTS
                    for event in schema.NOTIFIED_EVENTS
                ]
            },
        },
    }


def log_bucket() -> dict[str, Any]:
    return {
        "Type": "AWS::S3::Bucket",
        **RETAIN,
        "Metadata": skip(
            ("CKV_AWS_18", "this is the access-log target; logging it would recurse"),
        ),
        "Properties": {
            "BucketName": sub(LOG_BUCKET_NAME),
            # S3 server access logs can be delivered only to SSE-S3 buckets.
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                ]
            },
            "VersioningConfiguration": {"Status": "Enabled"},
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
            "LifecycleConfiguration": {
                "Rules": [
                    {
                        "Id": "expire-logs",
                        "Status": "Enabled",
                        "ExpirationInDays": 365,
                        "NoncurrentVersionExpiration": {"NoncurrentDays": 30},
                    }
                ]
            },
        },
    }


def bucket_policies() -> dict[str, Any]:
    log_arn = "arn:${AWS::Partition}:s3:::" + LOG_BUCKET_NAME
    return {
        "DicomBucketPolicy": {
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {
                "Bucket": ref("DicomBucket"),
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [tls_only([sub(BUCKET_ARN), sub(BUCKET_ARN + "/*")], "s3:*")],
                },
            },
        },
        "AccessLogBucketPolicy": {
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {
                "Bucket": ref("AccessLogBucket"),
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        tls_only([sub(log_arn), sub(log_arn + "/*")], "s3:*"),
                        {
                            "Sid": "S3ServerAccessLogs",
                            "Effect": "Allow",
                            "Principal": {"Service": "logging.s3.amazonaws.com"},
                            "Action": "s3:PutObject",
                            "Resource": sub(log_arn + "/s3/*"),
                            "Condition": {
                                "ArnLike": {"aws:SourceArn": sub(BUCKET_ARN)},
                                "StringEquals": {"aws:SourceAccount": sub("${AWS::AccountId}")},
                            },
                        },
                    ],
                },
            },
        },
    }


SSE_SQS = (
    "CKV_AWS_27",
    "encrypted with SSE-SQS (SqsManagedSseEnabled), which the check does not recognise; S3 "
    "cannot publish to a queue under the AWS-managed alias/aws/sqs key",
)
AWS_MANAGED_KEY = (
    "CKV_AWS_119",
    "encrypted at rest with the AWS-managed key (SSEEnabled); a customer-managed key adds a "
    "fixed monthly cost to an idle stack and is one property away for those who need it",
)


def queues() -> dict[str, Any]:
    return {
        "IndexDLQ": {
            "Type": "AWS::SQS::Queue",
            "Metadata": skip(SSE_SQS),
            "Properties": {
                "QueueName": sub("${AWS::StackName}-index-dlq"),
                "SqsManagedSseEnabled": True,
                "MessageRetentionPeriod": SQS_RETENTION_S,
            },
        },
        "IndexQueue": {
            "Type": "AWS::SQS::Queue",
            "Metadata": skip(SSE_SQS),
            "Properties": {
                "QueueName": sub("${AWS::StackName}-index"),
                # SSE-SQS: S3 cannot publish to a queue encrypted with alias/aws/sqs.
                "SqsManagedSseEnabled": True,
                "VisibilityTimeout": schema.QUEUE_VISIBILITY_TIMEOUT_S,
                "MessageRetentionPeriod": SQS_RETENTION_S,
                "RedrivePolicy": {
                    "deadLetterTargetArn": att("IndexDLQ", "Arn"),
                    "maxReceiveCount": schema.MAX_RECEIVE_COUNT,
                },
            },
        },
        "IndexQueuePolicy": {
            "Type": "AWS::SQS::QueuePolicy",
            "Properties": {
                "Queues": [ref("IndexQueue")],
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "BucketNotifications",
                            "Effect": "Allow",
                            "Principal": {"Service": "s3.amazonaws.com"},
                            "Action": "sqs:SendMessage",
                            "Resource": att("IndexQueue", "Arn"),
                            "Condition": {
                                "ArnLike": {"aws:SourceArn": sub(BUCKET_ARN)},
                                "StringEquals": {"aws:SourceAccount": sub("${AWS::AccountId}")},
                            },
                        },
                        tls_only([att("IndexQueue", "Arn")], "sqs:*"),
                    ],
                },
            },
        },
    }


def tables() -> dict[str, Any]:
    tenants = table_properties(schema.tenants_table("unused"))
    tenants["TimeToLiveSpecification"] = {
        "AttributeName": schema.TENANTS_TTL_ATTRIBUTE,
        "Enabled": True,
    }
    return {
        "CatalogTable": {
            "Type": "AWS::DynamoDB::Table",
            **RETAIN,
            "Metadata": skip(AWS_MANAGED_KEY),
            "Properties": table_properties(schema.catalog_table("unused")),
        },
        "TenantsTable": {
            "Type": "AWS::DynamoDB::Table",
            **RETAIN,
            "Metadata": skip(AWS_MANAGED_KEY),
            "Properties": tenants,
        },
    }


NO_KMS_LOGS = (
    "CKV_AWS_158",
    "logs hold UIDs, counts and request ids, never patient data (chalicelib/observability.py); "
    "a customer-managed key adds a fixed monthly cost to an idle stack",
)


def log_groups() -> dict[str, Any]:
    def group(name: str) -> dict[str, Any]:
        return {
            "Type": "AWS::Logs::LogGroup",
            "Metadata": skip(NO_KMS_LOGS),
            "Properties": {"LogGroupName": sub(name), "RetentionInDays": LOG_RETENTION_DAYS},
        }

    return {
        "ApiHandlerLogGroup": group(f"/aws/lambda/{API_FUNCTION_NAME}"),
        "IndexerLogGroup": group(f"/aws/lambda/{INDEX_FUNCTION_NAME}"),
        "PixelHandlerLogGroup": group(f"/aws/lambda/{PIXEL_FUNCTION_NAME}"),
        "StoreHandlerLogGroup": group(f"/aws/lambda/{STORE_FUNCTION_NAME}"),
        "ApiAccessLogGroup": group("/aws/apigateway/${AWS::StackName}-access"),
    }


LAMBDA_SKIPS = skip(
    ("CKV_AWS_117", "no VPC resources are used; a VPC would need NAT or endpoints (fixed cost)"),
    ("CKV_AWS_116", "not invoked asynchronously: API Gateway waits, SQS redrives to IndexDLQ"),
    (
        "CKV_AWS_173",
        "encrypted at rest with Lambda's AWS-managed key; besides resource names it holds the "
        "origin secret, which only tells CloudFront's requests apart (a CMK is a fixed cost)",
    ),
    (
        "CKV_AWS_115",
        "concurrency is bounded by API throttling and the SQS source's MaximumConcurrency; "
        "reserving it fails on new accounts (10 concurrent executions)",
    ),
)

# $context.path holds UIDs only; query strings (patient names in QIDO) are never logged.
ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "time": "$context.requestTime",
        "ip": "$context.identity.sourceIp",
        "method": "$context.httpMethod",
        "resource": "$context.resourcePath",
        "status": "$context.status",
        "bytes": "$context.responseLength",
        "latencyMs": "$context.responseLatency",
        "integrationMs": "$context.integrationLatency",
        "error": "$context.error.responseType",
    }
)


#: The origin secret (infra/front.py's Secrets Manager secret), resolved by CloudFormation.
ORIGIN_SECRET_REF = sub("{{resolve:secretsmanager:${OriginSecret}:SecretString}}")


def functions() -> dict[str, Any]:
    # the indexer answers no HTTP request: it needs no origin secret
    http = {"Environment": {"Variables": {**env(), "ORIGIN_SECRET": ORIGIN_SECRET_REF}}}
    common = {"Environment": {"Variables": env()}}
    return {
        API_FUNCTION: {
            "Metadata": LAMBDA_SKIPS,
            "DependsOn": ["ApiHandlerLogGroup"],
            "Properties": {
                **http,
                "FunctionName": sub(API_FUNCTION_NAME),
                "Role": att("ApiHandlerRole", "Arn"),
                "MemorySize": API_MEMORY_MB,
                "Timeout": API_TIMEOUT_S,
            },
        },
        INDEX_FUNCTION: {
            "Metadata": LAMBDA_SKIPS,
            "DependsOn": ["IndexerLogGroup"],
            "Properties": {
                **common,
                "FunctionName": sub(INDEX_FUNCTION_NAME),
                "Role": att("IndexerRole", "Arn"),
                "MemorySize": INDEX_MEMORY_MB,
                "Timeout": schema.INDEXER_TIMEOUT_S,
                "Events": {
                    INDEX_EVENT_SOURCE: {
                        "Type": "SQS",
                        "Properties": {
                            "BatchSize": schema.INDEXER_BATCH_SIZE,
                            # the indexer returns batchItemFailures: only those are retried
                            "FunctionResponseTypes": ["ReportBatchItemFailures"],
                            "ScalingConfig": {"MaximumConcurrency": ref("IndexMaxConcurrency")},
                        },
                    }
                },
            },
        },
        # PIXEL_FUNCTION itself is a copy of Chalice's API function made by infra/build.py
        # (same code, handler and settings); these are the parts that differ.
        PIXEL_LAYER: {
            "Type": "AWS::Serverless::LayerVersion",
            "Properties": {
                "Description": "numpy, Pillow and the pylibjpeg codecs (the pixel routes only)",
                "ContentUri": f"./{PIXEL_LAYER_ZIP}",
                "CompatibleRuntimes": ["python3.11"],
                "CompatibleArchitectures": ["x86_64"],
                "RetentionPolicy": "Delete",
            },
        },
        "PixelHandlerInvokePermission": invoke_permission(PIXEL_FUNCTION),
        "StoreHandlerInvokePermission": invoke_permission(STORE_FUNCTION),
        "ApiHandlerRole": api_role(),
        "IndexerRole": indexer_role(),
        "PixelHandlerRole": pixel_role(),
        "StoreHandlerRole": store_role(),
    }


def invoke_permission(function: str) -> dict[str, Any]:
    """API Gateway may invoke ``function`` (Chalice writes this one for its own function)."""
    return {
        "Type": "AWS::Lambda::Permission",
        "Properties": {
            "FunctionName": ref(function),
            "Action": "lambda:InvokeFunction",
            "Principal": "apigateway.amazonaws.com",
            "SourceArn": {
                "Fn::Sub": [
                    "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:"
                    "${RestAPIId}/*",
                    {"RestAPIId": ref("RestAPI")},
                ]
            },
        },
    }


def copy_of(api_function: dict[str, Any], name: str, function_name: str) -> dict[str, Any]:
    """Chalice's API function (runtime, handler, code, environment, tracing, memory) as the
    function ``name``: its own function name, role (``{name}Role``) and log group."""
    function: dict[str, Any] = json.loads(json.dumps(api_function))
    function["DependsOn"] = [f"{name}LogGroup"]
    function["Properties"].update(
        {"FunctionName": sub(function_name), "Role": att(f"{name}Role", "Arn")}
    )
    return function


def pixel_function(api_function: dict[str, Any]) -> dict[str, Any]:
    """The pixel function: the API function with more memory and the pixel layer."""
    function = copy_of(api_function, PIXEL_FUNCTION, PIXEL_FUNCTION_NAME)
    function["Properties"].update({"MemorySize": PIXEL_MEMORY_MB, "Layers": [ref(PIXEL_LAYER)]})
    return function


def store_function(api_function: dict[str, Any]) -> dict[str, Any]:
    """The store function: the API function's code, serving only the routes that write the
    catalog (STOW through the API, DELETE), with the one HTTP role that may."""
    return copy_of(api_function, STORE_FUNCTION, STORE_FUNCTION_NAME)


def api() -> dict[str, Any]:
    return {
        "RestAPI": {
            "Metadata": skip(
                ("CKV_AWS_120", "responses are per tenant and per API key: a cache would leak"),
                (
                    "CKV2_AWS_29",
                    "WAF has a fixed monthly cost; attach a web ACL to the stage in production",
                ),
            ),
            "Properties": {
                "TracingEnabled": True,
                "AccessLogSetting": {
                    "DestinationArn": att("ApiAccessLogGroup", "Arn"),
                    "Format": ACCESS_LOG_FORMAT,
                },
                "MethodSettings": [
                    {
                        "ResourcePath": "/*",
                        "HttpMethod": "*",
                        # Execution logs would record query strings, i.e. patient names.
                        "LoggingLevel": "OFF",
                        "DataTraceEnabled": False,
                        "MetricsEnabled": True,
                        "ThrottlingRateLimit": ref("ApiThrottleRate"),
                        "ThrottlingBurstLimit": ref("ApiThrottleBurst"),
                    }
                ],
                "GatewayResponses": GATEWAY_RESPONSES,
            },
        },
        # Access logging needs the account's API Gateway CloudWatch role (one per region).
        "ApiGatewayCloudWatchRole": {
            "Type": "AWS::IAM::Role",
            "Condition": "SetAccountRole",
            "Properties": {
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "apigateway.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                },
                "ManagedPolicyArns": [
                    sub(
                        "arn:${AWS::Partition}:iam::aws:policy/service-role/"
                        "AmazonAPIGatewayPushToCloudWatchLogs"
                    )
                ],
            },
        },
        "ApiGatewayAccount": {
            "Type": "AWS::ApiGateway::Account",
            "Condition": "SetAccountRole",
            "Properties": {"CloudWatchRoleArn": att("ApiGatewayCloudWatchRole", "Arn")},
        },
    }


def tracing() -> dict[str, Any]:
    """The stage's X-Ray sampling rule: API Gateway decides for each request by it whether it is
    traced, and the functions (active tracing) follow its decision; no SDK in the code is
    involved. Chosen in chalicelib/observability.py (``TRACE_*``), priced in docs/cost.md: the
    first request each second, fleet-wide, then 1 % (X-Ray's default rule: 1/s then 5 %)."""
    return {
        "ApiSamplingRule": {
            "Type": "AWS::XRay::SamplingRule",
            "Properties": {
                "SamplingRule": {
                    # 32 characters at most: 9 + the API's 10-character id
                    "RuleName": sub("dicomweb-${RestAPI}"),
                    "Priority": 1000,
                    "ReservoirSize": TRACE_RESERVOIR_PER_S,
                    "FixedRate": TRACE_FIXED_RATE,
                    "ResourceARN": sub(API_STAGE_ARN),
                    "ServiceType": "AWS::ApiGateway::Stage",
                    "ServiceName": "*",
                    "Host": "*",
                    "HTTPMethod": "*",
                    "URLPath": "*",
                    "Version": 1,
                }
            },
        }
    }


def alarm(
    description: str, metric: dict[str, Any], threshold: float, **extra: Any
) -> dict[str, Any]:
    return {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "AlarmDescription": description,
            **metric,
            "Period": 300,
            "EvaluationPeriods": extra.pop("EvaluationPeriods", 1),
            "Threshold": threshold,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "TreatMissingData": "notBreaching",
            "AlarmActions": [ref("AlarmTopic")],
            "OKActions": [ref("AlarmTopic")],
            **extra,
        },
    }


def metric(namespace: str, name: str, stat: str, **dimensions: Any) -> dict[str, Any]:
    return {
        "Namespace": namespace,
        "MetricName": name,
        "Statistic": stat,
        "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
    }


def alarms() -> dict[str, Any]:
    api_dims = {"ApiName": APP_NAME, "Stage": API_STAGE}
    return {
        "AlarmTopic": {
            "Type": "AWS::SNS::Topic",
            "Properties": {"KmsMasterKeyId": "alias/aws/sns"},
        },
        "AlarmEmailSubscription": {
            "Type": "AWS::SNS::Subscription",
            "Condition": "HasAlarmEmail",
            "Properties": {
                "TopicArn": ref("AlarmTopic"),
                "Protocol": "email",
                "Endpoint": ref("AlarmEmail"),
            },
        },
        "DeadLetterAlarm": alarm(
            "Objects the indexer gave up on are in the dead-letter queue",
            metric(
                "AWS/SQS",
                "ApproximateNumberOfMessagesVisible",
                "Maximum",
                QueueName=att("IndexDLQ", "QueueName"),
            ),
            1,
        ),
        "IndexLagAlarm": alarm(
            "Stored objects wait over 15 minutes to be indexed",
            metric(
                "AWS/SQS",
                "ApproximateAgeOfOldestMessage",
                "Maximum",
                QueueName=att("IndexQueue", "QueueName"),
            ),
            900,
        ),
        "IndexRetentionAlarm": alarm(
            "The index queue's oldest S3 event is a day old: SQS deletes it unindexed at 14 days "
            "(no dead-letter queue). Find why the indexer falls behind (its errors, throttles, the "
            "account's concurrency), raise IndexMaxConcurrency if undersized; if events may "
            "expire, recover with `python -m dicomweb_cli --stack NAME reindex` "
            "(docs/scale.md, Nothing lost to retention)",
            metric(
                "AWS/SQS",
                "ApproximateAgeOfOldestMessage",
                "Maximum",
                QueueName=att("IndexQueue", "QueueName"),
            ),
            INDEX_RETENTION_ALARM_S,
        ),
        "IndexerErrorAlarm": alarm(
            "The indexer function failed",
            metric("AWS/Lambda", "Errors", "Sum", FunctionName=ref(INDEX_FUNCTION)),
            1,
        ),
        "Api5xxAlarm": alarm(
            "Over 1% of API requests answered 5xx",
            metric("AWS/ApiGateway", "5XXError", "Average", **api_dims),
            0.01,
            EvaluationPeriods=3,
            DatapointsToAlarm=2,
        ),
        "ApiThrottleAlarm": alarm(
            "The API function was throttled",
            metric("AWS/Lambda", "Throttles", "Sum", FunctionName=ref(API_FUNCTION)),
            1,
        ),
        "PixelThrottleAlarm": alarm(
            "The pixel function was throttled",
            metric("AWS/Lambda", "Throttles", "Sum", FunctionName=ref(PIXEL_FUNCTION)),
            1,
        ),
        "StoreThrottleAlarm": alarm(
            "The store function was throttled",
            metric("AWS/Lambda", "Throttles", "Sum", FunctionName=ref(STORE_FUNCTION)),
            1,
        ),
        "IndexerThrottleAlarm": alarm(
            "The indexer function was throttled",
            metric("AWS/Lambda", "Throttles", "Sum", FunctionName=ref(INDEX_FUNCTION)),
            1,
        ),
    }


def outputs() -> dict[str, Any]:
    def out(description: str, value: Any) -> dict[str, Any]:
        return {"Description": description, "Value": value}

    return {
        "DicomWebRoot": out(
            "The DICOMweb root clients configure (CloudFront: STOW to the receiver, the rest to "
            "the API)",
            {
                "Fn::If": [
                    "HasPublicRoot",
                    sub("${PublicRoot}/"),
                    sub("https://${Distribution.DomainName}/"),
                ]
            },
        ),
        # Chalice's output; this adds its description
        "EndpointURL": {
            "Description": "API Gateway's own URL (secondary: no STOW receiver; URLs in "
            "answers name this host)"
        },
        "DistributionId": out("The CloudFront distribution", ref("Distribution")),
        "ReceiverService": {
            "Condition": "ReceiverEnabled",
            **out("ECS service of the STOW receiver", att("ReceiverService", "Name")),
        },
        "DicomBucket": out("S3 bucket of the archive (Retain)", ref("DicomBucket")),
        "CatalogTable": out("DynamoDB catalog table (Retain)", ref("CatalogTable")),
        "TenantsTable": out(
            "DynamoDB tenants and API keys (python -m dicomweb_cli --stack NAME)",
            ref("TenantsTable"),
        ),
        "IndexQueueUrl": out("S3 events to the indexer", ref("IndexQueue")),
        "IndexDLQUrl": out("Objects the indexer gave up on", ref("IndexDLQ")),
        "AccessLogBucket": out("S3 server access logs (Retain)", ref("AccessLogBucket")),
        "AlarmTopic": out("SNS topic of the alarms", ref("AlarmTopic")),
    }


PARAMETERS = {
    "ApiThrottleRate": {
        "Type": "Number",
        "Default": 200,
        "Description": "API Gateway steady requests a second (all tenants)",
    },
    "ApiThrottleBurst": {
        "Type": "Number",
        "Default": 400,
        "Description": "API Gateway burst (all tenants)",
    },
    "TenantRateLimit": {
        "Type": "Number",
        "Default": 100,
        "MinValue": 0,
        "Description": "Requests a second one tenant may make, in any one-second window (0: no "
        "per-tenant limit); a tenant item's rate_limit overrides it",
    },
    "NoncurrentVersionDays": {
        "Type": "Number",
        "Default": 30,
        "MinValue": 1,
        "Description": "Days a replaced object's old bytes are kept",
    },
    "IndexMaxConcurrency": {
        "Type": "Number",
        "Default": INDEX_MAX_CONCURRENCY,
        "MinValue": 2,
        "MaxValue": 1000,
        "Description": "Indexer functions at once (the SQS source's MaximumConcurrency): 50 keeps "
        "pace with 10x the largest tenant (docs/scale.md); lower it on a new account whose Lambda "
        "quota is 10 until the quota is raised",
    },
    "AlarmEmail": {
        "Type": "String",
        "Default": "",
        "Description": "Address subscribed to the alarms (empty: none)",
    },
    "SetApiGatewayAccountRole": {
        "Type": "String",
        "Default": "true",
        "AllowedValues": ["true", "false"],
        "Description": "Set the region's API Gateway CloudWatch role (needed for access logs); "
        "false if the account already has one",
    },
    # --- the front and the STOW receiver (infra/front.py, infra/receiver.py) ------------------
    "StowReceiver": {
        "Type": "String",
        "Default": "Enabled",
        "AllowedValues": ["Enabled", "Disabled"],
        "Description": "Enabled: CloudFront sends every STOW to the streaming receiver on ECS "
        "Fargate (any size; a task stays on). Disabled: STOW goes to the API (10 MB; larger "
        "bodies get 413 pointing to POST /uploads) and nothing of the receiver exists",
    },
}

CONDITIONS: dict[str, Any] = {
    "HasAlarmEmail": {"Fn::Not": [{"Fn::Equals": [ref("AlarmEmail"), ""]}]},
    "SetAccountRole": {"Fn::Equals": [ref("SetApiGatewayAccountRole"), "true"]},
    "ReceiverEnabled": {"Fn::Equals": [ref("StowReceiver"), "Enabled"]},
}


def needs(parameter: str, why: str) -> dict[str, Any]:
    return {"Assert": {"Fn::Not": [{"Fn::Equals": [ref(parameter), ""]}]}, "AssertDescription": why}


def merge_template() -> dict[str, Any]:
    """The template given to ``chalice package --merge-template``."""
    # infra/front.py and infra/receiver.py build on this module's definitions
    from infra import front, receiver

    resources: dict[str, Any] = {
        "DicomBucket": bucket(),
        "AccessLogBucket": log_bucket(),
        **bucket_policies(),
        **queues(),
        **tables(),
        **log_groups(),
        **functions(),
        **api(),
        **tracing(),
        **alarms(),
        **front.resources(),
        **receiver.resources(),
    }
    return {
        "Description": "Serverless DICOMweb service: CloudFront in front of the API and the "
        "streaming STOW receiver, indexer, archive bucket, catalog",
        "Parameters": {**PARAMETERS, **front.PARAMETERS, **receiver.PARAMETERS},
        "Conditions": {**CONDITIONS, **front.CONDITIONS, **receiver.CONDITIONS},
        "Rules": {**front.RULES, **receiver.RULES},
        "Resources": resources,
        "Outputs": outputs(),
    }
