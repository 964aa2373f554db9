"""The cold-start bench's own parts: the STOW event it sizes to the payload limit, and the
Lambda environment it builds from the template."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

from bench.coldstart import lambda_environment, stale, stow_event
from bench.datasets import Generator


def test_stow_event_is_as_large_as_the_payload_limit_allows() -> None:
    limit = 2_000_000
    event, instances, body_bytes = stow_event(limit)
    assert len(json.dumps(event)) <= limit
    assert len(base64.b64decode(event["body"])) == body_bytes
    one_more = len(Generator().ct("1.2", "1.2.3", 1))  # another 512x512 CT instance
    assert (body_bytes + one_more) * 4 / 3 > limit - 4096  # it would not have fitted
    assert instances >= 2


def test_lambda_environment_resolves_parameters_and_keeps_plain_values() -> None:
    sam = {
        "Parameters": {"TenantRateLimit": {"Type": "Number", "Default": 0}},
        "Resources": {
            "Fn": {
                "Properties": {
                    "Handler": "app.app",
                    "MemorySize": 1024,
                    "Environment": {
                        "Variables": {
                            "TENANT_RATE_LIMIT": {"Ref": "TenantRateLimit"},
                            "DICOM_BUCKET": {"Ref": "DicomBucket"},
                            "POWERTOOLS_SERVICE_NAME": "dicomweb",
                        }
                    },
                }
            }
        },
    }
    env = lambda_environment("Fn", Path("/var/task"), sam)
    assert env["TENANT_RATE_LIMIT"] == "0"
    assert env["DICOM_BUCKET"] == "placeholder-dicom_bucket"
    assert env["POWERTOOLS_SERVICE_NAME"] == "dicomweb"
    assert env["LAMBDA_TASK_ROOT"] == "/var/task" and env["_HANDLER"] == "app.app"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "1024"


def test_packages_older_than_a_source_are_rebuilt(tmp_path: Path) -> None:
    """The bench measures the code as it is: a package built before a change is stale."""
    from infra import template

    root, zips = tmp_path / "repo", tmp_path / "build"
    (root / "chalicelib").mkdir(parents=True)
    source = root / "chalicelib" / "observability.py"
    source.write_text("x = 1\n")
    os.utime(source, (1_000, 1_000))
    assert stale(zips, root)  # nothing built
    zips.mkdir()
    for name in ("sam.json", "deployment.zip", template.PIXEL_LAYER_ZIP):
        (zips / name).write_text("built")
        os.utime(zips / name, (2_000, 2_000))
    assert not stale(zips, root)
    os.utime(source, (3_000, 3_000))  # edited after the build
    assert stale(zips, root)
