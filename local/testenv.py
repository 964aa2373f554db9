"""The environment of tests and in-process benchmarks. Import this before anything that
imports the app: Powertools reads its settings when its objects are created."""

from __future__ import annotations

import os

TEST_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
}


def use_test_environment() -> None:
    """No real AWS endpoint or profile; quiet logs; no X-Ray daemon."""
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        os.environ.pop(name, None)
    os.environ.update(TEST_ENVIRONMENT)
