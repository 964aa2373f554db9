"""infra/deploy.py against moto: what can run without a real account (the SAM transform and a
real deployment cannot: moto does not expand AWS::Serverless resources)."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.storage import schema
from infra import deploy

REGION = "us-east-1"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Any:
    for k, v in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield boto3.session.Session(region_name=REGION)


def test_stage_names_make_valid_stack_and_bucket_names() -> None:
    assert deploy.stack_name("prod") == "dicomweb-prod"
    for bad in ("Prod", "a_b", "", "x" * 22, "../x"):
        with pytest.raises(SystemExit):
            deploy.stack_name(bad)


def test_every_function_points_at_the_uploaded_package_and_the_layer_at_its_zip() -> None:
    sam = {
        "Resources": {
            "APIHandler": {"Type": "AWS::Serverless::Function", "Properties": {"CodeUri": "./x"}},
            "IndexObjects": {
                "Type": "AWS::Serverless::Function",
                "Properties": {"CodeUri": "./x"},
            },
            "PixelLayer": {
                "Type": "AWS::Serverless::LayerVersion",
                "Properties": {"ContentUri": "./l"},
            },
            "Other": {"Type": "AWS::SQS::Queue", "Properties": {}},
        }
    }
    out = deploy.with_code_location(sam, "b", "k.zip", "l.zip")
    for name in ("APIHandler", "IndexObjects"):
        assert out["Resources"][name]["Properties"]["CodeUri"] == {"Bucket": "b", "Key": "k.zip"}
    assert out["Resources"]["PixelLayer"]["Properties"]["ContentUri"] == {
        "Bucket": "b",
        "Key": "l.zip",
    }
    assert sam["Resources"]["APIHandler"]["Properties"]["CodeUri"] == "./x"  # not mutated


def test_artifact_bucket_is_created_private_and_encrypted(aws: Any) -> None:
    s3 = aws.client("s3")
    deploy.ensure_artifact_bucket(s3, "artifacts", REGION)
    deploy.ensure_artifact_bucket(s3, "artifacts", REGION)  # idempotent
    block = s3.get_public_access_block(Bucket="artifacts")["PublicAccessBlockConfiguration"]
    assert all(block.values())
    rules = s3.get_bucket_encryption(Bucket="artifacts")["ServerSideEncryptionConfiguration"]
    assert rules["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    deploy.upload(s3, "artifacts", "a/b.zip", b"zip")
    deploy.upload(s3, "artifacts", "a/b.zip", b"other")  # content-addressed: kept as is
    assert s3.get_object(Bucket="artifacts", Key="a/b.zip")["Body"].read() == b"zip"


RETAINED_TEMPLATE = {
    "Resources": {
        "DicomBucket": {
            "Type": "AWS::S3::Bucket",
            "DeletionPolicy": "Retain",
            "Properties": {"BucketName": "dicomweb-test-dicom"},
        },
        "CatalogTable": {
            "Type": "AWS::DynamoDB::Table",
            "DeletionPolicy": "Retain",
            "Properties": {
                "TableName": "dicomweb-test-catalog",
                **{
                    k: v
                    for k, v in schema.tenants_table("x").items()
                    if k in ("KeySchema", "AttributeDefinitions", "BillingMode")
                },
            },
        },
        "Queue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "dicomweb-test-q"}},
    }
}


def test_destroy_keeps_the_data_and_purge_removes_every_version(aws: Any) -> None:
    cfn, s3, db = aws.client("cloudformation"), aws.client("s3"), aws.client("dynamodb")
    cfn.create_stack(StackName="dicomweb-test", TemplateBody=json.dumps(RETAINED_TEMPLATE))
    s3.put_bucket_versioning(
        Bucket="dicomweb-test-dicom", VersioningConfiguration={"Status": "Enabled"}
    )
    for body in (b"v1", b"v2"):
        s3.put_object(Bucket="dicomweb-test-dicom", Key="dicom/t/a.dcm", Body=body)
    s3.delete_object(Bucket="dicomweb-test-dicom", Key="dicom/t/a.dcm")  # a delete marker
    db.update_table(TableName="dicomweb-test-catalog", DeletionProtectionEnabled=True)

    kept = deploy.destroy("test", REGION)
    assert kept == {"DicomBucket": "dicomweb-test-dicom", "CatalogTable": "dicomweb-test-catalog"}
    assert "dicomweb-test-catalog" in db.list_tables()["TableNames"]  # retained
    assert s3.head_bucket(Bucket="dicomweb-test-dicom")

    done = deploy.purge(kept, aws)
    assert "bucket dicomweb-test-dicom (3 object versions)" in done
    assert "dicomweb-test-catalog" not in db.list_tables()["TableNames"]
    assert "dicomweb-test-dicom" not in {b["Name"] for b in s3.list_buckets()["Buckets"]}


def test_purge_refuses_without_the_typed_stack_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert deploy.main(["purge", "--stage", "prod", "--region", REGION]) == 2
    assert "--confirm dicomweb-prod" in capsys.readouterr().err


def test_stack_parameters_with_and_without_the_receiver() -> None:
    with_receiver = deploy.parameters(
        "ops@example.org",
        code=("artifacts", "dicomweb-prod/receiver-abc.zip"),
        prefix_list="pl-3b927c52",
        public_root="https://pacs.example.org/",
    )
    assert {p["ParameterKey"]: p["ParameterValue"] for p in with_receiver} == {
        "AlarmEmail": "ops@example.org",
        "StowReceiver": "Enabled",
        "PublicRoot": "https://pacs.example.org",
        "ReceiverCodeBucket": "artifacts",
        "ReceiverCodeKey": "dicomweb-prod/receiver-abc.zip",
        "CloudFrontOriginFacingPrefixList": "pl-3b927c52",
    }
    with pytest.raises(ValueError, match="prefix list"):
        deploy.parameters(code=("artifacts", "k"))  # the template's Rules would refuse it
    without = deploy.parameters(stow_receiver=False)
    assert without == [{"ParameterKey": "StowReceiver", "ParameterValue": "Disabled"}]
    zones = deploy.parameters(
        code=("b", "k"), prefix_list="pl-1", zone_ids=["use1-az1", "use1-az2"]
    )
    assert {"ParameterKey": "ReceiverZoneIds", "ParameterValue": "use1-az1,use1-az2"} in zones


def test_every_parameter_deploy_passes_is_one_the_template_declares() -> None:
    from infra import template

    declared = set(template.merge_template()["Parameters"])
    passed = deploy.parameters(
        "a@b.c",
        code=("b", "k"),
        prefix_list="pl-1",
        public_root="https://x.org",
        certificate_arn="arn:aws:acm:us-east-1:1:certificate/x",
        zone_ids=["a", "b"],
    )
    assert {p["ParameterKey"] for p in passed} <= declared


def test_the_origin_facing_prefix_list_is_looked_up_by_name(aws: Any) -> None:
    found = deploy.origin_facing_prefix_list(aws.client("ec2"))
    assert found.startswith("pl-")
    described = aws.client("ec2").describe_managed_prefix_lists(PrefixListIds=[found])
    assert described["PrefixLists"][0]["PrefixListName"] == deploy.ORIGIN_FACING


def test_artifacts_are_uploaded_content_addressed_the_receivers_only_when_deployed(
    aws: Any, tmp_path: Any
) -> None:
    from infra import receiver, template

    for name in deploy.ARTIFACTS:
        (tmp_path / name).write_bytes(name.encode())
    s3 = aws.client("s3")
    deploy.ensure_artifact_bucket(s3, "artifacts", REGION)
    keys = deploy.upload_artifacts(s3, "artifacts", "dicomweb-prod", tmp_path)
    assert set(keys) == {"deployment.zip", template.PIXEL_LAYER_ZIP, receiver.CODE_ZIP}
    assert keys[receiver.CODE_ZIP].startswith("dicomweb-prod/receiver-")
    body = s3.get_object(Bucket="artifacts", Key=keys[receiver.CODE_ZIP])["Body"].read()
    assert body == receiver.CODE_ZIP.encode()
    without = deploy.upload_artifacts(s3, "artifacts", "dicomweb-prod", tmp_path, False)
    assert receiver.CODE_ZIP not in without
    assert without["deployment.zip"] == keys["deployment.zip"]  # same bytes, same key
