"""Shared fixtures.

* ``aws``: moto's in-process ``mock_aws`` (no network);
* ``lambda_app``: the real ``app`` module with its resources created on that backend;
* ``stack``: that app behind the local front on a real HTTP port (uvicorn in a thread), with
  the indexer's poller driven by the test (``stack.drain()``) and an AWS-call counter.
"""

from __future__ import annotations

from local.testenv import use_test_environment

use_test_environment()  # before the app is imported

from collections.abc import Iterator
from types import ModuleType

import pytest
from moto import mock_aws

from local.harness import InProcessStack, in_process_stack, prepared_app

TENANT = "t1"
OTHER_TENANT = "t2"
KEY = "test-key-t1-" + "x" * 32
OTHER_KEY = "test-key-t2-" + "y" * 32

LocalStack = InProcessStack


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def lambda_app(aws: None) -> Iterator[ModuleType]:
    with prepared_app({TENANT: KEY, OTHER_TENANT: OTHER_KEY}) as module:
        yield module


@pytest.fixture
def stack(lambda_app: ModuleType) -> Iterator[InProcessStack]:
    with in_process_stack(lambda_app, KEY) as s:
        yield s
