"""S3 listings (chalicelib.storage.objects) over moto's S3: every object under a prefix, page
by page on boto3's paginator, and the paged listing with its start key."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from chalicelib.storage.metering import AwsCallCounter
from chalicelib.storage.objects import S3ObjectStore

BUCKET = "bucket"


@pytest.fixture
def s3(aws: None) -> Any:
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    return client


def test_list_all_reads_every_page_lazily(s3: Any) -> None:
    store = S3ObjectStore(s3, BUCKET)
    for n in range(1005):  # one more page than S3 answers at once
        s3.put_object(Bucket=BUCKET, Key=f"p/{n:05d}", Body=b"x" * (n % 3))
    s3.put_object(Bucket=BUCKET, Key="q/outside", Body=b"")
    counter = AwsCallCounter()
    counter.attach(s3)
    listing = store.list_all("p/")
    first = next(listing)
    assert (first.key, first.size) == ("p/00000", 0) and first.etag and '"' not in first.etag
    assert counter.calls("s3.ListObjectsV2") == 1
    rest = list(listing)
    assert [o.key for o in rest] == [f"p/{n:05d}" for n in range(1, 1005)]
    assert rest[1].size == 2
    assert counter.calls("s3.ListObjectsV2") == 2
    assert list(store.list_all("none/")) == []


def test_list_pages_with_a_start_key(s3: Any) -> None:
    store = S3ObjectStore(s3, BUCKET)
    for n in range(5):
        s3.put_object(Bucket=BUCKET, Key=f"p/{n}", Body=b"")
    page, more = store.list("p/", limit=2)
    assert [o.key for o in page] == ["p/0", "p/1"] and more == "p/1"
    page, more = store.list("p/", start_after=more, limit=3)
    assert [o.key for o in page] == ["p/2", "p/3", "p/4"] and more is None
