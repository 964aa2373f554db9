"""The built zips work as Lambda runs them: the sample events of events/ are handled by the code
unpacked from ``deployment.zip`` (and ``pixels-layer.zip`` for the pixel function), imported
by a bare ``python -S`` that sees nothing else, against a moto server in another process.

This catches what only a deployment would otherwise show: a dependency the build moved to the
wrong zip, a module missing from the package, bytecode that does not load, a pixel library the
lean functions would import.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from chalicelib.routes.placement import PIXEL_MODULES
from chalicelib.storage import clients
from infra import build, template
from local.stack import free_port, wait_http
from tests.factories import dataset, to_bytes

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
NAMES = {
    "DICOM_BUCKET": "package-test-bucket",
    "CATALOG_TABLE": "package-test-catalog",
    "TENANTS_TABLE": "package-test-tenants",
    "INDEX_QUEUE": "package-test-index",
    "INDEX_DLQ": "package-test-index-dlq",
}
AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon here
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
}

BOOTSTRAP = """
from chalicelib.config import Settings
from chalicelib.routes.deps import Deps
from chalicelib.storage.tenants import ALL_SCOPES
from local.bootstrap import create_resources
deps = Deps(Settings.from_env())
create_resources(deps.clients, deps.settings, visibility_timeout=0)
deps.tenants.create_tenant("sample")
deps.tenants.create_key("sample", ALL_SCOPES, api_key="sample-event-key")
"""

HANDLE = """
import base64, json, os, sys
from pathlib import Path

class Context:  # what the handlers read of Lambda's context
    function_name = "package-test"
    memory_limit_in_mb = 1024
    aws_request_id = "package-test-request"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:package-test"
    log_group_name = "/aws/lambda/package-test"
    log_stream_name = "test"
    def get_remaining_time_in_millis(self):
        return 29000

import app
out = []
for name in sys.argv[2:]:
    event = json.loads(Path(sys.argv[1], name).read_text()) if name.endswith(".json") else (
        json.loads(name))
    if "Records" in event:
        out.append(app.index_objects(event, Context()))
        continue
    r = app.app(event, Context())
    body = base64.b64decode(r["body"]) if r.get("isBase64Encoded") else r["body"].encode()
    out.append({"status": r["statusCode"], "type": r["headers"].get("Content-Type", ""),
                "bytes": len(body), "head": body[:4].hex(),
                "j2k": b"1.2.840.10008.1.2.4.90" in body})
pixels = sorted({m.split(".")[0] for m in sys.modules} & set(os.environ["PIXEL_MODULES"].split()))
print("RESULT " + json.dumps({"results": out, "pixel_modules": pixels}))
"""


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if not (build.DEFAULT_OUT / template.PIXEL_LAYER_ZIP).exists():
        build.build()
    root = tmp_path_factory.mktemp("lambda")
    task, opt = root / "task", root / "opt"
    zipfile.ZipFile(build.DEFAULT_OUT / "deployment.zip").extractall(task)
    zipfile.ZipFile(build.DEFAULT_OUT / template.PIXEL_LAYER_ZIP).extractall(opt)
    return task, opt / "python"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "local.moto_server", "-H", "127.0.0.1", "-p", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/moto-api/")
        env = {**os.environ, **AWS, **NAMES, "AWS_ENDPOINT_URL": url}
        subprocess.run([sys.executable, "-c", BOOTSTRAP], cwd=ROOT, env=env, check=True)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


def run_packaged(paths: list[Path], endpoint: str, *events: str, events_dir: Path = EVENTS) -> dict:  # type: ignore[type-arg]
    """Handle ``events`` (files of ``events_dir`` or JSON) in ``python -S`` seeing only
    ``paths``."""
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": os.pathsep.join(map(str, paths)),
        "PYTHONDONTWRITEBYTECODE": "1",
        "LAMBDA_TASK_ROOT": str(paths[0]),
        "AWS_LAMBDA_FUNCTION_NAME": "package-test",
        "AWS_ENDPOINT_URL": endpoint,
        "PIXEL_MODULES": " ".join(sorted(PIXEL_MODULES)),
        **AWS,
        **NAMES,
    }
    run = subprocess.run(
        [sys.executable, "-S", "-c", HANDLE, str(events_dir), *events],
        cwd=paths[0],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    line = next((x for x in run.stdout.splitlines() if x.startswith("RESULT ")), None)
    assert line is not None, run.stderr[-3000:]
    return json.loads(line.removeprefix("RESULT "))  # type: ignore[no-any-return]


def variant(folder: Path, name: str, path: str, accept: str) -> str:
    """An API event of ``folder`` for another path of the same instance, as JSON."""
    event = json.loads((folder / name).read_text())
    base = event["path"]
    event["path"] = event["requestContext"]["path"] = base + path
    event["resource"] = event["requestContext"]["resourcePath"] = event["resource"] + (
        path.replace("/1", "/{frames}", 1) if path.startswith("/frames") else path
    )
    if path.startswith("/frames"):
        event["pathParameters"] = {**event["pathParameters"], "frames": "1"}
    for headers in (event["headers"], event.get("multiValueHeaders") or {}):
        for key in [k for k in headers if k.lower() == "accept"]:
            del headers[key]
    event["headers"]["Accept"] = accept
    event["multiValueHeaders"] = {**(event.get("multiValueHeaders") or {}), "Accept": [accept]}
    return json.dumps(event)


def test_the_cli_stays_out_of_the_package(packages: tuple[Path, Path]) -> None:
    """Chalice packages all of ``chalicelib/``: the CLI lives in ``dicomweb_cli/`` at the top
    level, so neither it nor an old ``chalicelib/cli.py`` or ``chalicelib/client/`` ships."""
    names = zipfile.ZipFile(build.DEFAULT_OUT / "deployment.zip").namelist()
    assert any(n.startswith("chalicelib/") for n in names)
    shipped = [
        n
        for n in names
        if n.split("/")[0] == "dicomweb_cli"
        or n.startswith(("chalicelib/client/", "chalicelib/cli."))
        or n.startswith("chalicelib/__pycache__/cli.")
    ]
    assert shipped == []


def test_lean_package_stores_indexes_and_searches_without_pixel_libraries(
    packages: tuple[Path, Path], endpoint: str
) -> None:
    task, _ = packages
    got = run_packaged(
        [task],
        endpoint,
        "api_store_instances.json",
        "sqs_s3_object_created.json",
        "api_search_for_studies.json",
        "api_search_for_series.json",
    )
    stored, indexed, studies, series = got["results"]
    assert stored["status"] == 200, stored
    assert indexed == {"batchItemFailures": []}
    assert studies["status"] == 200 and studies["type"].startswith("application/dicom+json")
    assert series["status"] == 200
    assert got["pixel_modules"] == []


def test_pixel_function_retrieves_transcodes_and_renders_with_its_layer(
    packages: tuple[Path, Path], endpoint: str, tmp_path: Path
) -> None:
    """The sample events made over for a 64x64 instance (OpenJPEG cannot encode the sample's
    4x4 pixels): stored and indexed by the lean package, then retrieved as stored, transcoded
    to JPEG 2000, rendered and thumbnailed by the pixel function."""
    task, layer = packages
    sample_sop = "1.2.826.0.1.3680043.10.543.1.1.1"
    sop = "1.2.826.0.1.3680043.10.543.1.1.64"
    ds = dataset(
        study="1.2.826.0.1.3680043.10.543.1",
        series="1.2.826.0.1.3680043.10.543.1.1",
        sop=sop,
        rows=64,
        columns=64,
    )
    for name in ("api_store_instances.json", "sqs_s3_object_created.json"):
        text = (EVENTS / name).read_text().replace(sample_sop, sop)
        (tmp_path / name).write_text(text)
    store = json.loads((tmp_path / "api_store_instances.json").read_text())
    store["body"] = base64.b64encode(to_bytes(ds)).decode()
    (tmp_path / "api_store_instances.json").write_text(json.dumps(store))
    retrieve = (EVENTS / "api_retrieve_instance.json").read_text().replace(sample_sop, sop)
    (tmp_path / "api_retrieve_instance.json").write_text(retrieve)

    stored = run_packaged(
        [task],
        endpoint,
        "api_store_instances.json",
        "sqs_s3_object_created.json",
        events_dir=tmp_path,
    )
    assert stored["results"][0]["status"] == 200
    assert stored["results"][1] == {"batchItemFailures": []}
    jpeg2000 = 'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.90'
    got = run_packaged(
        [task, layer],
        endpoint,
        "api_retrieve_instance.json",
        variant(tmp_path, "api_retrieve_instance.json", "", jpeg2000),
        variant(tmp_path, "api_retrieve_instance.json", "/rendered", "image/png"),
        variant(tmp_path, "api_retrieve_instance.json", "/thumbnail", "image/jpeg"),
        events_dir=tmp_path,
    )
    as_stored, transcoded, png, jpeg = got["results"]
    assert as_stored["status"] == 200, as_stored
    assert transcoded["status"] == 200, transcoded  # decoded, then encoded by OpenJPEG
    assert transcoded["j2k"] and not as_stored["j2k"]  # its part header and file meta say so
    assert png["status"] == 200 and png["head"] == "89504e47", png  # \x89PNG
    assert jpeg["status"] == 200 and jpeg["head"].startswith("ffd8"), jpeg
    assert {"numpy", "PIL", "openjpeg"} <= set(got["pixel_modules"])


def test_the_package_keeps_the_sdk_data_of_its_clients_only(packages: tuple[Path, Path]) -> None:
    """botocore's data for the services the functions create clients for and the shared files;
    nothing of the 400 other services (the loader walks every folder on a first client)."""
    data = packages[0] / "botocore" / "data"
    folders = {p.name for p in data.iterdir() if p.is_dir()}
    assert folders == set(clients.SERVICES)
    assert (data / "endpoints.json").exists() or (data / "endpoints.json.gz").exists()
    code = (
        "import app\n"
        "for service in " + repr(clients.SERVICES) + ":\n"
        "    app.deps.clients.client(service)\n"
        "print('created')\n"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(packages[0]), **AWS, **NAMES}
    run = subprocess.run(
        [sys.executable, "-S", "-c", code],
        cwd=packages[0],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.stdout.split() == ["created"], run.stderr[-2000:]
