"""The people's CLI (``python -m dicomweb_cli upload|search|retrieve``) as a user runs it:
its own process, against the local stack as ``make serve`` runs it, endpoint and key from the
environment. A folder of 500 instances (plus a large file sent through a presigned upload, a
file without preamble, a broken one and non-DICOM files) goes up with a progress bar; a second
run uploads nothing; search finds the study; retrieve brings back every instance byte for byte,
and a second retrieve writes nothing. (tests/cli/ has the rest: each file's outcome, the
journal, exit statuses, the 413 fallback.)"""

from __future__ import annotations

import io
import json
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from local.spawn import Served, spawn_stack
from tests.e2e.helpers import run_cli
from tests.factories import dataset, to_bytes, uid

ROOT = Path(__file__).resolve().parents[2]
COUNT = 500


def cli(
    served: Served, home: Path, *args: str, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    env = {
        "DICOMWEB_URL": served.url,
        "DICOMWEB_API_KEY": served.key,
        "HOME": str(home),  # the upload journal lives under ~/.cache
        "TTY_INTERACTIVE": "1",  # rich draws its progress bar as on a terminal
        "COLUMNS": "160",
    }
    return run_cli(*args, env=env, timeout=timeout)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    s = spawn_stack(tmp_path_factory.mktemp("cli") / "state", "client-cli-key-" + "c" * 24)
    try:
        yield s
    finally:
        s.stop()


def _folder(root: Path, count: int) -> tuple[str, dict[str, bytes]]:
    """``count`` instances in two series, in nested folders, without extensions."""
    study = uid()
    series = [uid(), uid()]
    originals: dict[str, bytes] = {}
    for n in range(count):
        ds = dataset(study=study, series=series[n % 2], InstanceNumber=n + 1)
        sub = root / f"series{n % 2}" / f"part{n // 100}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"img{n:04d}").write_bytes(to_bytes(ds))  # no extension: detected by content
        originals[ds.SOPInstanceUID] = to_bytes(ds)
    return study, originals


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, dict[str, bytes]]:
    """20 instances, a large one, one without preamble, a broken one and non-DICOM files."""
    root = tmp_path_factory.mktemp("mixed")
    study, originals = _folder(root, 20)
    big = dataset(study=study, rows=1500, columns=1500, InstanceNumber=9999)
    (root / "big.dcm").write_bytes(to_bytes(big))  # 4.5 MB: over --large 4MB, via /uploads
    originals[big.SOPInstanceUID] = to_bytes(big)
    bare = dataset(study=study, InstanceNumber=10_000)
    del bare.file_meta
    buf = io.BytesIO()
    bare.save_as(buf, enforce_file_format=False, implicit_vr=True, little_endian=True)
    # no preamble, no file meta: a data set the service always refuses: failed, not sent
    (root / "no-preamble.dcm").write_bytes(buf.getvalue())
    broken = to_bytes(dataset(study=study))
    (root / "broken.dcm").write_bytes(broken[: len(broken) // 3])  # DICM, then cut short
    (root / "notes.txt").write_text("not an image")
    (root / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    return root, study, originals


def summary_of(run: subprocess.CompletedProcess[str]) -> re.Match[str]:
    """files, stored, MB, s, files/s, MB/s, replaced, already, failed, skipped"""
    m = re.search(
        r"(\d+) files: (\d+) stored \(([\d.]+) MB in ([\d.]+) s: ([\d.]+) files/s, "
        r"([\d.]+) MB/s\), (\d+) replaced by a later file, (\d+) already uploaded, "
        r"(\d+) failed, (\d+) skipped",
        run.stdout,
    )
    assert m, run.stdout[-2000:] + run.stderr[-2000:]
    return m


@pytest.fixture(scope="module")
def uploaded(served: Served, mixed, tmp_path_factory) -> subprocess.CompletedProcess[str]:
    """The mixed folder uploaded once per stack (and indexed), whichever test asks first."""
    root, study, originals = mixed
    run = cli(served, tmp_path_factory.mktemp("home"), "upload", str(root), "--large", "4MB")
    _wait_indexed(served, study, len(originals))
    return run


def test_upload_reports_each_failure_and_takes_large_files(mixed, uploaded) -> None:
    _, _, originals = mixed
    run = uploaded
    m = summary_of(run)
    assert (int(m.group(2)), m.group(9), m.group(10)) == (len(originals), "2", "2")
    assert re.search(r"^failed   \S*broken\.dcm: 0xC000 \(cannot understand\): ", run.stdout, re.M)
    assert re.search(r"^failed   \S*no-preamble\.dcm: not a Part 10 file", run.stdout, re.M)
    assert re.search(r"^skipped  \S*notes\.txt: not DICOM$", run.stdout, re.M)
    assert run.returncode == 1  # some files failed


def test_search_as_table_and_json(served: Served, mixed, uploaded) -> None:
    root, study, originals = mixed
    table = cli(served, root, "search", "-f", f"StudyInstanceUID={study}")
    assert table.returncode == 0, table.stderr
    assert "1 study" in table.stdout and "Test^Patient" in table.stdout
    assert str(len(originals)) in table.stdout
    as_json = cli(served, root, "search", "series", "--study", study, "--json")
    series = json.loads(as_json.stdout)
    assert sum(s["00201209"]["Value"][0] for s in series) == len(originals)


def test_retrieve_brings_back_every_byte(served: Served, mixed, uploaded, tmp_path: Path) -> None:
    root, study, originals = mixed
    out = tmp_path / "out"
    got = cli(served, root, "retrieve", study, "--out", str(out))
    assert got.returncode == 0, got.stderr[-2000:]
    files = {p.stem: p.read_bytes() for p in out.rglob("*.dcm")}
    assert files == originals
    again = cli(served, root, "retrieve", study, "--out", str(out))
    assert "retrieved 0 instances (0.0 MB)" in again.stdout
    assert f"{len(originals)} already there" in again.stdout


def test_a_folder_of_500_then_nothing_on_the_second_run(served: Served, tmp_path: Path) -> None:
    """Last: the indexer may still be busy with these when the module ends."""
    _folder(tmp_path / "many", COUNT)
    home = tmp_path / "home"
    first = cli(served, home, "upload", str(tmp_path / "many"))
    m = summary_of(first)
    assert (int(m.group(2)), m.group(8), m.group(9)) == (COUNT, "0", "0"), first.stdout
    assert first.returncode == 0
    bar = first.stderr  # the progress bar, on stderr: stdout keeps the results
    assert "upload" in bar and "files/s" in bar and "MB/s" in bar and f"{COUNT}/{COUNT}" in bar
    second = cli(served, home, "upload", str(tmp_path / "many"))
    m = summary_of(second)
    assert (int(m.group(2)), int(m.group(8)), m.group(9)) == (0, COUNT, "0"), second.stdout


def _wait_indexed(served: Served, study: str, count: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = requests.get(
            served.url + "/studies",
            params={"StudyInstanceUID": study},
            headers={"apikey": served.key},
        )
        found = r.json() if r.status_code == 200 else []
        if found and found[0]["00201208"]["Value"] == [count]:
            return
        time.sleep(0.5)
    raise AssertionError(f"{study} did not reach {count} instances")
