"""The one module that reads AWS error codes.

botocore raises ``ClientError`` with the service's error code in ``response["Error"]``; the
adapters of this package turn it into the service's own exceptions (``services/ports.py``) at
their public methods, so nothing above storage sees botocore: a call worth retrying leaves as
``StorageUnavailable`` (the HTTP edge answers 503 Retry-After), ``StorageBusy`` when it was
throttled; any other failure as ``StorageError``. Missing objects are not errors: reads answer
None for them (``is_missing``).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from botocore.exceptions import ClientError

from chalicelib.services.ports import StorageBusy, StorageError, StorageUnavailable

#: Error codes of a backend out of capacity for now: throttled, or too slow to answer.
BUSY_CODES = frozenset(
    {
        "SlowDown",
        "ServiceUnavailable",
        "RequestTimeout",
        "ThrottlingException",
        "Throttling",
        "RequestLimitExceeded",
        "ProvisionedThroughputExceededException",
    }
)
#: Error codes that mean "try again": the busy ones, conflicts, the service's own failures.
TRANSIENT_CODES = BUSY_CODES | {
    "InternalError",
    "InternalServerError",
    "TransactionConflictException",
    "TransactionInProgressException",
    "LimitExceededException",
}
#: Reasons in a cancelled transaction that mean "try again".
TRANSIENT_CANCELLATIONS = frozenset({"TransactionConflict", "ThrottlingError"})
#: S3 and DynamoDB saying the key (or the asked range of it) is not there.
MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound", "InvalidRange"})
#: S3's answers to multipart parts that do not match the upload: the client's mistake.
REFUSED_PARTS_CODES = frozenset(
    {"InvalidPart", "InvalidPartOrder", "EntityTooSmall", "MalformedXML", "InvalidArgument"}
)
NO_SUCH_UPLOAD = "NoSuchUpload"
TRANSACTION_CANCELED = "TransactionCanceledException"
CONDITION_FAILED = "ConditionalCheckFailedException"
#: A cancellation reason: that item's condition was false.
CONDITION_FAILED_REASON = "ConditionalCheckFailed"


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ``ClientError`` (or the one a ``StorageError`` keeps);
    '' for anything else."""
    if isinstance(exc, StorageError):
        return exc.code
    response = getattr(exc, "response", None)
    if not isinstance(response, dict) or not isinstance(response.get("Error"), dict):
        return ""
    return str(response["Error"].get("Code", ""))


def _status(exc: BaseException) -> int:
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return 0
    return int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


def cancellation_codes(exc: BaseException) -> list[str]:
    """The reason of each item of a cancelled DynamoDB transaction, in the request's order
    ('None' for the items that did not fail); [] when ``exc`` is not a cancellation."""
    if error_code(exc) != TRANSACTION_CANCELED:
        return []
    response = getattr(exc, "response", None) or {}
    reasons = response.get("CancellationReasons") or []
    return [str(r.get("Code", "None")) for r in reasons]


def is_canceled(exc: BaseException) -> bool:
    """A DynamoDB transaction was cancelled (a condition failed, or a conflict)."""
    return error_code(exc) == TRANSACTION_CANCELED


def is_missing(exc: BaseException) -> bool:
    return error_code(exc) in MISSING_CODES


def is_condition_failed(exc: BaseException) -> bool:
    """A conditional write (PutItem, UpdateItem, DeleteItem) found its condition false."""
    return error_code(exc) == CONDITION_FAILED


def is_transient(exc: BaseException) -> bool:
    """A call worth retrying: throttled, conflicting, or the service's own failure."""
    if not isinstance(exc, ClientError):
        return False
    code = error_code(exc)
    if code == TRANSACTION_CANCELED:
        return any(c in TRANSIENT_CANCELLATIONS for c in cancellation_codes(exc))
    return code in TRANSIENT_CODES or _status(exc) >= 500


def storage_error(exc: ClientError) -> StorageError:
    """The service's exception for a failed AWS call (its message is the code alone: AWS
    echoes request values, which may be patient data, in some messages)."""
    code = error_code(exc)
    if code in BUSY_CODES:
        return StorageBusy(code)
    if is_transient(exc):
        return StorageUnavailable(code)
    return StorageError(code)


@contextmanager
def storage_errors() -> Iterator[None]:
    """Inside: a botocore ``ClientError`` leaves as the service's ``StorageError``."""
    try:
        yield
    except ClientError as exc:
        raise storage_error(exc) from exc


def _iterated(found: Iterator[Any]) -> Iterator[Any]:
    with storage_errors():
        yield from found


def _translating(func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with storage_errors():
            result = func(*args, **kwargs)
        if inspect.isgenerator(result):  # a lazy read: its AWS calls happen as it is consumed
            return _iterated(result)
        return result

    return wrapper


Adapter = TypeVar("Adapter", bound=type)


def raises_storage_errors(cls: Adapter) -> Adapter:
    """Class decorator for an adapter: every public method (and every generator one returns)
    raises the service's exceptions instead of botocore's. Private methods are left alone, so
    the adapter itself can still look at a ``ClientError`` (a cancelled transaction's
    reasons, a failed condition) before it leaves."""
    for name, attr in list(vars(cls).items()):
        if not name.startswith("_") and inspect.isfunction(attr):
            setattr(cls, name, _translating(attr))
    return cls
