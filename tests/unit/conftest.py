"""Fixtures shared by the unit tests: an S3 object store on moto (in-process ``mock_aws``)."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from chalicelib.storage.objects import S3ObjectStore

BUCKET = "unit"


@pytest.fixture
def store() -> Iterator[S3ObjectStore]:
    """A versioned bucket, as the deployed one (a delete must remove every version)."""
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        yield S3ObjectStore(s3, BUCKET)
