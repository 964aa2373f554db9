"""End to end: ``python -m local.stack`` (what ``make serve`` runs) on free ports with a
temporary state directory; the README's examples run against it with curl."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from local.spawn import Served, spawn_stack
from tests.factories import SEED_DIR, dataset, to_bytes

ROOT = Path(__file__).resolve().parents[2]
KEY = "e2e-demo-key"


def start(state_dir: Path) -> Served:
    served = spawn_stack(state_dir, KEY)
    assert served.key == KEY
    return served


def stop(served: Served) -> int:
    return served.stop()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    s = start(tmp_path / "state")
    try:
        yield s
    finally:
        if s.proc.poll() is None:
            assert stop(s) == 0


def wait_for(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def readme_examples() -> dict[str, str]:
    text = (ROOT / "README.md").read_text()
    found = re.findall(r"<!-- example:(\w+) -->\n```bash\n(.*?)```", text, re.S)
    return dict(found)


def study_count(s: Served) -> int:
    r = requests.get(s.url + "/studies", headers={"apikey": KEY})
    return sum(x["00201208"]["Value"][0] for x in r.json())


@pytest.mark.skipif(not SEED_DIR.exists(), reason="../shared/seed-dcms is not beside the repo")
def test_readme_examples_work(served: Served, tmp_path: Path):
    examples = readme_examples()
    assert set(examples) >= {"stow", "qido", "wado", "consumer", "large", "delete", "import"}
    setup = (
        "set -euo pipefail\n"
        "STUDY=1.2.826.0.1.3680043.8.498.13230779778012324449356534479549187420\n"
        "SERIES=1.2.826.0.1.3680043.8.498.45787841905473114233124723359129632652\n"
        "SOP=1.2.826.0.1.3680043.8.498.47359123102728459884412887463296905395\n"
    )
    env = {
        **os.environ,
        "DICOMWEB_URL": served.url,
        "DICOMWEB_API_KEY": KEY,
        "SEED": str(SEED_DIR),
        "MOTO_URL": served.moto_url,
    }

    def run(name: str) -> str:
        done = subprocess.run(
            ["bash", "-c", setup + examples[name]],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, (name, done.stdout, done.stderr)
        return done.stdout

    out = run("stow")
    assert out.count('"00081199"') == 3
    wait_for(lambda: study_count(served) == 3)
    out = run("qido")
    assert "Anony Mous" in out
    out = run("wado")
    assert "identical" in out
    run("consumer")
    assert (tmp_path / "frame1.jpg").read_bytes()[:2] == b"\xff\xd8"
    assert (tmp_path / "wado.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "study.zip").read_bytes()[:2] == b"PK"
    if shutil.which("jq"):
        out = run("large")
        assert '"stored":1' in out.replace(" ", "")
        assert (tmp_path / "study.multipart").stat().st_size > 3 * 2_800_000
    out = run("delete")
    assert "204" in out and '"action":"deleted"' in out.replace(" ", "")
    if shutil.which("aws"):
        out = run("import")
        assert '"name":"notes.txt"' in out
        assert study_count(served) == 2  # blue-circle again: replaced, not duplicated


def test_restart_keeps_stored_data(tmp_path: Path):
    state = tmp_path / "state"
    first = start(state)
    ds = dataset(rows=32, columns=32)
    data = to_bytes(ds)
    r = requests.post(
        first.url + "/studies",
        data=data,
        headers={"apikey": KEY, "Content-Type": "application/dicom"},
    )
    assert r.status_code == 200
    wait_for(lambda: study_count(first) == 1)
    wait_for(lambda: any(state.rglob("*.dcm")))
    assert stop(first) == 0
    second = start(state)
    try:
        wait_for(lambda: study_count(second) == 1)
        r = requests.get(
            second.url
            + f"/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
            + f"/instances/{ds.SOPInstanceUID}",
            headers={"apikey": KEY, "Accept": "application/dicom; transfer-syntax=*"},
        )
        assert r.content == data
        print(f"\nstartup: first {first.startup_s:.2f} s, restart {second.startup_s:.2f} s")
    finally:
        assert stop(second) == 0


def test_moto_answers_in_process_and_on_its_url(served: Served):
    """moto runs inside the stack's process (no moto child: the indexer is the only one), and
    the same store answers on the moto URL (the indexer and the admin CLI use it), quietly: no
    line per request in the stack's output."""
    import boto3

    children = Path(f"/proc/{served.proc.pid}/task/{served.proc.pid}/children").read_text().split()
    commands = [Path(f"/proc/{c}/cmdline").read_bytes().replace(b"\0", b" ") for c in children]
    assert len(commands) == 1 and b"local.indexer_poller" in commands[0]
    stored = to_bytes(dataset())
    r = requests.post(
        served.url + "/studies",
        data=b"--b\r\nContent-Type: application/dicom\r\n\r\n" + stored + b"\r\n--b--\r\n",
        headers={
            "apikey": KEY,
            "Content-Type": 'multipart/related; type="application/dicom"; boundary=b',
        },
    )
    assert r.status_code == 200
    s3 = boto3.client(
        "s3",
        endpoint_url=served.moto_url,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    buckets = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    keys = [o["Key"] for b in buckets for o in s3.list_objects_v2(Bucket=b).get("Contents", [])]
    assert any(k.startswith("dicom/") for k in keys)
    time.sleep(1.5)  # the indexer polls moto's URL at least once a second
    assert not [line for line in served.output if '"POST / HTTP/1.1"' in line]
