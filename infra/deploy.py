"""Deploy, destroy and purge the stack in a real AWS account (credentials from the usual AWS
chain: environment, profile, SSO).

    python -m infra.deploy deploy  --stage prod --region eu-west-1 [--alarm-email ops@x]
                                   [--stow-receiver Disabled] [--public-root https://pacs.x
                                    --certificate-arn arn:aws:acm:us-east-1:...]
    python -m infra.deploy destroy --stage prod --region eu-west-1
    python -m infra.deploy purge   --stage prod --region eu-west-1 --confirm dicomweb-prod

``deploy`` builds the template (``infra/build.py``), uploads the deployment package, the pixel
layer, the STOW receiver's code (``receiver.zip``, unless ``--stow-receiver Disabled``) and the
template to an artifact bucket (``dicomweb-artifacts-<account>-<region>``, created private and
encrypted on first use), looks up the region's CloudFront origin-facing prefix list (the only
source the receiver's load balancer admits), and creates or updates the stack
``dicomweb-<stage>`` through a change set. ``destroy`` deletes the stack; the archive bucket,
the access-log bucket and both tables are retained (DeletionPolicy Retain) and listed.
``purge`` deletes those retained resources, every object version included: it is irreversible
and asks for the stack name.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

from infra import build, receiver, template

RETAINED = {"DicomBucket", "AccessLogBucket", "CatalogTable", "TenantsTable"}


def stack_name(stage: str) -> str:
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,20}", stage):
        raise SystemExit("--stage: lower-case letters, digits and '-', at most 21 characters")
    return f"dicomweb-{stage}"


def with_code_location(
    sam: dict[str, Any], bucket: str, key: str, layer_key: str | None = None
) -> dict[str, Any]:
    """The template with every function's CodeUri pointing at the uploaded package, and the
    pixel layer's ContentUri at the uploaded layer."""
    out: dict[str, Any] = json.loads(json.dumps(sam))
    for resource in out["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = {"Bucket": bucket, "Key": key}
        elif resource["Type"] == "AWS::Serverless::LayerVersion" and layer_key:
            resource["Properties"]["ContentUri"] = {"Bucket": bucket, "Key": layer_key}
    return out


def ensure_artifact_bucket(s3: Any, bucket: str, region: str) -> None:
    try:
        s3.head_bucket(Bucket=bucket)
        return
    except ClientError:
        pass
    config = {} if region == "us-east-1" else {"LocationConstraint": region}
    s3.create_bucket(Bucket=bucket, **({"CreateBucketConfiguration": config} if config else {}))
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )


def upload(s3: Any, bucket: str, key: str, data: bytes) -> None:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError:
        s3.put_object(Bucket=bucket, Key=key, Body=data)


ORIGIN_FACING = "com.amazonaws.global.cloudfront.origin-facing"


def origin_facing_prefix_list(ec2: Any) -> str:
    """The region's ID of CloudFront's origin-facing managed prefix list."""
    found = ec2.describe_managed_prefix_lists(
        Filters=[{"Name": "prefix-list-name", "Values": [ORIGIN_FACING]}]
    )["PrefixLists"]
    if not found:
        raise SystemExit(f"no managed prefix list {ORIGIN_FACING} in this region")
    return str(found[0]["PrefixListId"])


#: Built files -> the prefix of their content-addressed key in the artifact bucket.
ARTIFACTS = {
    "deployment.zip": "",
    template.PIXEL_LAYER_ZIP: "layer-",
    receiver.CODE_ZIP: "receiver-",
}


def upload_artifacts(
    s3: Any, bucket: str, stack: str, built: Path, with_receiver: bool = True
) -> dict[str, str]:
    """Upload the built zips (the receiver's only when it is deployed); name -> key."""
    keys = {}
    for name, prefix in ARTIFACTS.items():
        if name == receiver.CODE_ZIP and not with_receiver:
            continue
        data = (built / name).read_bytes()
        keys[name] = f"{stack}/{prefix}{hashlib.sha256(data).hexdigest()}.zip"
        upload(s3, bucket, keys[name], data)
    return keys


def parameters(
    alarm_email: str | None = None,
    *,
    stow_receiver: bool = True,
    code: tuple[str, str] | None = None,
    prefix_list: str | None = None,
    public_root: str | None = None,
    certificate_arn: str | None = None,
    zone_ids: list[str] | None = None,
) -> list[dict[str, str]]:
    """The stack's parameters. With the receiver: its code (bucket, key) and the origin-facing
    prefix list, both required (the template's Rules refuse the stack without them)."""
    values: dict[str, str | None] = {
        "AlarmEmail": alarm_email,
        "StowReceiver": "Enabled" if stow_receiver else "Disabled",
        "PublicRoot": public_root.rstrip("/") if public_root else None,
        "CertificateArn": certificate_arn,
    }
    if stow_receiver:
        if code is None or not prefix_list:
            raise ValueError("the receiver needs its code and the origin-facing prefix list")
        values.update(
            ReceiverCodeBucket=code[0],
            ReceiverCodeKey=code[1],
            CloudFrontOriginFacingPrefixList=prefix_list,
            ReceiverZoneIds=",".join(zone_ids) if zone_ids else None,
        )
    return [{"ParameterKey": k, "ParameterValue": v} for k, v in values.items() if v]


def deploy(
    stage: str,
    region: str,
    alarm_email: str | None = None,
    *,
    stow_receiver: bool = True,
    public_root: str | None = None,
    certificate_arn: str | None = None,
    zone_ids: list[str] | None = None,
) -> dict[str, str]:
    stack = stack_name(stage)
    sam_path = build.build(stage)
    session = boto3.session.Session(region_name=region)
    account = session.client("sts").get_caller_identity()["Account"]
    s3 = session.client("s3")
    cfn = session.client("cloudformation")
    bucket = f"dicomweb-artifacts-{account}-{region}"
    ensure_artifact_bucket(s3, bucket, region)

    keys = upload_artifacts(s3, bucket, stack, sam_path.parent, stow_receiver)
    code_key, layer_key = keys["deployment.zip"], keys[template.PIXEL_LAYER_ZIP]
    stack_parameters = parameters(
        alarm_email,
        stow_receiver=stow_receiver,
        code=(bucket, keys[receiver.CODE_ZIP]) if stow_receiver else None,
        prefix_list=origin_facing_prefix_list(session.client("ec2")) if stow_receiver else None,
        public_root=public_root,
        certificate_arn=certificate_arn,
        zone_ids=zone_ids,
    )
    sam = json.loads(sam_path.read_text())
    body = json.dumps(with_code_location(sam, bucket, code_key, layer_key))
    template_key = f"{stack}/{hashlib.sha256(body.encode()).hexdigest()}.json"
    upload(s3, bucket, template_key, body.encode())  # over CloudFormation's 51 KB inline limit

    try:
        cfn.describe_stacks(StackName=stack)
        kind = "UPDATE"
    except ClientError:
        kind = "CREATE"
    change_set = f"deploy-{int(time.time())}"
    cfn.create_change_set(
        StackName=stack,
        ChangeSetName=change_set,
        ChangeSetType=kind,
        TemplateURL=f"https://{bucket}.s3.{region}.amazonaws.com/{template_key}",
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
        Parameters=stack_parameters,
        Tags=[{"Key": "app", "Value": "dicomweb"}, {"Key": "stage", "Value": stage}],
    )
    try:
        cfn.get_waiter("change_set_create_complete").wait(StackName=stack, ChangeSetName=change_set)
    except Exception:
        got = cfn.describe_change_set(StackName=stack, ChangeSetName=change_set)
        if "didn't contain changes" in got.get("StatusReason", ""):
            print(f"{stack}: no changes")
            return outputs(cfn, stack)
        raise SystemExit(f"{stack}: change set failed: {got.get('StatusReason')}") from None
    cfn.execute_change_set(StackName=stack, ChangeSetName=change_set)
    waiter = "stack_create_complete" if kind == "CREATE" else "stack_update_complete"
    cfn.get_waiter(waiter).wait(StackName=stack, WaiterConfig={"Delay": 15, "MaxAttempts": 240})
    return outputs(cfn, stack)


def outputs(cfn: Any, stack: str) -> dict[str, str]:
    (described,) = cfn.describe_stacks(StackName=stack)["Stacks"]
    return {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}


def retained(cfn: Any, stack: str) -> dict[str, str]:
    """Logical id -> physical id of the data resources the stack keeps on deletion."""
    found: dict[str, str] = {}
    paginator = cfn.get_paginator("list_stack_resources")
    for page in paginator.paginate(StackName=stack):
        for r in page["StackResourceSummaries"]:
            if r["LogicalResourceId"] in RETAINED and r.get("PhysicalResourceId"):
                found[r["LogicalResourceId"]] = r["PhysicalResourceId"]
    return found


def destroy(stage: str, region: str) -> dict[str, str]:
    stack = stack_name(stage)
    cfn = boto3.session.Session(region_name=region).client("cloudformation")
    kept = retained(cfn, stack)
    Path(build.DEFAULT_OUT).mkdir(parents=True, exist_ok=True)
    (build.DEFAULT_OUT / f"{stack}-retained.json").write_text(json.dumps(kept, indent=2))
    cfn.delete_stack(StackName=stack)
    cfn.get_waiter("stack_delete_complete").wait(StackName=stack)
    return kept


def empty_bucket(s3: Any, bucket: str) -> int:
    """Delete every object version and delete marker; the count removed."""
    removed = 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        doomed = [
            {"Key": v["Key"], "VersionId": v["VersionId"]}
            for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
        ]
        for i in range(0, len(doomed), 1000):
            s3.delete_objects(Bucket=bucket, Delete={"Objects": doomed[i : i + 1000]})
        removed += len(doomed)
    return removed


def purge(resources: dict[str, str], session: Any) -> list[str]:
    """Delete retained data resources (buckets emptied first, tables unprotected first)."""
    s3, db = session.client("s3"), session.client("dynamodb")
    done = []
    for logical, physical in resources.items():
        if logical.endswith("Bucket"):
            count = empty_bucket(s3, physical)
            s3.delete_bucket(Bucket=physical)
            done.append(f"bucket {physical} ({count} object versions)")
        else:
            db.update_table(TableName=physical, DeletionProtectionEnabled=False)
            db.delete_table(TableName=physical)
            done.append(f"table {physical}")
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["deploy", "destroy", "purge"])
    parser.add_argument("--stage", default="prod")
    parser.add_argument("--region", required=True)
    parser.add_argument("--alarm-email")
    parser.add_argument(
        "--stow-receiver",
        choices=["Enabled", "Disabled"],
        default="Enabled",
        help="the streaming STOW receiver on ECS Fargate (Disabled: STOW through the API only)",
    )
    parser.add_argument("--public-root", help="https://host of a custom domain (no path)")
    parser.add_argument("--certificate-arn", help="ACM certificate (us-east-1) for that host")
    parser.add_argument(
        "--receiver-zone-ids", help="two zone IDs (use1-az1,use1-az2) for the receiver's subnets"
    )
    parser.add_argument("--confirm", help="purge: the stack name, typed out")
    args = parser.parse_args(argv)
    stack = stack_name(args.stage)
    if args.action == "deploy":
        out = deploy(
            args.stage,
            args.region,
            args.alarm_email,
            stow_receiver=args.stow_receiver == "Enabled",
            public_root=args.public_root,
            certificate_arn=args.certificate_arn,
            zone_ids=args.receiver_zone_ids.split(",") if args.receiver_zone_ids else None,
        )
        for key, value in out.items():
            print(f"{key}: {value}")
        print(
            f"\nThe DICOMweb root clients configure: {out.get('DicomWebRoot')}\n"
            "\nFirst tenant and key:\n"
            f"  python -m dicomweb_cli --stack {stack} --region {args.region} "
            "tenants create <tenant>\n"
            f"  python -m dicomweb_cli --stack {stack} --region {args.region} "
            "keys create <tenant> --scopes read,write,delete"
        )
    elif args.action == "destroy":
        kept = destroy(args.stage, args.region)
        print(f"{stack} deleted. Retained (your data): {json.dumps(kept)}")
        print(
            f"Delete them, every object version included: python -m infra.deploy purge "
            f"--stage {args.stage} --region {args.region} --confirm {stack}"
        )
    else:
        if args.confirm != stack:
            print(f"purge deletes every stored instance: pass --confirm {stack}", file=sys.stderr)
            return 2
        saved = build.DEFAULT_OUT / f"{stack}-retained.json"
        if not saved.exists():
            print(f"{saved} not found: run destroy first", file=sys.stderr)
            return 2
        session = boto3.session.Session(region_name=args.region)
        for line in purge(json.loads(saved.read_text()), session):
            print(f"deleted {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
