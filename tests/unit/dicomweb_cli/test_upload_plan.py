"""How ``upload`` orders and groups files (no network): files sharing a UID in successive
waves, STOW batches bounded, very large files and, after a 413, larger ones through presigned
uploads; the summary counts every file once; search's table keeps UIDs whole."""

from __future__ import annotations

from pathlib import Path

from dicomweb_cli.scan import SEND, Found
from dicomweb_cli.search import Found as SearchFound
from dicomweb_cli.search import table
from dicomweb_cli.session import Client, Endpoint
from dicomweb_cli.upload import (
    API_BATCH_BYTES,
    BATCH_BYTES,
    BATCH_FILES,
    FileResult,
    Sender,
    Summary,
    waves,
)

MB = 1024 * 1024


def f(name: str, size: int = 1000, uids: tuple[str, str, str] | None = None) -> Found:
    return Found(Path("/x") / name, name, size, 0, SEND, uids)


def test_files_sharing_uids_go_in_successive_waves_in_path_order() -> None:
    same = ("1", "2", "3")
    files = [f("a", uids=same), f("b", uids=("1", "2", "4")), f("c", uids=same), f("d")]
    files.append(f("e", uids=same))
    assert [[x.shown for x in w] for w in waves(files)] == [["a", "b", "d"], ["c"], ["e"]]
    # the same SOP Instance UID in another series is another instance: no wave of its own
    assert len(waves([f("a", uids=("1", "2", "3")), f("b", uids=("1", "9", "3"))])) == 1


def sender(large: int = 1024**3) -> Sender:
    return Sender(Client(Endpoint("http://127.0.0.1:1", "k")), large)


def test_batches_are_bounded_and_large_files_go_alone() -> None:
    s = sender(large=100 * MB)
    files = [f(f"s{i}", 1000) for i in range(BATCH_FILES + 5)]
    files += [f("m1", 20 * MB), f("m2", 20 * MB), f("huge", 100 * MB)]
    jobs = s.plan(files)
    assert all(len(j) <= BATCH_FILES for j in jobs)
    assert all(sum(x.size for x in j) <= BATCH_BYTES or len(j) == 1 for j in jobs)
    assert ["huge"] in [[x.shown for x in j] for j in jobs]
    assert sorted(x.shown for j in jobs for x in j) == sorted(x.shown for x in files)


def test_after_a_413_requests_fit_the_api_and_larger_files_go_alone() -> None:
    s = sender()
    files = [f(f"s{i}", MB) for i in range(10)] + [f("five", 5 * MB)]
    assert len(s.plan(files)) == 1  # 15 MB: one request to the receiver
    s.receiver_off.set()
    jobs = s.plan(files)
    assert ["five"] in [[x.shown for x in j] for j in jobs]
    assert all(sum(x.size for x in j) <= API_BATCH_BYTES for j in jobs if len(j) > 1)


def test_the_summary_counts_every_file_once() -> None:
    summary = Summary(
        [
            FileResult(f("a"), "stored"),
            FileResult(f("b"), "replaced", "stored, then replaced by c"),
            FileResult(f("c"), "stored", "replaces b"),
            FileResult(f("d"), "failed", "0xC000 (cannot understand): truncated"),
            FileResult(f("e"), "skipped", "not DICOM"),
            FileResult(f("f"), "already", "uploaded 2026-12-03T21:04:35Z"),
        ],
        seconds=2.0,
        stored_bytes=2_000_000,
    )
    assert summary.line() == (
        "6 files: 2 stored (2.0 MB in 2.0 s: 1.5 files/s, 1.0 MB/s), 1 replaced by a later "
        "file, 1 already uploaded, 1 failed, 1 skipped"
    )
    assert summary.lines() == [
        "replaced b: stored, then replaced by c",
        "failed   d: 0xC000 (cannot understand): truncated",
        "skipped  e: not DICOM",
    ]
    assert len(summary.lines(verbose=True)) == 6


def test_the_search_table_keeps_uids_whole_and_says_what_is_left() -> None:
    uid = "1.2.826.0.1.3680043.8.498." + "1" * 38  # 64 characters, the most a UID has
    item = {"00080018": {"vr": "UI", "Value": [uid]}, "00200013": {"vr": "IS", "Value": [7]}}
    lines = table("instances", [item]).splitlines()
    assert lines[0].split() == ["Number", "Rows", "Columns", "Frames", "SOPInstanceUID"]
    assert lines[1].split() == ["7", uid]
    assert SearchFound([item] * 100, more=54).footer("instances") == (
        "100 instances; 54 more: --offset 100, or --all"
    )
    assert SearchFound([item], offset=100).footer("instances") == "1 instance from offset 100"
    assert SearchFound([item] * 5, more_unknown=True).footer("studies") == (
        "5 studies; more: --offset 5, or --all"
    )
    assert SearchFound([item] * 100, more=100, over=True).footer("series") == (
        "100 series; over 100 more: --offset 100, or --all"
    )
