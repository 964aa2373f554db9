"""AWS answers' timestamps read without dateutil: the same datetime as botocore's parser gives,
for the two formats AWS sends, and botocore's parser for anything else."""

from __future__ import annotations

import datetime
from collections.abc import Iterator

import botocore.parsers
import pytest
from botocore.utils import parse_timestamp as botocore_parse
from hypothesis import given
from hypothesis import strategies as st
from moto import mock_aws

from chalicelib.config import Settings
from chalicelib.storage.clients import AwsClients
from chalicelib.storage.timestamps import parse_timestamp

UTC = datetime.UTC
MOMENTS = st.datetimes(
    min_value=datetime.datetime(1970, 1, 1), max_value=datetime.datetime(9999, 12, 31)
)


def same(value: object) -> None:
    ours, theirs = parse_timestamp(value), botocore_parse(value)
    assert ours == theirs
    assert ours.utcoffset() == theirs.utcoffset()


@given(MOMENTS)
def test_http_dates_read_as_botocore_reads_them(moment: datetime.datetime) -> None:
    same(moment.replace(tzinfo=UTC).strftime("%a, %d %b %Y %H:%M:%S GMT"))


@given(MOMENTS, st.sampled_from([0, 1, 3, 6]))
def test_iso_utc_reads_as_botocore_reads_it(moment: datetime.datetime, digits: int) -> None:
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if digits:
        text += "." + f"{moment.microsecond:06d}"[:digits]
    same(text + "Z")


@pytest.mark.parametrize(
    "value",
    [
        1700000000,
        1700000000.25,
        "1700000000",
        "2026-12-04T22:35:22+02:00",  # another zone
        "2026-12-04 22:35:22Z",
        "Friday, 04-Dec-26 22:35:22 GMT",  # RFC 850, obsolete
        "Fri Dec  4 22:35:22 2026",  # asctime
        "Fri, 04 Dec 2026 22:35:22 +0000",
    ],
)
def test_other_forms_go_to_botocore(value: object) -> None:
    same(value)


@pytest.mark.parametrize(
    "value",
    ["Fri, 31 Feb 2026 22:35:22 GMT", "Fri, 04 Dec 2026 25:35:22 GMT", "2026-13-04T22:35:22Z"],
)
def test_impossible_dates_fail_as_in_botocore(value: str) -> None:
    with pytest.raises(ValueError):
        botocore_parse(value)
    with pytest.raises(ValueError):
        parse_timestamp(value)


@pytest.fixture
def botocore_parser_refused(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("botocore's own parser (dateutil) read a timestamp")

    monkeypatch.setattr(botocore.parsers, "DEFAULT_TIMESTAMP_PARSER", refuse)
    yield


def test_the_clients_read_s3_timestamps_with_this_parser(botocore_parser_refused: None) -> None:
    with mock_aws():
        s3 = AwsClients(Settings(region="us-east-1")).s3
        s3.create_bucket(Bucket="timestamps-bucket")
        s3.put_object(Bucket="timestamps-bucket", Key="t1/a", Body=b"x")
        got = s3.get_object(Bucket="timestamps-bucket", Key="t1/a")["LastModified"]
        head = s3.head_object(Bucket="timestamps-bucket", Key="t1/a")["LastModified"]
        (listed,) = s3.list_objects_v2(Bucket="timestamps-bucket")["Contents"]
    now = datetime.datetime.now(UTC)
    assert got == head
    assert abs(listed["LastModified"] - got) < datetime.timedelta(seconds=1)
    assert abs(now - got) < datetime.timedelta(minutes=1)
