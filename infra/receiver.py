"""The streaming STOW receiver in AWS (``receiver/``, issue 22): ECS on Fargate behind an
internal Application Load Balancer that only CloudFront reaches, through a VPC origin. Every
resource here carries ``Condition: ReceiverEnabled`` (``StowReceiver`` = Enabled).

* **Network, without NAT** (a NAT gateway is ~$33 a month before any byte): one VPC, two
  public subnets for the tasks (each task gets a public IPv4 address for egress, $0.005 an
  hour, and a security group that admits only the load balancer), two private subnets (no route
  to the internet) for the internal ALB and CloudFront's VPC-origin interfaces; S3 and DynamoDB
  through free gateway endpoints. Interface endpoints instead of public addresses (ECR/logs/
  Secrets Manager/STS in two zones) would cost ~$58 a month. Flow logs record the VPC's traffic.
* **The code, without building an image**: two stock images, no Docker and no ECR. An init
  container (the AWS CLI image) copies ``receiver.zip`` (built by ``infra/build.py``: the lean
  Lambda package, the ``receiver`` package and its pure-Python server) from the artifact bucket
  into a task volume; the receiver container (the Python image of the functions' version) unpacks
  it and runs ``python -m receiver``, the entry point that runs locally as a process. A new zip
  is a new ``ReceiverCodeKey``: a new task definition revision, a rolling deployment.
* **Scaling**: target tracking on the service's average CPU (a task is one Python process on one
  vCPU; parsing, hashing and part uploads are CPU-bound; an ALB request count would not see that
  one upload can carry gigabytes). At least one task, at most ``ReceiverMaxTasks``.
* **Least privilege**: the task role may store and index STOWed instances (``dicom/`` and their
  ``derived/`` fragments), read API keys and count the rate limiter, read its own code object;
  nothing else (``tests/infra/test_receiver.py`` records the calls a STOW makes and checks them
  against it). The execution role writes the task's logs and reads the origin secret.
"""

from __future__ import annotations

from typing import Any

from chalicelib.config import Settings
from chalicelib.storage import schema
from infra.template import (
    BUCKET_ARN,
    CATALOG_WRITE,
    LOG_RETENTION_DAYS,
    NO_KMS_LOGS,
    S3_LIST_VERSIONS,
    S3_REMOVE,
    alarm,
    allow,
    att,
    catalog,
    env,
    metric,
    needs,
    objects,
    ref,
    skip,
    sub,
    tenant_statements,
)

CONDITION = "ReceiverEnabled"
PORT = 8080  # python -m receiver listens on $PORT
HEALTH_PATH = "/health"
#: One task: one Python process, one vCPU (Fargate's smallest size with 2 GB). A STOW holds
#: ~48 MiB at most whatever its size (chalicelib/services/stow_stream.py).
CPU_UNITS = 1024
MEMORY_MB = 2048
MIN_TASKS = 1
MAX_TASKS = 10
CPU_TARGET_PERCENT = 60
#: CloudFront's origin response timeout without a quota increase.
READ_TIMEOUT_S = 60
#: ALB: a connection idle this long is closed. A STOW's bytes keep it busy; after its last byte
#: it indexes for ~17 s at worst (chalicelib/services/searchable.py). Below the receiver's
#: keep-alive (75 s, receiver/app.py uvicorn_config), so the ALB, never the target, closes an
#: idle connection (a target closing first turns the ALB's next request on it into a 502).
IDLE_TIMEOUT_S = 60
#: In-flight STOWs of a task being scaled in or replaced finish first (ALB draining), then
#: the task gets SIGTERM and up to STOP_TIMEOUT_S to close.
DEREGISTRATION_DELAY_S = 300
STOP_TIMEOUT_S = 120
#: The functions' Python (infra/build.py LAMBDA_PYTHON): the zip's wheels and bytecode are
#: cp311. Stock images from ECR Public (Docker official images' mirror; the AWS CLI's own).
PYTHON_IMAGE = "public.ecr.aws/docker/library/python:3.11-slim-bookworm"
FETCH_IMAGE = "public.ecr.aws/aws-cli/aws-cli:2.17.0"
CODE_ZIP = "receiver.zip"
CODE_DIR = "/code"
VPC_CIDR = "10.20.0.0/16"
PUBLIC_CIDRS = ("10.20.0.0/24", "10.20.1.0/24")
PRIVATE_CIDRS = ("10.20.10.0/24", "10.20.11.0/24")
LOG_GROUP = "/ecs/${AWS::StackName}-receiver"
FLOW_LOG_GROUP = "/vpc/${AWS::StackName}-flow"
CODE_ARN = "arn:${AWS::Partition}:s3:::${ReceiverCodeBucket}/${ReceiverCodeKey}"
#: What the receiver container runs: unpack the code the init container fetched, then the
#: same entry point as locally. exec: uvicorn gets ECS's SIGTERM and drains its requests.
COMMAND = (
    f"python -m zipfile -e {CODE_DIR}/{CODE_ZIP} {CODE_DIR}/app "
    f"&& cd {CODE_DIR}/app && exec python -m receiver"
)
FETCH_COMMAND = (
    f"aws s3 cp --only-show-errors s3://${{ReceiverCodeBucket}}/${{ReceiverCodeKey}} "
    f"{CODE_DIR}/{CODE_ZIP} && chmod a+rwx {CODE_DIR}"
)
HEALTH_COMMAND = (
    "import urllib.request; "
    f"urllib.request.urlopen('http://127.0.0.1:{PORT}{HEALTH_PATH}', timeout=3)"
)
USER = "1000:1000"  # not root; the image needs no user of that id for python to run

PARAMETERS: dict[str, Any] = {
    "ReceiverCodeBucket": {
        "Type": "String",
        "Default": "",
        "Description": "Bucket of the receiver's code zip (infra/deploy.py: the artifact bucket)",
    },
    "ReceiverCodeKey": {
        "Type": "String",
        "Default": "",
        "Description": "Key of the receiver's code zip (content-addressed; a new key rolls the "
        "tasks)",
    },
    "CloudFrontOriginFacingPrefixList": {
        "Type": "String",
        "Default": "",
        "AllowedPattern": "^(pl-[0-9a-f]+)?$",
        "Description": "ID of the region's com.amazonaws.global.cloudfront.origin-facing "
        "prefix list (infra/deploy.py looks it up): the only source the receiver's ALB admits",
    },
    "ReceiverMaxTasks": {
        "Type": "Number",
        "Default": MAX_TASKS,
        "MinValue": 1,
        "Description": "Most receiver tasks target tracking may run (at least one always runs)",
    },
    "ReceiverOriginReadTimeout": {
        "Type": "Number",
        "Default": READ_TIMEOUT_S,
        "MinValue": 1,
        "MaxValue": 180,
        "Description": "Seconds CloudFront waits for the receiver's answer; over 60 needs a "
        "CloudFront quota increase",
    },
    "ReceiverZoneIds": {
        "Type": "CommaDelimitedList",
        "Default": "",
        "Description": "Two availability zone IDs for the receiver's subnets (e.g. "
        "use1-az1,use1-az2) if the region's first two zones do not offer CloudFront VPC origins",
    },
    "ReceiverImage": {
        "Type": "String",
        "Default": PYTHON_IMAGE,
        "Description": "The receiver container's image: a stock Python of the functions' "
        "version (the code zip's wheels and bytecode are CPython 3.11, x86_64)",
    },
    "ReceiverFetchImage": {
        "Type": "String",
        "Default": FETCH_IMAGE,
        "Description": "The init container's image (copies the code zip from S3)",
    },
}
CONDITIONS: dict[str, Any] = {
    "HasReceiverZoneIds": {
        "Fn::Not": [{"Fn::Equals": [{"Fn::Join": ["", ref("ReceiverZoneIds")]}, ""]}]
    },
}
#: Checked before any resource is touched: a create or update with the receiver enabled and
#: without its code would otherwise fail half-way, at the task.
RULES: dict[str, Any] = {
    "ReceiverNeedsItsCodeAndPrefixList": {
        "RuleCondition": {"Fn::Equals": [ref("StowReceiver"), "Enabled"]},
        "Assertions": [
            needs(name, f"StowReceiver=Enabled needs {name}")
            for name in (
                "ReceiverCodeBucket",
                "ReceiverCodeKey",
                "CloudFrontOriginFacingPrefixList",
            )
        ],
    },
}


def when(resource: dict[str, Any]) -> dict[str, Any]:
    return {**resource, "Condition": CONDITION}


def zone(index: int) -> dict[str, Any]:
    """The subnet's zone: ``ReceiverZoneIds``' entry (zone IDs, e.g. use1-az1: CloudFront VPC
    origins are not offered in every zone), else the region's first zones by name."""
    return {
        "AvailabilityZone": {
            "Fn::If": [
                "HasReceiverZoneIds",
                ref("AWS::NoValue"),
                {"Fn::Select": [index, {"Fn::GetAZs": ""}]},
            ]
        },
        "AvailabilityZoneId": {
            "Fn::If": [
                "HasReceiverZoneIds",
                {"Fn::Select": [index, ref("ReceiverZoneIds")]},
                ref("AWS::NoValue"),
            ]
        },
    }


def network() -> dict[str, Any]:
    out: dict[str, Any] = {
        "ReceiverVpc": when(
            {
                "Type": "AWS::EC2::VPC",
                "Properties": {
                    "CidrBlock": VPC_CIDR,
                    "EnableDnsSupport": True,
                    "EnableDnsHostnames": True,
                    "Tags": [{"Key": "Name", "Value": sub("${AWS::StackName}-receiver")}],
                },
            }
        ),
        # Tasks' egress, and CloudFront VPC origins need the VPC to have an internet gateway.
        "ReceiverInternetGateway": when({"Type": "AWS::EC2::InternetGateway"}),
        "ReceiverGatewayAttachment": when(
            {
                "Type": "AWS::EC2::VPCGatewayAttachment",
                "Properties": {
                    "VpcId": ref("ReceiverVpc"),
                    "InternetGatewayId": ref("ReceiverInternetGateway"),
                },
            }
        ),
        "ReceiverPublicRoutes": when(
            {"Type": "AWS::EC2::RouteTable", "Properties": {"VpcId": ref("ReceiverVpc")}}
        ),
        "ReceiverPrivateRoutes": when(
            {"Type": "AWS::EC2::RouteTable", "Properties": {"VpcId": ref("ReceiverVpc")}}
        ),
        "ReceiverInternetRoute": when(
            {
                "Type": "AWS::EC2::Route",
                "DependsOn": ["ReceiverGatewayAttachment"],
                "Properties": {
                    "RouteTableId": ref("ReceiverPublicRoutes"),
                    "DestinationCidrBlock": "0.0.0.0/0",
                    "GatewayId": ref("ReceiverInternetGateway"),
                },
            }
        ),
    }
    for kind, cidrs in (("Public", PUBLIC_CIDRS), ("Private", PRIVATE_CIDRS)):
        for i, cidr in enumerate(cidrs):
            name = f"Receiver{kind}Subnet{i + 1}"
            out[name] = when(
                {
                    "Type": "AWS::EC2::Subnet",
                    "Properties": {
                        "VpcId": ref("ReceiverVpc"),
                        "CidrBlock": cidr,
                        **zone(i),
                        # tasks get their public address from the service, nothing by default
                        "MapPublicIpOnLaunch": False,
                        "Tags": [
                            {"Key": "Name", "Value": sub(f"${{AWS::StackName}}-{kind.lower()}")}
                        ],
                    },
                }
            )
            out[f"{name}Routes"] = when(
                {
                    "Type": "AWS::EC2::SubnetRouteTableAssociation",
                    "Properties": {
                        "SubnetId": ref(name),
                        "RouteTableId": ref(f"Receiver{kind}Routes"),
                    },
                }
            )
    for service in ("s3", "dynamodb"):
        out[f"Receiver{'S3' if service == 's3' else 'DynamoDB'}Endpoint"] = when(
            {
                "Type": "AWS::EC2::VPCEndpoint",
                "Properties": {
                    "VpcId": ref("ReceiverVpc"),
                    "ServiceName": sub(f"com.amazonaws.${{AWS::Region}}.{service}"),
                    "VpcEndpointType": "Gateway",
                    "RouteTableIds": [ref("ReceiverPublicRoutes"), ref("ReceiverPrivateRoutes")],
                },
            }
        )
    out.update(flow_logs())
    return out


def flow_logs() -> dict[str, Any]:
    group_arn = sub(
        "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:"
        + FLOW_LOG_GROUP
        + ":*"
    )
    return {
        "ReceiverFlowLogGroup": when(
            {
                "Type": "AWS::Logs::LogGroup",
                "Metadata": skip(NO_KMS_LOGS),
                "Properties": {
                    "LogGroupName": sub(FLOW_LOG_GROUP),
                    "RetentionInDays": LOG_RETENTION_DAYS,
                },
            }
        ),
        "ReceiverFlowLogRole": when(
            {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "AssumeRolePolicyDocument": assume("vpc-flow-logs.amazonaws.com"),
                    "Policies": [
                        {
                            "PolicyName": "flow-logs",
                            "PolicyDocument": {
                                "Version": "2012-10-17",
                                "Statement": [
                                    allow(
                                        [
                                            "logs:CreateLogStream",
                                            "logs:PutLogEvents",
                                            "logs:DescribeLogStreams",
                                        ],
                                        group_arn,
                                    )
                                ],
                            },
                        }
                    ],
                },
            }
        ),
        "ReceiverFlowLog": when(
            {
                "Type": "AWS::EC2::FlowLog",
                "Properties": {
                    "ResourceId": ref("ReceiverVpc"),
                    "ResourceType": "VPC",
                    "TrafficType": "ALL",
                    "LogDestinationType": "cloud-watch-logs",
                    "LogGroupName": ref("ReceiverFlowLogGroup"),
                    "DeliverLogsPermissionArn": att("ReceiverFlowLogRole", "Arn"),
                },
            }
        ),
    }


def assume(service: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
        ],
    }


def security_groups() -> dict[str, Any]:
    return {
        # Only CloudFront: its origin-facing addresses (the AWS-managed prefix list, which
        # VPC-origin traffic comes from), on the listener's port.
        "ReceiverLoadBalancerSecurityGroup": when(
            {
                "Type": "AWS::EC2::SecurityGroup",
                "Properties": {
                    "GroupDescription": "Receiver ALB: CloudFront (VPC origin) only",
                    "VpcId": ref("ReceiverVpc"),
                    "SecurityGroupIngress": [
                        {
                            "Description": "CloudFront origin-facing addresses",
                            "IpProtocol": "tcp",
                            "FromPort": 80,
                            "ToPort": 80,
                            "SourcePrefixListId": ref("CloudFrontOriginFacingPrefixList"),
                        }
                    ],
                    "SecurityGroupEgress": [
                        {
                            "Description": "to the receiver tasks",
                            "IpProtocol": "tcp",
                            "FromPort": PORT,
                            "ToPort": PORT,
                            "CidrIp": VPC_CIDR,
                        }
                    ],
                },
            }
        ),
        "ReceiverTaskSecurityGroup": when(
            {
                "Type": "AWS::EC2::SecurityGroup",
                "Properties": {
                    "GroupDescription": "Receiver tasks: the load balancer only",
                    "VpcId": ref("ReceiverVpc"),
                    "SecurityGroupIngress": [
                        {
                            "Description": "from the receiver ALB",
                            "IpProtocol": "tcp",
                            "FromPort": PORT,
                            "ToPort": PORT,
                            "SourceSecurityGroupId": ref("ReceiverLoadBalancerSecurityGroup"),
                        }
                    ],
                    "SecurityGroupEgress": [
                        {
                            "Description": "HTTPS to AWS APIs and ECR Public",
                            "IpProtocol": "tcp",
                            "FromPort": 443,
                            "ToPort": 443,
                            "CidrIp": "0.0.0.0/0",
                        }
                    ],
                },
            }
        ),
    }


def load_balancer() -> dict[str, Any]:
    return {
        "ReceiverLoadBalancer": when(
            {
                "Type": "AWS::ElasticLoadBalancingV2::LoadBalancer",
                "Metadata": skip(
                    (
                        "CKV_AWS_91",
                        "ALB access logs record full URLs (query strings); the receiver logs "
                        "each request itself, and CloudFront is the only client",
                    ),
                ),
                "Properties": {
                    "Type": "application",
                    "Scheme": "internal",
                    "Subnets": [ref("ReceiverPrivateSubnet1"), ref("ReceiverPrivateSubnet2")],
                    "SecurityGroups": [ref("ReceiverLoadBalancerSecurityGroup")],
                    "LoadBalancerAttributes": [
                        {"Key": "idle_timeout.timeout_seconds", "Value": str(IDLE_TIMEOUT_S)},
                        {"Key": "routing.http.drop_invalid_header_fields.enabled", "Value": "true"},
                        {"Key": "deletion_protection.enabled", "Value": "false"},
                    ],
                },
            }
        ),
        "ReceiverTargetGroup": when(
            {
                "Type": "AWS::ElasticLoadBalancingV2::TargetGroup",
                "Properties": {
                    "VpcId": ref("ReceiverVpc"),
                    "TargetType": "ip",
                    "Protocol": "HTTP",
                    "Port": PORT,
                    "HealthCheckProtocol": "HTTP",
                    "HealthCheckPath": HEALTH_PATH,
                    "HealthCheckIntervalSeconds": 15,
                    "HealthyThresholdCount": 2,
                    "UnhealthyThresholdCount": 3,
                    "Matcher": {"HttpCode": "200"},
                    "TargetGroupAttributes": [
                        {
                            "Key": "deregistration_delay.timeout_seconds",
                            "Value": str(DEREGISTRATION_DELAY_S),
                        }
                    ],
                },
            }
        ),
        "ReceiverListener": when(
            {
                "Type": "AWS::ElasticLoadBalancingV2::Listener",
                "Metadata": skip(
                    (
                        "CKV_AWS_2",
                        "internal ALB reached only through CloudFront's VPC origin inside AWS's "
                        "network; HTTPS needs a certificate for a domain of its own",
                    ),
                    ("CKV_AWS_103", "HTTP listener, see CKV_AWS_2"),
                ),
                "Properties": {
                    "LoadBalancerArn": ref("ReceiverLoadBalancer"),
                    "Port": 80,
                    "Protocol": "HTTP",
                    "DefaultActions": [
                        {"Type": "forward", "TargetGroupArn": ref("ReceiverTargetGroup")}
                    ],
                },
            }
        ),
        "ReceiverVpcOrigin": when(
            {
                "Type": "AWS::CloudFront::VpcOrigin",
                "Properties": {
                    "VpcOriginEndpointConfig": {
                        "Name": sub("${AWS::StackName}-receiver"),
                        "Arn": ref("ReceiverLoadBalancer"),
                        "HTTPPort": 80,
                        "HTTPSPort": 443,
                        "OriginProtocolPolicy": "http-only",
                        "OriginSSLProtocols": ["TLSv1.2"],
                    }
                },
            }
        ),
    }


def task_statements() -> list[dict[str, Any]]:
    """What a STOW does (chalicelib/services/stow.py, stow_stream.py, searchable.py): the
    instance PUT or multipart upload under dicom/ (aborted when a part fails), its header read
    back, its fragment under derived/ and the catalog by the indexer's reconcile, a withdrawn
    version deleted and its key reconciled again (ListBucketVersions); API keys and the rate
    limiter. Exactly what tests/infra/test_permissions.py records the receiver calling."""
    return [
        allow(["s3:GetObject"], objects(schema.DICOM_ROOT)),
        allow(["s3:PutObject", *S3_REMOVE], objects(schema.DICOM_ROOT, schema.DERIVED_ROOT)),
        allow(["s3:AbortMultipartUpload"], objects(schema.DICOM_ROOT)),
        allow(S3_LIST_VERSIONS, sub(BUCKET_ARN)),
        *catalog(CATALOG_WRITE, ["dynamodb:Query"]),
        *tenant_statements(),
        # the init container copies the code from the artifact bucket
        allow(["s3:GetObject"], sub(CODE_ARN)),
    ]


def roles() -> dict[str, Any]:
    log_arn = sub(
        "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:" + LOG_GROUP + ":*"
    )
    return {
        "ReceiverTaskRole": when(
            {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "AssumeRolePolicyDocument": assume("ecs-tasks.amazonaws.com"),
                    "Policies": [
                        {
                            "PolicyName": "receiver",
                            "PolicyDocument": {
                                "Version": "2012-10-17",
                                "Statement": task_statements(),
                            },
                        }
                    ],
                },
            }
        ),
        # ECS itself: the containers' logs and the origin secret (stock public images: no ECR).
        "ReceiverExecutionRole": when(
            {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "AssumeRolePolicyDocument": assume("ecs-tasks.amazonaws.com"),
                    "Policies": [
                        {
                            "PolicyName": "receiver-execution",
                            "PolicyDocument": {
                                "Version": "2012-10-17",
                                "Statement": [
                                    allow(["logs:CreateLogStream", "logs:PutLogEvents"], log_arn),
                                    allow(["secretsmanager:GetSecretValue"], ref("OriginSecret")),
                                ],
                            },
                        }
                    ],
                },
            }
        ),
    }


def task_environment() -> list[dict[str, Any]]:
    """The functions' settings (``template.env``) and the receiver's own: its port, region,
    and STOW bounds (``Settings``' defaults, stated). No X-Ray daemon runs beside it."""
    d = Settings()
    values: dict[str, Any] = {
        **env(),
        "PORT": str(PORT),
        "AWS_REGION": ref("AWS::Region"),
        "STOW_MAX_REQUEST_BYTES": str(d.stow_max_request_bytes),
        "STOW_MAX_PARTS": str(d.stow_max_parts),
        "STOW_MAX_PART_BYTES": str(d.stow_max_part_bytes),
        "STOW_READ_TIMEOUT": f"{d.stow_read_timeout:g}",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "HOME": "/tmp",  # noqa: S108
    }
    return [{"Name": k, "Value": v} for k, v in sorted(values.items())]


def logs(prefix: str) -> dict[str, Any]:
    return {
        "LogDriver": "awslogs",
        "Options": {
            "awslogs-group": ref("ReceiverLogGroup"),
            "awslogs-region": ref("AWS::Region"),
            "awslogs-stream-prefix": prefix,
            # a slow log delivery never blocks a request
            "mode": "non-blocking",
            "max-buffer-size": "25m",
        },
    }


#: The root file systems are read-only: a task-local /tmp (HOME too: no user 1000 in the image).
TMP = {"SourceVolume": "tmp", "ContainerPath": "/tmp"}  # noqa: S108


def task() -> dict[str, Any]:
    volume = [{"SourceVolume": "code", "ContainerPath": CODE_DIR}]
    return {
        "ReceiverLogGroup": when(
            {
                "Type": "AWS::Logs::LogGroup",
                "Metadata": skip(NO_KMS_LOGS),
                "Properties": {
                    "LogGroupName": sub(LOG_GROUP),
                    "RetentionInDays": LOG_RETENTION_DAYS,
                },
            }
        ),
        "ReceiverTaskDefinition": when(
            {
                "Type": "AWS::ECS::TaskDefinition",
                "Properties": {
                    "Family": sub("${AWS::StackName}-receiver"),
                    "RequiresCompatibilities": ["FARGATE"],
                    "NetworkMode": "awsvpc",
                    "Cpu": str(CPU_UNITS),
                    "Memory": str(MEMORY_MB),
                    "RuntimePlatform": {
                        "OperatingSystemFamily": "LINUX",
                        "CpuArchitecture": "X86_64",  # the package's wheels are x86_64
                    },
                    "TaskRoleArn": att("ReceiverTaskRole", "Arn"),
                    "ExecutionRoleArn": att("ReceiverExecutionRole", "Arn"),
                    "Volumes": [{"Name": "code"}, {"Name": "tmp"}],
                    "ContainerDefinitions": [
                        {
                            "Name": "fetch",
                            "Image": ref("ReceiverFetchImage"),
                            "Essential": False,
                            "EntryPoint": ["sh", "-c"],
                            "Command": [sub(FETCH_COMMAND)],
                            "ReadonlyRootFilesystem": True,
                            "MountPoints": [*volume, TMP],
                            # the CLI's own files (if any) go to the task volume
                            "Environment": [{"Name": "HOME", "Value": "/tmp"}],  # noqa: S108
                            "LogConfiguration": logs("fetch"),
                        },
                        {
                            "Name": "receiver",
                            "Image": ref("ReceiverImage"),
                            "Essential": True,
                            "DependsOn": [{"ContainerName": "fetch", "Condition": "SUCCESS"}],
                            "User": USER,
                            "EntryPoint": ["sh", "-c"],
                            "Command": [COMMAND],
                            "WorkingDirectory": CODE_DIR,
                            "ReadonlyRootFilesystem": True,
                            "MountPoints": [*volume, TMP],
                            "PortMappings": [{"ContainerPort": PORT, "Protocol": "tcp"}],
                            "Environment": task_environment(),
                            "Secrets": [
                                {"Name": "ORIGIN_SECRET", "ValueFrom": ref("OriginSecret")}
                            ],
                            "HealthCheck": {
                                "Command": ["CMD", "python", "-c", HEALTH_COMMAND],
                                "Interval": 30,
                                "Timeout": 5,
                                "Retries": 3,
                                "StartPeriod": 60,
                            },
                            "StopTimeout": STOP_TIMEOUT_S,
                            "LogConfiguration": logs("receiver"),
                        },
                    ],
                },
            }
        ),
    }


def service() -> dict[str, Any]:
    return {
        "ReceiverCluster": when(
            {
                "Type": "AWS::ECS::Cluster",
                "Metadata": skip(
                    (
                        "CKV_AWS_65",
                        "Container Insights bills metrics per task (a fixed cost); the ALB's and "
                        "the service's own CPU metrics and the app's EMF metrics remain",
                    ),
                ),
                "Properties": {"ClusterName": sub("${AWS::StackName}-receiver")},
            }
        ),
        "ReceiverService": when(
            {
                "Type": "AWS::ECS::Service",
                "DependsOn": ["ReceiverListener", "ReceiverInternetRoute"],
                "Properties": {
                    "ServiceName": sub("${AWS::StackName}-receiver"),
                    "Cluster": ref("ReceiverCluster"),
                    "TaskDefinition": ref("ReceiverTaskDefinition"),
                    "LaunchType": "FARGATE",
                    "PlatformVersion": "LATEST",
                    # applied when this value changes in the template; scaling owns it after
                    "DesiredCount": MIN_TASKS,
                    "HealthCheckGracePeriodSeconds": 120,
                    "DeploymentConfiguration": {
                        "MinimumHealthyPercent": 100,
                        "MaximumPercent": 200,
                        "DeploymentCircuitBreaker": {"Enable": True, "Rollback": True},
                    },
                    "NetworkConfiguration": {
                        "AwsvpcConfiguration": {
                            "AssignPublicIp": "ENABLED",
                            "Subnets": [
                                ref("ReceiverPublicSubnet1"),
                                ref("ReceiverPublicSubnet2"),
                            ],
                            "SecurityGroups": [ref("ReceiverTaskSecurityGroup")],
                        }
                    },
                    "LoadBalancers": [
                        {
                            "ContainerName": "receiver",
                            "ContainerPort": PORT,
                            "TargetGroupArn": ref("ReceiverTargetGroup"),
                        }
                    ],
                    "PropagateTags": "SERVICE",
                    "EnableECSManagedTags": True,
                },
            }
        ),
        "ReceiverScalableTarget": when(
            {
                "Type": "AWS::ApplicationAutoScaling::ScalableTarget",
                "Properties": {
                    "ServiceNamespace": "ecs",
                    "ScalableDimension": "ecs:service:DesiredCount",
                    "ResourceId": sub("service/${ReceiverCluster}/${ReceiverService.Name}"),
                    "MinCapacity": MIN_TASKS,
                    "MaxCapacity": ref("ReceiverMaxTasks"),
                },
            }
        ),
        "ReceiverScalingPolicy": when(
            {
                "Type": "AWS::ApplicationAutoScaling::ScalingPolicy",
                "Properties": {
                    "PolicyName": sub("${AWS::StackName}-receiver-cpu"),
                    "PolicyType": "TargetTrackingScaling",
                    "ScalingTargetId": ref("ReceiverScalableTarget"),
                    "TargetTrackingScalingPolicyConfiguration": {
                        "PredefinedMetricSpecification": {
                            "PredefinedMetricType": "ECSServiceAverageCPUUtilization"
                        },
                        "TargetValue": CPU_TARGET_PERCENT,
                        "ScaleOutCooldown": 60,
                        "ScaleInCooldown": 300,
                    },
                },
            }
        ),
    }


def alarms() -> dict[str, Any]:
    dims = {
        "TargetGroup": att("ReceiverTargetGroup", "TargetGroupFullName"),
        "LoadBalancer": att("ReceiverLoadBalancer", "LoadBalancerFullName"),
    }
    return {
        "ReceiverUnhealthyAlarm": when(
            alarm(
                "A receiver task fails its health check",
                metric("AWS/ApplicationELB", "UnHealthyHostCount", "Maximum", **dims),
                1,
            )
        ),
        "Receiver5xxAlarm": when(
            alarm(
                "The receiver answered 5xx",
                metric("AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", "Sum", **dims),
                5,
            )
        ),
    }


def resources() -> dict[str, Any]:
    return {
        **network(),
        **security_groups(),
        **load_balancer(),
        **roles(),
        **task(),
        **service(),
        **alarms(),
    }
