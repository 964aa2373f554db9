"""Each request's AWS calls, tallied for its log line (what the X-Ray SDK's subsegment per call
told, before the functions dropped the SDK): every client of ``AwsClients`` counts its calls by
operation, its failures and the time spent, on the tally of the request that makes them, and
on no other request's; the clients share one session."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from chalicelib.config import Settings
from chalicelib.observability import AwsCalls, current_aws_calls, tallying_aws_calls
from chalicelib.storage.clients import AwsClients

BUCKET = "unit-bucket-7"
PATIENT = "Zyxwv^Qponm"


@pytest.fixture
def clients() -> Iterator[AwsClients]:
    with mock_aws():
        clients = AwsClients(Settings(region="us-east-1"))
        clients.s3.create_bucket(Bucket=BUCKET)
        yield clients


def test_a_request_counts_its_calls_by_operation_failures_and_time(clients: AwsClients) -> None:
    key = f"import/t1/{PATIENT}.dcm"
    with tallying_aws_calls() as calls:
        clients.s3.put_object(Bucket=BUCKET, Key=key, Body=b"x")
        clients.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        clients.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        with pytest.raises(ClientError):
            clients.s3.head_object(Bucket=BUCKET, Key="missing")
        clients.dynamodb.list_tables()
    fields = calls.fields()
    assert fields["aws_calls"] == 5
    assert fields["aws_ops"] == {
        "dynamodb.ListTables": 1,
        "s3.GetObject": 2,
        "s3.HeadObject": 1,
        "s3.PutObject": 1,
    }
    assert fields["aws_failed"] == 1  # the 404 answer
    assert fields["aws_ms"] > 0
    # operation names only: no key, no bucket, nothing a parameter held
    assert PATIENT not in json.dumps(fields) and BUCKET not in json.dumps(fields)
    # calls after the request ends count on no tally
    clients.dynamodb.list_tables()
    assert calls.fields()["aws_calls"] == 5 and current_aws_calls() is None


def test_no_failure_key_when_none_failed(clients: AwsClients) -> None:
    with tallying_aws_calls() as calls:
        clients.dynamodb.list_tables()
    assert calls.fields() == {
        "aws_calls": 1,
        "aws_ops": {"dynamodb.ListTables": 1},
        "aws_ms": calls.fields()["aws_ms"],
    }


def test_a_worker_thread_counts_on_the_only_open_request(clients: AwsClients) -> None:
    """A request's pool threads start with an empty context: in Lambda (one request at a time)
    their calls are the request's."""

    def work() -> None:
        clients.dynamodb.list_tables()

    with tallying_aws_calls() as calls:
        worker = threading.Thread(target=work)
        worker.start()
        worker.join()
    assert calls.fields()["aws_ops"] == {"dynamodb.ListTables": 1}


def test_concurrent_requests_never_count_each_others_calls(clients: AwsClients) -> None:
    """Two requests in flight in two threads (the local gateway): each counts its own calls; a
    third thread's, belonging to neither, count on none rather than on the wrong one."""
    both_open = threading.Barrier(3)
    counted: dict[str, AwsCalls] = {}

    def request(name: str, calls_made: int) -> None:
        with tallying_aws_calls() as calls:
            both_open.wait()
            for _ in range(calls_made):
                clients.dynamodb.list_tables()
            both_open.wait()
        counted[name] = calls

    threads = [threading.Thread(target=request, args=(n, k)) for n, k in (("a", 2), ("b", 3))]
    for t in threads:
        t.start()
    both_open.wait()
    clients.dynamodb.list_tables()  # no tally of its own, two open: attributed to neither
    both_open.wait()
    for t in threads:
        t.join()
    assert counted["a"].fields()["aws_calls"] == 2
    assert counted["b"].fields()["aws_calls"] == 3


def test_every_client_shares_one_session(clients: AwsClients) -> None:
    """One loader for all clients: the SDK's shared data files are read once per container."""
    assert clients.s3._loader is clients.dynamodb._loader is clients.sqs._loader
