"""AWS error codes are read in one module (chalicelib.storage.aws_errors), and the adapters
raise the service's own exceptions: botocore's errors come from real boto3 clients over moto,
failed with a botocore event hook where moto cannot fail."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError

from chalicelib.dicomweb.resources import StudyRef
from chalicelib.services.ports import (
    StorageBusy,
    StorageError,
    StorageUnavailable,
    UploadNotFound,
    UploadPartsRefused,
)
from chalicelib.storage import aws_errors
from chalicelib.storage.aws_errors import (
    cancellation_codes,
    error_code,
    is_condition_failed,
    is_missing,
    is_transient,
    raises_storage_errors,
)
from chalicelib.storage.catalog import DynamoCatalog
from chalicelib.storage.objects import S3ObjectStore
from chalicelib.storage.schema import catalog_table

BUCKET = "bucket"
TABLE = "catalog"


def client_error(code: str, status: int = 400, **extra: Any) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": "Rate exceeded for DOE^JANE"},
            "ResponseMetadata": {"HTTPStatusCode": status},
            **extra,
        },
        "Operation",
    )


def canceled(*reasons: str) -> ClientError:
    return client_error(
        "TransactionCanceledException",
        CancellationReasons=[{"Code": r} for r in reasons],
    )


@pytest.mark.parametrize(
    "code",
    [
        "SlowDown",
        "ServiceUnavailable",
        "RequestTimeout",
        "ThrottlingException",
        "Throttling",
        "RequestLimitExceeded",
        "ProvisionedThroughputExceededException",
        "TransactionConflictException",
        "TransactionInProgressException",
        "InternalServerError",
        "LimitExceededException",
        "InternalError",
    ],
)
def test_throttling_conflicts_and_failures_are_transient(code: str) -> None:
    assert is_transient(client_error(code))


def test_any_5xx_is_transient_and_a_client_mistake_is_not() -> None:
    assert is_transient(client_error("SomethingNew", status=502))
    for code in ("AccessDenied", "NoSuchKey", "ValidationException", "NoSuchUpload"):
        assert not is_transient(client_error(code))
    assert not is_transient(RuntimeError("SlowDown"))


def test_a_cancelled_transaction_is_transient_only_for_a_conflict_or_throttling() -> None:
    assert is_transient(canceled("None", "TransactionConflict", "None"))
    assert is_transient(canceled("ThrottlingError"))
    assert not is_transient(canceled("ConditionalCheckFailed", "None"))
    assert cancellation_codes(canceled("ConditionalCheckFailed", "None")) == [
        "ConditionalCheckFailed",
        "None",
    ]
    assert cancellation_codes(client_error("ConditionalCheckFailedException")) == []


def test_codes_missing_and_failed_conditions() -> None:
    assert error_code(client_error("NoSuchKey")) == "NoSuchKey"
    assert error_code(ValueError("x")) == ""
    assert error_code(StorageUnavailable("SlowDown")) == "SlowDown"
    for code in ("NoSuchKey", "404", "NotFound", "InvalidRange"):
        assert is_missing(client_error(code))
    assert not is_missing(client_error("AccessDenied"))
    assert is_condition_failed(client_error("ConditionalCheckFailedException"))
    assert not is_condition_failed(canceled("ConditionalCheckFailed"))


def test_translated_errors_keep_the_code_not_the_message() -> None:
    """AWS echoes request values (patient data, perhaps) in some messages."""
    busy = aws_errors.storage_error(client_error("ThrottlingException"))
    assert isinstance(busy, StorageBusy) and isinstance(busy, StorageUnavailable)
    assert busy.code == "ThrottlingException" and "DOE" not in str(busy)
    failing = aws_errors.storage_error(client_error("InternalError", status=500))
    assert isinstance(failing, StorageUnavailable) and not isinstance(failing, StorageBusy)
    conflict = aws_errors.storage_error(canceled("TransactionConflict"))
    assert type(conflict) is StorageUnavailable
    failed = aws_errors.storage_error(client_error("AccessDenied", status=403))
    assert type(failed) is StorageError and failed.code == "AccessDenied"


@raises_storage_errors
class Adapter:
    def __init__(self, error: ClientError) -> None:
        self.error = error

    def call(self) -> None:
        raise self.error

    def lazily(self) -> Iterator[int]:
        yield 1
        raise self.error

    def _private(self) -> None:
        raise self.error


def test_the_decorator_translates_public_methods_and_the_generators_they_return() -> None:
    adapter = Adapter(client_error("SlowDown", status=503))
    with pytest.raises(StorageUnavailable) as raised:
        adapter.call()
    assert isinstance(raised.value.__cause__, ClientError)
    found = adapter.lazily()
    assert next(found) == 1
    with pytest.raises(StorageUnavailable):
        next(found)
    with pytest.raises(ClientError):  # the adapter's own code may still read botocore's
        adapter._private()


# --- the adapters, over moto ------------------------------------------------------------------


@contextmanager
def failing(client: Any, operation: str, code: str, status: int = 400) -> Iterator[None]:
    """Make ``client``'s ``operation`` fail with an AWS error code (a botocore hook over moto,
    which emulates neither throttling nor failures)."""

    def handler(**_: Any) -> Any:
        response = AWSResponse("https://injected", status, {}, None)
        return response, {
            "Error": {"Code": code, "Message": "injected"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        }

    event = f"before-call.{client.meta.service_model.service_name}.{operation}"
    client.meta.events.register(event, handler)
    try:
        yield
    finally:
        client.meta.events.unregister(event, handler)


@pytest.fixture
def s3(aws: None) -> Any:
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture
def dynamodb(aws: None) -> Any:
    client = boto3.client("dynamodb", region_name="us-east-1")
    client.create_table(**catalog_table(TABLE))
    return client


def test_the_object_store_raises_the_service_exceptions(s3: Any) -> None:
    store = S3ObjectStore(s3, BUCKET)
    assert store.get("absent") is None  # missing is an answer, not an error
    assert not store.exists("absent")
    store.put("a", b"x", "application/octet-stream")
    with failing(s3, "GetObject", "SlowDown", 503), pytest.raises(StorageUnavailable) as raised:
        store.get("a")
    assert raised.value.code == "SlowDown"
    with failing(s3, "ListObjectsV2", "InternalError", 500):
        listing = store.list_all("")
        with pytest.raises(StorageUnavailable):
            next(listing)  # a lazy read fails as it is consumed
    with failing(s3, "PutObject", "AccessDenied", 403), pytest.raises(StorageError) as denied:
        store.put("b", b"x", "application/octet-stream")
    assert type(denied.value) is StorageError and denied.value.code == "AccessDenied"


def test_completing_a_multipart_upload_names_the_clients_mistakes(s3: Any) -> None:
    store = S3ObjectStore(s3, BUCKET)
    upload = store.start_multipart("big.dcm", "application/dicom")
    with pytest.raises(UploadPartsRefused) as refused:
        store.complete_multipart("big.dcm", upload, [(1, '"0123456789abcdef"')])
    assert refused.value.code in aws_errors.REFUSED_PARTS_CODES
    with (
        failing(s3, "CompleteMultipartUpload", "NoSuchUpload", 404),  # moto has no such answer
        pytest.raises(UploadNotFound),
    ):
        store.complete_multipart("big.dcm", upload, [(1, '"0123"')])


def test_the_catalog_raises_the_service_exceptions(dynamodb: Any) -> None:
    catalog = DynamoCatalog(dynamodb, TABLE).reads
    study = StudyRef("t1", "1.2")
    assert list(catalog.iter_series(study)) == []
    with failing(dynamodb, "Query", "ProvisionedThroughputExceededException"):
        with pytest.raises(StorageUnavailable):
            list(catalog.iter_series(study))
        with pytest.raises(StorageUnavailable):
            list(catalog.studies_by_date("t1"))
    with (
        failing(dynamodb, "BatchGetItem", "ValidationException"),
        pytest.raises(StorageError) as raised,
    ):
        catalog.get_studies([study])
    assert not isinstance(raised.value, StorageUnavailable)
