"""Orthanc as a sender: its DICOMweb client pushes an instance to this service over HTTP Basic,
configured as a user would (README, "Orthanc as a sender"): ``DicomWeb.Servers`` names this
service with ``Username`` any and ``Password`` the API key.

``make interop`` runs it: it installs Debian's ``orthanc`` and ``orthanc-dicomweb`` if absent
and sets ``DICOMWEB_INTEROP=1``; ``make test`` skips it. The local stack (``python -m
local.stack``, what ``make serve`` runs) and Orthanc each start on free loopback ports with
their own temporary storage, Orthanc from a generated configuration (``bench/servers.py``; the
fixtures are in ``conftest.py``).
"""

from __future__ import annotations

import os

import pytest
import requests

from local.spawn import Served
from tests.factories import dataset, to_bytes
from tests.interop.conftest import KEY, SERVER, WRONG_KEY_SERVER, Orthanc

pytestmark = pytest.mark.skipif(
    os.environ.get("DICOMWEB_INTEROP") != "1",
    reason="make interop runs it (Debian's orthanc and orthanc-dicomweb)",
)


def test_orthanc_pushes_an_instance_over_basic(stack: Served, orthanc: Orthanc) -> None:
    ds = dataset(rows=16, columns=16, PatientName="Interop^Orthanc")
    uploaded = requests.post(
        orthanc.root + "/instances", data=to_bytes(ds), headers=orthanc.headers
    )
    assert uploaded.status_code == 200, uploaded.text
    orthanc_id = uploaded.json()["ID"]
    stored = requests.get(f"{orthanc.root}/instances/{orthanc_id}/file", headers=orthanc.headers)
    assert stored.status_code == 200

    # a wrong password: our 401 makes Orthanc's push fail, nothing is stored
    refused = requests.post(
        f"{orthanc.root}/dicom-web/servers/{WRONG_KEY_SERVER}/stow",
        json={"Resources": [orthanc_id], "Synchronous": True},
        headers=orthanc.headers,
    )
    assert refused.status_code >= 400, refused.text
    assert requests.get(stack.url + "/studies", auth=("any", KEY)).json() == []

    pushed = requests.post(
        f"{orthanc.root}/dicom-web/servers/{SERVER}/stow",
        json={"Resources": [orthanc_id], "Synchronous": True},
        headers=orthanc.headers,
    )
    assert pushed.status_code == 200, pushed.text

    # the bytes Orthanc sent, unchanged, retrievable at once (WADO reads S3)
    r = requests.get(
        f"{stack.url}/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
        f"/instances/{ds.SOPInstanceUID}",
        headers={"Accept": "application/dicom; transfer-syntax=*"},
        auth=("any", KEY),
    )
    assert r.status_code == 200 and r.content == stored.content
    # searchable when the STOW answered: one QIDO read, no polling
    found = requests.get(
        stack.url + "/instances", params={"SOPInstanceUID": ds.SOPInstanceUID}, auth=("any", KEY)
    ).json()
    assert [i["00080018"]["Value"] for i in found] == [[ds.SOPInstanceUID]]
    print(
        f"\nOrthanc {orthanc.version} (DICOMweb plugin {orthanc.plugin_version}) pushed "
        f"{len(stored.content)} bytes over Basic; found by the first QIDO read"
    )
