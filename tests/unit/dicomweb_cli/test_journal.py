"""The upload journal: a file counts as uploaded only while it is the same file, a failure is
never taken for an upload, and a replacement is remembered."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from dicomweb_cli.journal import FAILED, REPLACED, STORED, Journal
from dicomweb_cli.scan import SEND, Found
from dicomweb_cli.session import Endpoint

EP = Endpoint("http://h:1", "key")
UIDS = ("1.2", "1.2.3", "1.2.3.4")


def found(path: Path, uids: tuple[str, str, str] | None = UIDS) -> Found:
    stat = path.stat()
    return Found(path, path.name, stat.st_size, stat.st_mtime_ns, SEND, uids)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_stored_file_is_uploaded_until_its_content_changes(tmp_path: Path) -> None:
    f = tmp_path / "a.dcm"
    f.write_bytes(b"one")
    journal = Journal(EP, tmp_path / "j")
    assert journal.uploaded(found(f)) is None
    journal.record(found(f), STORED, digest(f))
    again = Journal(EP, tmp_path / "j")  # the next run reads it back
    assert again.uploaded(found(f)) is not None
    os.utime(f, ns=(1, 1))  # touched, same bytes: still uploaded (hash compared)
    assert again.uploaded(found(f)) is not None
    f.write_bytes(b"two")  # same size, other bytes, another mtime
    os.utime(f, ns=(2, 2))
    assert again.uploaded(found(f)) is None
    f.write_bytes(b"three")
    assert again.uploaded(found(f)) is None


def test_a_failed_file_is_sent_again(tmp_path: Path) -> None:
    f = tmp_path / "broken.dcm"
    f.write_bytes(b"x")
    journal = Journal(EP, tmp_path)
    journal.record(found(f), FAILED, digest(f), reason="0xC000 (cannot understand): truncated")
    assert Journal(EP, tmp_path).uploaded(found(f)) is None
    line = json.loads(journal.path.read_text().splitlines()[-1])
    assert line["outcome"] == FAILED and line["reason"].startswith("0xC000")
    assert (line["path"], line["size"], line["sha256"]) == (str(f), 1, digest(f))


def test_the_last_outcome_of_a_path_wins_and_replacements_are_remembered(tmp_path: Path) -> None:
    a, b = tmp_path / "a.dcm", tmp_path / "b.dcm"
    a.write_bytes(b"a")
    b.write_bytes(b"b")
    journal = Journal(EP, tmp_path)
    journal.record(found(a), STORED, digest(a))
    assert journal.stored_with(UIDS, other_than=b) == str(a)
    assert journal.stored_with(UIDS, other_than=a) is None
    journal.replaced(str(a), by=b)
    journal.record(found(b), STORED, digest(b))
    later = Journal(EP, tmp_path)
    earlier = later.uploaded(found(a))
    assert earlier is not None and (earlier.outcome, earlier.by) == (REPLACED, str(b))
    assert later.stored_with(UIDS, other_than=a) == str(b)


def test_a_line_cut_short_by_an_interrupted_run_is_ignored(tmp_path: Path) -> None:
    f = tmp_path / "a.dcm"
    f.write_bytes(b"a")
    journal = Journal(EP, tmp_path)
    journal.record(found(f), STORED, digest(f))
    with journal.path.open("a") as out:
        out.write('{"path": "/x", "size": 1, "outc')
    assert Journal(EP, tmp_path).uploaded(found(f)) is not None


def test_one_journal_per_endpoint_and_key(tmp_path: Path) -> None:
    one = Journal(EP, tmp_path).path
    assert Journal(Endpoint("http://h:1", "other"), tmp_path).path != one
    assert Journal(Endpoint("http://h:2", "key"), tmp_path).path != one
    assert Journal(EP, tmp_path).path == one
