"""One STOW request of the CLI: its body as the service reads it, and the service's answer
matched to the files by part position, never by SOP Instance UID."""

from __future__ import annotations

import hashlib
from pathlib import Path

from chalicelib.dicomweb.errors import FailureReason
from chalicelib.dicomweb.multipart import read_multipart
from chalicelib.dicomweb.stow_response import Failed, Referenced, store_instances_response
from dicomweb_cli.scan import SEND, Found
from dicomweb_cli.stow import MultipartBody, part_outcomes
from tests.factories import instance_bytes

UIDS = ("1.2.3", "1.2.3.4", "1.2.3.4.5")


def found(path: Path, data: bytes, uids: tuple[str, str, str] | None = UIDS) -> Found:
    path.write_bytes(data)
    return Found(path, path.name, len(data), 0, SEND, uids)


def test_the_body_is_what_the_service_reads_and_its_length_is_exact(tmp_path: Path) -> None:
    datas = [instance_bytes(), instance_bytes(rows=64, columns=64), b"x" * 3_000_000]
    files = [found(tmp_path / f"f{i}", d) for i, d in enumerate(datas)]
    body = MultipartBody(files, "b0undary")
    assert body.content_type == 'multipart/related; type="application/dicom"; boundary=b0undary'
    sent = b""
    while block := body.read(8192):
        sent += block
    assert len(sent) == len(body)
    parts = read_multipart(sent, "b0undary")
    assert [p.content for p in parts] == datas
    assert [p.content_type for p in parts] == ["application/dicom"] * 3
    assert body.digests == [hashlib.sha256(d).hexdigest() for d in datas]


def answer(referenced: list[int], failed: list[tuple[int, str | None, str]]) -> dict:
    return store_instances_response(
        "http://h/studies/1.2.3",
        [Referenced(p, "1.2.840.10008.5.1.4.1.1.2", UIDS[2], f"http://h/{p}") for p in referenced],
        [Failed(p, None, sop, FailureReason.CANNOT_UNDERSTAND, text) for p, sop, text in failed],
    )


def test_files_sharing_a_uid_each_get_their_own_answer(tmp_path: Path) -> None:
    """The issue: rtplan.dcm and its truncated copy (same SOP Instance UID) in one request;
    matched by UID the valid one was reported failed and the truncated one stored."""
    valid = found(tmp_path / "rtplan.dcm", b"v")
    truncated = found(tmp_path / "rtplan_truncated.dcm", b"t")
    body = answer(
        [1], [(2, UIDS[2], "file is truncated: element (300A,00B0) 976 bytes, 82 present")]
    )
    outcomes = part_outcomes(body, [valid, truncated])
    assert outcomes[0].stored and outcomes[0].reason == ""
    assert not outcomes[1].stored
    assert outcomes[1].reason == (
        "0xC000 (cannot understand): file is truncated: element (300A,00B0) 976 bytes, 82 present"
    )
    # the other order
    outcomes = part_outcomes(answer([2], [(1, UIDS[2], "truncated")]), [truncated, valid])
    assert [o.stored for o in outcomes] == [False, True]


def test_a_failure_without_uids_is_still_its_files(tmp_path: Path) -> None:
    files = [found(tmp_path / f"f{i}", b"x", None) for i in range(3)]
    body = answer([1, 3], [(2, None, "not a DICOM Part 10 file (no preamble or DICM prefix)")])
    outcomes = part_outcomes(body, files)
    assert [o.stored for o in outcomes] == [True, False, True]
    assert "not a DICOM Part 10 file" in outcomes[1].reason


def test_a_file_the_answer_does_not_mention_failed(tmp_path: Path) -> None:
    files = [found(tmp_path / f"f{i}", b"x") for i in range(2)]
    outcomes = part_outcomes(answer([1], []), files)
    assert outcomes[0].stored and not outcomes[1].stored
    assert outcomes[1].reason == "the service's answer does not mention this file"


def test_a_server_without_positions_is_matched_by_a_uid_only_one_file_has(tmp_path: Path) -> None:
    a = found(tmp_path / "a", b"a", ("1", "2", "3.1"))
    b = found(tmp_path / "b", b"b", ("1", "2", "3.2"))
    c = found(tmp_path / "c", b"c", ("1", "2", "3.2"))  # shares b's UID: ambiguous
    body = {
        "00081199": {"vr": "SQ", "Value": [{"00081155": {"vr": "UI", "Value": ["3.1"]}}]},
        "00081198": {
            "vr": "SQ",
            "Value": [
                {
                    "00081155": {"vr": "UI", "Value": ["3.2"]},
                    "00081197": {"vr": "US", "Value": [0xA700]},
                }
            ],
        },
    }
    outcomes = part_outcomes(body, [a, b, c])
    assert outcomes[0].stored
    assert [o.reason for o in outcomes[1:]] == [
        "the service's answer does not mention this file"
    ] * 2
    (single,) = part_outcomes({"00081198": body["00081198"]}, [b])
    assert single.reason == "0xA700 (out of resources)"
