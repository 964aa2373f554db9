"""Orthanc round-trips a large multi-series study through this service with its DICOMweb client
(issue 22, point 5): ``/stow`` pushes the study, ``/get`` queries it (QIDO-RS), the study is
deleted in Orthanc, ``/retrieve`` pulls it back (WADO-RS), and every file Orthanc then holds is
compared byte for byte with the file generated here.

Orthanc's DICOMweb plugin (1.7, Debian 12) sends all the instances of one ``/stow`` call in a
single chunked ``POST /studies`` (its ``StowClientJob``; the ``StowMaxInstances`` and
``StowMaxSize`` options that split it were dropped after release 0.6): here that request goes
to the streaming receiver, and the test checks it was one request from the stack's log.

With ``-s`` (``make interop``) it prints one line: the study's size and instances, the time of
each call to Orthanc, the MB/s of the STOW (what the receiver took in) and of the retrieve, and
the comparison's result; then one with the setup's times.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests

from local.spawn import Served
from tests.factories import dataset, to_bytes, uid
from tests.interop.conftest import SERVER, Orthanc, logged

pytestmark = pytest.mark.skipif(
    os.environ.get("DICOMWEB_INTEROP") != "1",
    reason="make interop runs it (Debian's orthanc and orthanc-dicomweb)",
)

#: 3 CT series of 140 slices, 512 x 512 x 16 bits: 420 instances of 0.525 MB, 220 MB.
SERIES = 3
SLICES = 140
SIDE = 512
MB = 1_000_000
#: The longest a call to Orthanc may take (its own HTTP client gives up at ORTHANC_HTTP_TIMEOUT).
CALL_TIMEOUT = 600


def generate_study(folder: Path) -> dict[str, Path]:
    """The study's files on disk, by SOP Instance UID: one instance in memory at a time, each
    with its own pixel values (a misplaced Pixel Data would not compare equal)."""
    folder.mkdir()
    study = uid()
    ramp = np.arange(SIDE * SIDE, dtype=np.uint32)
    files: dict[str, Path] = {}
    for s in range(SERIES):
        series = uid()
        for k in range(SLICES):
            n = s * SLICES + k
            ds = dataset(
                study=study,
                series=series,
                rows=SIDE,
                columns=SIDE,
                pixel_value=0,
                PatientName="Interop^LargeStudy",
                PatientID="INTEROP-LARGE",
                SeriesNumber=s + 1,
                InstanceNumber=k + 1,
                SeriesDescription=f"large study series {s + 1}",
                ImagePositionPatient=[0, 0, k],
            )
            ds.PixelData = ((ramp + 7 * n) % 4096).astype(np.uint16).tobytes()
            path = folder / f"{n:04d}.dcm"
            path.write_bytes(to_bytes(ds))
            files[ds.SOPInstanceUID] = path
    return files


@pytest.fixture
def study_dir(tmp_path: Path) -> Iterator[Path]:
    """Where the study is generated; removed afterwards (220 MB in a kept tmp_path)."""
    folder = tmp_path / "study"
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def post_json(orthanc: Orthanc, path: str, body: dict[str, Any]) -> requests.Response:
    return requests.post(
        orthanc.root + path, json=body, headers=orthanc.headers, timeout=CALL_TIMEOUT
    )


def the_value(entry: dict[str, Any], tag: str) -> Any:
    """The first value of a DICOM JSON attribute."""
    return entry[tag]["Value"][0]


def test_orthanc_round_trips_a_large_study(
    stack: Served, orthanc: Orthanc, study_dir: Path
) -> None:
    started = time.monotonic()
    files = generate_study(study_dir)
    size = sum(p.stat().st_size for p in files.values())
    assert size >= 200 * MB and len(files) >= 400
    generated_s = time.monotonic() - started

    # into Orthanc through its own REST API (POST /instances), 4 at a time
    started = time.monotonic()
    http = requests.Session()
    http.headers.update(orthanc.headers)

    def upload(path: Path) -> dict[str, str]:
        r = http.post(orthanc.root + "/instances", data=path.read_bytes(), timeout=60)
        assert r.status_code == 200, r.text
        return dict(r.json())

    with ThreadPoolExecutor(4) as pool:
        uploaded = list(pool.map(upload, files.values()))
    studies = {u["ParentStudy"] for u in uploaded}
    assert len(studies) == 1 and len({u["ID"] for u in uploaded}) == len(files)
    study_id = studies.pop()
    study_uid = http.get(f"{orthanc.root}/studies/{study_id}").json()["MainDicomTags"][
        "StudyInstanceUID"
    ]
    loaded_s = time.monotonic() - started

    # STOW-RS: Orthanc pushes the whole study in one call
    started = time.monotonic()
    pushed = post_json(
        orthanc,
        f"/dicom-web/servers/{SERVER}/stow",
        {"Resources": [study_id], "Synchronous": True},
    )
    stow_s = time.monotonic() - started
    assert pushed.status_code == 200, f"{pushed.text}\n{orthanc.log.read_text()[-3000:]}"
    assert int(pushed.json()["InstancesCount"]) == len(files)

    # ... as one request to the receiver: its log line comes after its answer, wait for it
    deadline = time.monotonic() + 10
    while True:
        stows = [r for r in logged(stack, "request") if r.get("transaction") == "POST /studies"]
        if stows or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert [(r["status"], r["tenant"]) for r in stows] == [(200, "demo")], stows
    receiver_s = stows[0]["ms"] / 1000
    outcome = logged(stack, "stow")
    assert [(o["stored"], o["failed"]) for o in outcome] == [(len(files), 0)], outcome

    # QIDO-RS through Orthanc: the documented /get, which hands back the DICOM JSON. (The
    # plugin's /qido, the helper of its web page, keeps only string and PN values: IS counts,
    # JSON Numbers from this service as from Orthanc's own server, come back without a Value.)
    started = time.monotonic()
    found = post_json(
        orthanc,
        f"/dicom-web/servers/{SERVER}/get",
        {
            "Uri": "/studies",
            "Arguments": {
                "StudyInstanceUID": study_uid,
                "includefield": "NumberOfStudyRelatedSeries,NumberOfStudyRelatedInstances",
            },
        },
    )
    qido_s = time.monotonic() - started
    assert found.status_code == 200, found.text
    [entry] = found.json()
    assert the_value(entry, "0020000D") == study_uid
    assert int(the_value(entry, "00201206")) == SERIES  # IS: a JSON Number (PS3.18 F.2.3)
    assert int(the_value(entry, "00201208")) == len(files)
    started = time.monotonic()
    listed = post_json(
        orthanc,
        f"/dicom-web/servers/{SERVER}/get",
        {"Uri": f"/studies/{study_uid}/instances", "Arguments": {"limit": "1000"}},
    )
    qido_instances_s = time.monotonic() - started
    assert listed.status_code == 200, listed.text
    assert {the_value(i, "00080018") for i in listed.json()} == set(files)

    # deleted in Orthanc, then WADO-RS: Orthanc pulls the study back
    assert http.delete(f"{orthanc.root}/studies/{study_id}").status_code == 200
    assert http.get(orthanc.root + "/instances").json() == []
    started = time.monotonic()
    pulled = post_json(
        orthanc,
        f"/dicom-web/servers/{SERVER}/retrieve",
        {"Resources": [{"Study": study_uid}], "Synchronous": True},
    )
    retrieve_s = time.monotonic() - started
    assert pulled.status_code == 200, f"{pulled.text}\n{orthanc.log.read_text()[-3000:]}"
    assert int(pulled.json()["ReceivedInstancesCount"]) == len(files)
    # the plugin asked for the whole study in one WADO-RS request; an answer this large is a
    # 303 to a download URL (docs/conformance.md 3.11), which Orthanc's libcurl follows
    [wado] = [r for r in logged(stack, "request") if r.get("transaction") == "GET /studies/{study}"]
    assert wado["status"] in (200, 303), wado

    # every file Orthanc now holds, byte for byte against the generated one
    started = time.monotonic()
    held = http.get(f"{orthanc.root}/studies/{study_id}/instances").json()
    assert len(held) == len(files)

    def same(instance: dict[str, Any]) -> bool:
        sop = instance["MainDicomTags"]["SOPInstanceUID"]
        got = http.get(f"{orthanc.root}/instances/{instance['ID']}/file", timeout=60)
        return got.status_code == 200 and got.content == files[sop].read_bytes()

    with ThreadPoolExecutor(4) as pool:
        identical = sum(pool.map(same, held))
    compared_s = time.monotonic() - started

    print(
        f"\nOrthanc {orthanc.version} (DICOMweb {orthanc.plugin_version}) <-> this service: "
        f"study {size / MB:.1f} MB, {len(files)} instances in {SERIES} series; "
        f"/stow {stow_s:.1f} s in {len(stows)} request = {size / MB / stow_s:.1f} MB/s "
        f"(receiver {receiver_s:.1f} s = {size / MB / receiver_s:.1f} MB/s); "
        f"/qido {qido_s * 1000:.0f} ms (study), {qido_instances_s * 1000:.0f} ms "
        f"({len(files)} instances); /retrieve {retrieve_s:.1f} s = "
        f"{size / MB / retrieve_s:.1f} MB/s (GET /studies/{{study}}: {wado['status']} "
        f"in {wado['ms'] / 1000:.1f} s); byte for byte: {identical}/{len(files)} identical"
        f"\n(setup: generated in {generated_s:.1f} s, loaded into Orthanc in {loaded_s:.1f} s, "
        f"compared in {compared_s:.1f} s)"
    )
    assert identical == len(files)
