"""What ``upload`` makes of each file it finds, on real files: pydicom's test files (the
RT plan and its truncated copy of the issue, a DICOMDIR, a data set without the Part 10 header)
and built ones."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from pydicom.data import get_testdata_file

from dicomweb_cli.scan import (
    DICOMDIR,
    NO_PART10,
    NOT_DICOM,
    SEND,
    check_paths,
    classify,
    walk,
)
from dicomweb_cli.session import EXIT_USAGE, CliError
from tests.factories import dataset, to_bytes

RTPLAN_SOP = "1.2.777.777.77.7.7777.7777.20030903150023"


def sample(name: str) -> Path:
    path = get_testdata_file(name)
    assert path is not None, name
    return Path(str(path))


def kind_of(path: Path) -> str:
    return classify(path, path.name).kind


def test_part10_files_are_sent_with_their_uids_even_when_truncated() -> None:
    plan = classify(sample("rtplan.dcm"), "rtplan.dcm")
    truncated = classify(sample("rtplan_truncated.dcm"), "rtplan_truncated.dcm")
    assert plan.kind == truncated.kind == SEND
    assert plan.uids == truncated.uids and plan.uids is not None
    assert plan.uids[2] == RTPLAN_SOP


def test_a_data_set_without_the_part10_header_fails_here() -> None:
    assert kind_of(sample("ExplVR_LitEndNoMeta.dcm")) == NO_PART10


def test_a_dicomdir_and_anything_else_are_skipped(tmp_path: Path) -> None:
    assert kind_of(sample("DICOMDIR")) == DICOMDIR
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "garbage.dcm").write_bytes(bytes(range(256)) * 20)
    (tmp_path / "empty").write_bytes(b"")
    (tmp_path / "DICM").write_bytes(b"DICM")
    for name in ("notes.txt", "garbage.dcm", "empty", "DICM"):
        assert kind_of(tmp_path / name) == NOT_DICOM, name


def test_reading_headers_shows_no_library_warning(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        odd = dataset(sop="1.2.3.abc")  # pydicom warns of the UI value when it reads it
        (tmp_path / "odd.dcm").write_bytes(to_bytes(odd))
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        found = classify(tmp_path / "odd.dcm", "odd.dcm")
    assert found.kind == SEND and found.uids is not None and found.uids[2] == "1.2.3.abc"
    assert shown == []


def test_folders_are_walked_in_order_and_each_file_found_once(tmp_path: Path) -> None:
    for name in ("b/2.dcm", "b/1.dcm", "a.dcm"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    given = str(tmp_path)
    found = list(walk([given, str(tmp_path / "a.dcm")]))
    assert [shown for _, shown in found] == [
        f"{given}/a.dcm",
        f"{given}/b/1.dcm",
        f"{given}/b/2.dcm",
    ]


def test_a_missing_path_is_named_before_anything_is_sent(tmp_path: Path) -> None:
    with pytest.raises(CliError) as err:
        check_paths([str(tmp_path), str(tmp_path / "nope")])
    assert err.value.code == EXIT_USAGE
    assert str(err.value) == f"no such file or folder: {tmp_path / 'nope'}"
