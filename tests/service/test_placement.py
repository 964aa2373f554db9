"""The lean API and indexer functions work without the pixel libraries.

In AWS the API and indexer functions' package holds no numpy, Pillow or codecs; only the pixel
function has them, in a layer (the pixel routes of chalicelib/routes/table.py; infra/build.py).
This runs the real app and indexer in a fresh interpreter where importing any of those modules
fails, as in the lean package, and drives every route that API Gateway sends to the lean
function through HTTP: STOW, indexing (SQS -> indexer), QIDO, metadata, bulk data, uploads,
the change feed, rejected imports, OpenAPI and DELETE. No pixel module may be loaded at the end.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from chalicelib.routes.placement import PIXEL_MODULES
from tests.factories import dataset, to_bytes

ROOT = Path(__file__).resolve().parents[2]

SCENARIO = r"""
import json, sys
from pathlib import Path

BLOCKED = set(sys.argv[2].split(","))
for name in BLOCKED:
    sys.modules[name] = None  # what an absent package does: ImportError on import

from local.testenv import use_test_environment
use_test_environment()
from moto import mock_aws
from local.harness import in_process_stack, prepared_app

KEY = "lean-key-" + "x" * 32
files = sorted(Path(sys.argv[1]).glob("*.dcm"))
statuses = {}
with mock_aws(), prepared_app({"t1": KEY}) as module, in_process_stack(module, KEY) as s:
    boundary = "lean-boundary"
    body = b"".join(
        b"--" + boundary.encode() + b"\r\nContent-Type: application/dicom\r\n\r\n"
        + f.read_bytes() + b"\r\n" for f in files
    ) + b"--" + boundary.encode() + b"--\r\n"
    ct = f'multipart/related; type="application/dicom"; boundary={boundary}'
    stored = s.post("/studies", data=body, headers={"Content-Type": ct})
    statuses["STOW"] = stored.status_code
    statuses["indexed"] = s.drain()
    meta = json.loads(Path(sys.argv[1], "uids.json").read_text())
    study, series, sop = meta["study"], meta["series"], meta["sop"]
    inst = f"/studies/{study}/series/{series}/instances/{sop}"
    dicom_json = {"Accept": "application/dicom+json"}
    octets = {"Accept": "multipart/related; type=application/octet-stream"}
    for name, path, headers in [
        ("QIDO studies", "/studies?PatientID=PID-1", dicom_json),
        ("QIDO series", f"/studies/{study}/series", dicom_json),
        ("QIDO instances", f"/studies/{study}/instances", dicom_json),
        ("QIDO all instances", "/instances?Modality=CT", dicom_json),
        ("study metadata", f"/studies/{study}/metadata", dicom_json),
        ("series metadata", f"/studies/{study}/series/{series}/metadata", dicom_json),
        ("instance metadata", f"{inst}/metadata", dicom_json),
        ("bulkdata", f"{inst}/bulkdata/7FE00010", octets),
        ("changefeed", "/changefeed", {}),
        ("rejected imports", "/imports/rejected", {}),
        ("openapi", "/openapi.json", {}),
    ]:
        statuses[name] = s.get(path, headers=headers).status_code
    up = s.post("/uploads", json={"files": [{"name": "u.dcm", "size": 2000}]})
    statuses["uploads"] = up.status_code
    statuses["upload status"] = s.get(f"/uploads/{up.json()['upload']}").status_code
    statuses["DELETE"] = s.http.delete(s.url + inst).status_code
    s.drain()
    statuses["after delete"] = len(s.get(f"/studies/{study}/instances", headers=dicom_json).json())
loaded = sorted({m.split(".")[0] for m, v in sys.modules.items() if v is not None} & BLOCKED)
print("RESULT " + json.dumps({"statuses": statuses, "loaded": loaded}))
"""


def run_scenario(tmp_path: Path, scenario: str, instances: int, *args: str) -> dict[str, Any]:
    """Writes ``instances`` instances of one series (and their UIDs) into ``tmp_path``, runs
    ``scenario`` on them in a fresh interpreter and returns what it printed after RESULT."""
    study, series = dataset().StudyInstanceUID, dataset().SeriesInstanceUID
    written = [dataset(study=study, series=series, rows=64, columns=64) for _ in range(instances)]
    for i, ds in enumerate(written):
        (tmp_path / f"{i}.dcm").write_bytes(to_bytes(ds))
    uids = {"study": study, "series": series, "sop": written[0].SOPInstanceUID}
    (tmp_path / "uids.json").write_text(json.dumps(uids))
    run = subprocess.run(
        [sys.executable, "-c", scenario, str(tmp_path), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    (line,) = [x for x in run.stdout.splitlines() if x.startswith("RESULT ")]
    got: dict[str, Any] = json.loads(line.removeprefix("RESULT "))
    return got


def test_lean_function_serves_its_routes_without_numpy_pillow_or_codecs(tmp_path: Path) -> None:
    got = run_scenario(tmp_path, SCENARIO, 3, ",".join(sorted(PIXEL_MODULES)))
    statuses = got["statuses"]
    assert statuses.pop("STOW") == 200
    assert statuses.pop("indexed") >= 3
    assert statuses.pop("uploads") == 201
    assert statuses.pop("upload status") == 202  # waiting for its file
    assert statuses.pop("DELETE") in (200, 202, 204)
    assert statuses.pop("after delete") == 2
    assert statuses == dict.fromkeys(statuses, 200), statuses
    assert got["loaded"] == []


READS_WITHOUT_PYDICOM = r"""
import json, sys, types
from pathlib import Path

from local.testenv import use_test_environment
use_test_environment()
from moto import mock_aws
from local.harness import in_process_stack, prepared_app

KEY = "reads-key-" + "x" * 32
files = sorted(Path(sys.argv[1]).glob("*.dcm"))
meta = json.loads(Path(sys.argv[1], "uids.json").read_text())
study, series, sop = meta["study"], meta["series"], meta["sop"]
inst = f"/studies/{study}/series/{series}/instances/{sop}"


def forget_pydicom():
    # pydicom and every module of ours holding a piece of it leave the process, and pydicom
    # can no longer be imported: a read path that needs it fails (500) instead of passing
    def holds_pydicom(module):
        return any(
            getattr(v, "__name__", "").startswith("pydicom")
            or str(getattr(v, "__module__", "")).startswith("pydicom")
            for v in vars(module).values()
        )
    for name, module in list(sys.modules.items()):
        if name.startswith("pydicom") or (
            name.startswith("chalicelib") and module is not None and holds_pydicom(module)
        ):
            del sys.modules[name]
    sys.modules["pydicom"] = None


statuses = {}
with mock_aws(), prepared_app({"t1": KEY}) as module, in_process_stack(module, KEY) as s:
    for f in files:
        r = s.post("/studies", data=f.read_bytes(), headers={"Content-Type": "application/dicom"})
        assert r.status_code == 200, r.text
    s.drain()
    forget_pydicom()
    dicom_json = {"Accept": "application/dicom+json"}
    dicom = {"Accept": 'multipart/related; type="application/dicom"'}
    octets = {"Accept": "multipart/related; type=application/octet-stream"}
    for name, path, headers in [
        ("QIDO studies", "/studies?PatientID=PID-1", dicom_json),
        ("QIDO instances", f"/studies/{study}/instances", dicom_json),
        ("study metadata", f"/studies/{study}/metadata", dicom_json),
        ("instance", inst, dicom),
        ("series", f"/studies/{study}/series/{series}", dicom),
        ("study", f"/studies/{study}", dicom),
        ("frames", f"{inst}/frames/1", octets),
        ("pixel bulk data", f"{inst}/bulkdata/7FE00010", octets),
    ]:
        r = s.get(path, headers=headers)
        statuses[name] = r.status_code if r.ok else f"{r.status_code} {r.text[:200]}"
loaded = sys.modules.get("pydicom") is not None
print("RESULT " + json.dumps({"statuses": statuses, "pydicom": loaded}))
"""


def test_reads_of_stored_instances_run_without_pydicom(tmp_path: Path) -> None:
    """A search, a metadata read, a retrieve as stored and a frame of catalogued instances run
    with pydicom unimportable: a function's first read never pays its import (~245 M
    instructions, docs/architecture.md "Cold start"). STOW and the indexer do import it."""
    got = run_scenario(tmp_path, READS_WITHOUT_PYDICOM, 2)
    assert got["statuses"] == dict.fromkeys(got["statuses"], 200), got["statuses"]
    assert got["pydicom"] is False
