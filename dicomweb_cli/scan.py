"""What ``upload`` finds: every file under the paths given, each classified once.

* ``part10``: a DICOM Part 10 file (the 128-byte preamble, then ``DICM``): sent. Its study,
  series and SOP Instance UIDs are read from the header when they can be (files sharing all
  three are sent one after the other, so the later one replaces the earlier, as the service
  does for a re-stored instance).
* ``dicomdir``: a Part 10 DICOMDIR (Media Storage Directory): an index of a CD or DVD, not an
  instance: skipped.
* ``no_part10``: a DICOM data set without the preamble and ``DICM`` (what some tools write):
  the service stores only Part 10 files and always refuses it, so it is not sent: failed here,
  with the reason.
* ``too_large``: over the service's 4 GiB a file: failed here.
* ``not_dicom``: anything else: skipped.

pydicom's warnings about the headers it reads are not shown: the service's answer is what
counts, and they would draw into the progress bar.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from dicomweb_cli.session import EXIT_USAGE, CliError

#: The largest file the service stores (the STOW receiver's request and POST /uploads bound).
MAX_FILE_BYTES = 4 * 1024**3
MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"

SEND = "part10"
DICOMDIR = "dicomdir"
NO_PART10 = "no_part10"
TOO_LARGE = "too_large"
NOT_DICOM = "not_dicom"

#: The reason a file is not sent, in words, by kind.
REASONS = {
    DICOMDIR: "a DICOMDIR (the index of a media set, not an instance)",
    NOT_DICOM: "not DICOM",
    NO_PART10: "not a Part 10 file (no 128-byte preamble and DICM prefix), which the service "
    "refuses: convert it first (dcmtk's dcmconv, or pydicom's dcmwrite with "
    "enforce_file_format=True)",
    TOO_LARGE: f"over the service's {MAX_FILE_BYTES // 1024**3} GiB a file",
}


@dataclass(frozen=True)
class Found:
    """A file as found: its absolute path, the path shown to the person, size and mtime,
    what it is, and (Part 10 files whose header reads) its study, series and SOP UIDs."""

    path: Path
    shown: str
    size: int
    mtime_ns: int
    kind: str
    uids: tuple[str, str, str] | None = None


def check_paths(paths: Iterable[str]) -> None:
    """Every path exists, before anything is sent (one line naming the first that does not)."""
    for given in paths:
        if not os.path.exists(given):
            raise CliError(f"no such file or folder: {given}", EXIT_USAGE)


def walk(paths: Iterable[str]) -> Iterator[tuple[Path, str]]:
    """(absolute path, shown path) of every file, folders recursively, each file once."""
    seen: set[Path] = set()
    for given in paths:
        root = Path(given)
        if root.is_dir():
            for dirpath, dirnames, names in os.walk(root):
                dirnames.sort()
                for name in sorted(names):
                    path = Path(dirpath) / name
                    if path.is_file() and path.resolve() not in seen:
                        seen.add(path.resolve())
                        yield path.resolve(), str(path)
        elif root.is_file() and root.resolve() not in seen:
            seen.add(root.resolve())
            yield root.resolve(), given


def classify(path: Path, shown: str) -> Found:
    stat = path.stat()
    found = Found(path, shown, stat.st_size, stat.st_mtime_ns, NOT_DICOM)
    try:
        with path.open("rb") as f:
            head = f.read(132)
    except OSError:
        return found
    part10 = head[128:132] == b"DICM"
    if not part10 and len(head) < 8:
        return found
    with warnings.catch_warnings():  # pydicom's, on reading the header or its values
        warnings.simplefilter("ignore")
        ds = _header(path, part10)
        uids = _uids(ds)
        meta = getattr(ds, "file_meta", None)
        directory = getattr(meta, "MediaStorageSOPClassUID", None) == MEDIA_STORAGE_DIRECTORY
    if part10:
        if stat.st_size > MAX_FILE_BYTES:
            return _with(found, TOO_LARGE)
        return _with(found, DICOMDIR) if directory else _with(found, SEND, uids)
    if uids is not None:  # a data set, without the Part 10 header
        return _with(found, NO_PART10)
    return found


def _with(found: Found, kind: str, uids: tuple[str, str, str] | None = None) -> Found:
    return Found(found.path, found.shown, found.size, found.mtime_ns, kind, uids)


def _header(path: Path, part10: bool) -> object | None:
    import pydicom

    try:
        return pydicom.dcmread(
            str(path), stop_before_pixels=True, force=not part10, defer_size=4096
        )
    except Exception:  # any unreadable header: the service's answer says why
        return None


def _uids(ds: object | None) -> tuple[str, str, str] | None:
    try:
        uids = tuple(
            str(getattr(ds, k, "") or "").strip()
            for k in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")
        )
    except Exception:  # a value pydicom cannot convert
        return None
    if not all(uids):
        return None
    study, series, sop = uids
    return study, series, sop
