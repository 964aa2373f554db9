"""``python -m dicomweb_cli`` as a process against the local stack as ``make serve`` runs it
(``local.spawn``, on free ports): the issue's folder (valid files, a truncated copy sharing a
valid file's UID, in either order, two valid files sharing one, a data set without the Part 10
header, a DICOMDIR, garbage) reported file by file, the journal, honest reruns, exit statuses;
every expected failure one line on stderr; the fallback when a STOW answers 413 (the receiver
off); ``GET /`` and ``GET /health`` from outside."""

from __future__ import annotations

import io
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from pydicom.data import get_testdata_file

from local.spawn import Served, spawn_stack
from tests.cli.helpers import journal, outcomes, run, sha256
from tests.factories import dataset, to_bytes, uid

RTPLAN_STUDY = "1.22.333.4.555555.6.7777777777777777777777777777"
RTPLAN_SERIES = "1.2.333.444.55.6.7777.8888"
RTPLAN_SOP = "1.2.777.777.77.7.7777.7777.20030903150023"


def sample(name: str) -> Path:
    path = get_testdata_file(name)
    assert path is not None, name
    return Path(str(path))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    s = spawn_stack(tmp_path_factory.mktemp("cli-process") / "state", "cli-process-" + "k" * 24)
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    """The issue's folder, and then some."""
    root = tmp_path / "scans"
    (root / "ct").mkdir(parents=True)
    study = uid()
    for n in (1, 2):
        (root / "ct" / f"ct{n}.dcm").write_bytes(to_bytes(dataset(study=study, InstanceNumber=n)))
    # pydicom's RT plan and its truncated copy: same UIDs, the valid one first in path order
    shutil.copy(sample("rtplan.dcm"), root / "rtplan.dcm")
    shutil.copy(sample("rtplan_truncated.dcm"), root / "rtplan_truncated.dcm")
    # pydicom's MR and its truncated copy (same UIDs): here the truncated one comes first
    (root / "mr").mkdir()
    shutil.copy(sample("MR_truncated.dcm"), root / "mr" / "a-truncated.dcm")
    shutil.copy(sample("MR_small.dcm"), root / "mr" / "b-valid.dcm")
    # two valid files with the same study, series and SOP Instance UID, other contents
    (root / "dup").mkdir()
    first = dataset(study=study, SeriesDescription="first")
    second = dataset(
        study=study,
        series=first.SeriesInstanceUID,
        sop=first.SOPInstanceUID,
        SeriesDescription="second",
    )
    (root / "dup" / "first.dcm").write_bytes(to_bytes(first))
    (root / "dup" / "second.dcm").write_bytes(to_bytes(second))
    bare = dataset(study=study)
    del bare.file_meta
    buf = io.BytesIO()
    bare.save_as(buf, enforce_file_format=False, implicit_vr=True, little_endian=True)
    (root / "bare.dcm").write_bytes(buf.getvalue())  # a data set without the Part 10 header
    shutil.copy(sample("DICOMDIR"), root / "DICOMDIR")
    (root / "garbage.dcm").write_bytes(bytes(range(256)) * 40)
    (root / "notes.txt").write_text("not an image")
    return root


def expected(root: Path) -> dict[str, str]:
    names = {
        "stored": ["ct/ct1.dcm", "ct/ct2.dcm", "rtplan.dcm", "mr/b-valid.dcm", "dup/second.dcm"],
        "replaced": ["dup/first.dcm"],
        "failed": ["rtplan_truncated.dcm", "mr/a-truncated.dcm", "bare.dcm"],
        "skipped": ["DICOMDIR", "garbage.dcm", "notes.txt"],
    }
    return {f"{root}/{n}": outcome for outcome, found in names.items() for n in found}


def wado(served: Served, study: str, series: str, sop: str) -> bytes:
    r = requests.get(
        f"{served.url}/studies/{study}/series/{series}/instances/{sop}",
        headers={"apikey": served.key, "Accept": "application/dicom; transfer-syntax=*"},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    return r.content


def test_each_file_once_the_journal_and_honest_reruns(served: Served, mixed: Path, tmp_path):
    home = tmp_path / "home"
    want = expected(mixed)
    first = run("upload", str(mixed), "-v", url=served.url, key=served.key, home=home)
    got = outcomes(first.stdout)
    assert {path: o for path, (o, _) in got.items()} == want, first.stdout
    assert first.returncode == 1, first.stderr  # some files failed
    assert first.stderr == ""
    assert got[f"{mixed}/rtplan_truncated.dcm"][1].startswith("0xC000 (cannot understand): ")
    assert "truncated" in got[f"{mixed}/rtplan_truncated.dcm"][1]
    assert got[f"{mixed}/mr/a-truncated.dcm"][1].startswith("0xC000 (cannot understand): ")
    assert got[f"{mixed}/bare.dcm"][1].startswith("not a Part 10 file")
    assert got[f"{mixed}/dup/first.dcm"][1].startswith(f"stored, then replaced by {mixed}/dup/")
    assert got[f"{mixed}/dup/second.dcm"][1] == f"replaces {mixed}/dup/first.dcm"
    assert got[f"{mixed}/DICOMDIR"][1].startswith("a DICOMDIR")
    summary = first.stdout.splitlines()[-2]
    assert summary.startswith("12 files: 5 stored (") and summary.endswith(
        "1 replaced by a later file, 0 already uploaded, 3 failed, 3 skipped"
    ), summary
    # the journal: each file's last outcome, its size and content hash
    entries = journal(home)
    for path, outcome in want.items():
        if outcome == "skipped":
            assert path not in entries
            continue
        entry = entries[path]
        assert entry["outcome"] == outcome, (path, entry)
        assert entry["size"] == Path(path).stat().st_size
        if outcome in ("stored", "replaced"):
            assert entry["sha256"] == sha256(Path(path))
    assert entries[f"{mixed}/dup/first.dcm"]["by"] == f"{mixed}/dup/second.dcm"
    assert entries[f"{mixed}/rtplan_truncated.dcm"]["reason"].startswith("0xC000")
    # the service holds the valid RT plan, and the later of the two duplicates
    assert (
        wado(served, RTPLAN_STUDY, RTPLAN_SERIES, RTPLAN_SOP) == (mixed / "rtplan.dcm").read_bytes()
    )
    dup = dataset_uids(mixed / "dup" / "second.dcm")
    assert wado(served, *dup) == (mixed / "dup" / "second.dcm").read_bytes()

    # a rerun: nothing stored is sent again; the broken files are, and fail again
    quiet = run("upload", str(mixed), url=served.url, key=served.key, home=home)
    assert quiet.returncode == 1
    lines = quiet.stdout.splitlines()
    # without -v: a line for each file that needs a look (failed, skipped), the same words
    assert sorted(lines[:-2]) == sorted(
        f"{o:<9}{p}: {got[p][1]}" for p, o in want.items() if o in ("failed", "skipped")
    ), quiet.stdout
    assert lines[-2].startswith("12 files: 0 stored (") and lines[-2].endswith(
        "0 replaced by a later file, 6 already uploaded, 3 failed, 3 skipped"
    ), lines[-2]
    assert lines[-1] == f"journal: {next((home / '.cache' / 'dicomweb-cli').glob('*.jsonl'))}"

    # the broken files removed, one stored file touched (same bytes), one changed
    for name in ("rtplan_truncated.dcm", "mr/a-truncated.dcm", "bare.dcm"):
        (mixed / name).unlink()
    ct1 = mixed / "ct" / "ct1.dcm"
    ct2 = mixed / "ct" / "ct2.dcm"
    ct2.touch()
    changed = dataset_uids(ct1)
    ct1.write_bytes(to_bytes(dataset(study=changed[0], series=changed[1], sop=changed[2])))
    last = run("upload", str(mixed), "-v", url=served.url, key=served.key, home=home)
    assert last.returncode == 0, last.stdout + last.stderr
    after = outcomes(last.stdout)
    assert after[str(ct1)] == ("stored", "")
    assert after[str(ct2)][0] == "already"
    assert after[f"{mixed}/dup/first.dcm"][0] == "already"
    assert after[f"{mixed}/dup/first.dcm"][1].endswith(f"since replaced by {mixed}/dup/second.dcm")
    assert wado(served, *changed) == ct1.read_bytes()


def dataset_uids(path: Path) -> tuple[str, str, str]:
    import pydicom

    ds = pydicom.dcmread(path, stop_before_pixels=True)
    return ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID


def test_expected_failures_are_one_line_and_an_exit_status(served: Served, tmp_path: Path):
    home = tmp_path / "home"
    folder = tmp_path / "scans"
    folder.mkdir()
    for n in range(6):
        (folder / f"{n}.dcm").write_bytes(to_bytes(dataset()))

    def cli(*args: str, url: str = served.url, key: str = served.key):
        return run(*args, url=url, key=key, home=home, cwd=tmp_path)

    missing = cli("upload", str(tmp_path / "nope"))
    assert (missing.returncode, missing.stdout) == (2, "")
    assert missing.stderr == f"upload: no such file or folder: {tmp_path / 'nope'}\n"

    closed = "http://127.0.0.1:9"  # nothing listens there
    started = time.monotonic()
    unreachable = cli("upload", str(folder), url=closed)
    assert unreachable.returncode == 3 and time.monotonic() - started < 10
    assert unreachable.stdout == ""  # said before the folder is read
    assert unreachable.stderr == (
        f"upload: cannot reach {closed} (Connection refused): is the service running, and is "
        "--url (or DICOMWEB_URL) its DICOMweb root?\n"
    )
    for command in (["search"], ["retrieve", "1.2.3"]):
        done = cli(*command, url=closed)
        assert done.returncode == 3 and done.stderr.startswith(
            f"{command[0]}: cannot reach {closed}"
        )

    refused = cli("upload", str(folder), "--workers", "2", key="wrong-key")
    assert refused.returncode == 4
    assert refused.stderr.count("\n") == 1 and "401" in refused.stderr, refused.stderr
    assert refused.stderr.startswith("upload: the service refused the API key (HTTP 401: ")
    assert refused.stdout == ""  # nothing was sent: the reason alone
    assert cli("search", key="wrong-key").returncode == 4

    unknown = cli("retrieve", "1.2.3.4.5.6")
    assert (unknown.returncode, unknown.stdout) == (5, "")
    assert (
        unknown.stderr == "retrieve: no study 1.2.3.4.5.6 (none with this UID for this API key)\n"
    )
    assert not (tmp_path / "dicomweb-studies").exists()

    malformed = cli("search", "-f", "StudyDate=2025-01-01")
    assert malformed.returncode == 2
    assert malformed.stderr == (
        "search: the service refused the query (HTTP 400: StudyDate has a malformed DA value)\n"
    )

    # and when all goes well: 0, and retrieve writes under its named folder
    stored = cli("upload", str(folder))
    assert stored.returncode == 0, stored.stdout + stored.stderr
    study = dataset_uids(folder / "0.dcm")[0]
    got = cli("retrieve", study)
    assert got.returncode == 0, got.stderr
    assert list((tmp_path / "dicomweb-studies" / study).rglob("*.dcm"))
    assert got.stdout == (
        f"retrieved 1 instance ({(folder / '0.dcm').stat().st_size / 1e6:.1f} MB) into "
        f"dicomweb-studies/{study}; 0 already there, 0 failed\n"
    )


def test_a_413_sends_the_rest_in_smaller_requests_and_large_files_presigned(tmp_path: Path):
    """With the receiver off (``STOW_RECEIVER=off``, the deployed ``StowReceiver=Disabled``) a
    STOW over ~4.5 MB answers 413: the CLI goes on in requests the API takes, and sends a file
    over that through a presigned upload, then follows its status URL."""
    served = spawn_stack(tmp_path / "state", "cli-off-" + "k" * 24, {"STOW_RECEIVER": "off"})
    try:
        folder = tmp_path / "scans"
        folder.mkdir()
        study = uid()
        big = dataset(study=study, rows=1500, columns=1500)  # 4.5 MB
        (folder / "big.dcm").write_bytes(to_bytes(big))
        for n in range(8):  # 720 KB each: 5.8 MB together
            mid = dataset(study=study, rows=600, columns=600, InstanceNumber=n)
            (folder / f"mid{n}.dcm").write_bytes(to_bytes(mid))
        done = run("upload", str(folder), "-v", url=served.url, key=served.key, home=tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
        got = outcomes(done.stdout)
        assert got[f"{folder}/big.dcm"] == ("stored", "through a presigned upload (POST /uploads)")
        assert {o for o, _ in got.values()} == {"stored"} and len(got) == 9
        assert done.stderr.startswith("note: the service took at most a few MB a request (HTTP 413")
        assert wado(served, study, big.SeriesInstanceUID, big.SOPInstanceUID) == to_bytes(big)
    finally:
        served.stop()


def test_the_root_and_health_answer_from_outside(served: Served) -> None:
    """No key; every link of ``GET /`` works; the root is the stack's whatever Host a client
    sends (dicomweb-client sends ``Host: 127.0.0.1``, without the port)."""
    for host in (None, "127.0.0.1", "elsewhere.example:8443"):
        headers = {"Host": host} if host else {}
        about = requests.get(served.url + "/", headers=headers, timeout=10)
        assert about.status_code == 200
        assert about.json()["dicomweb"] == served.url, host
        for link in about.json()["links"].values():
            assert link.startswith(served.url + "/")
            assert requests.get(link, timeout=10).status_code == 200, link
    health = requests.get(served.url + "/health", timeout=10)
    assert health.json() == {"status": "ok"}
