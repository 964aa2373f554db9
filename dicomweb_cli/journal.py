"""The upload journal: what became of each file, so a second run sends only what is not stored.

One JSON line per file and outcome, appended as answers arrive (an interrupted run keeps what
it learned), in ``~/.cache/dicomweb-cli/uploaded-<hash of URL and key>.jsonl`` (or
``--journal-dir``)::

    {"path": "/abs/a.dcm", "size": 2672, "mtime_ns": 1764795875123456789,
     "sha256": "9f86d0...", "outcome": "stored", "uids": ["1.2.3", "1.2.3.4", "1.2.3.4.5"],
     "at": "2026-12-03T21:04:35Z"}

``outcome`` is ``stored``, ``replaced`` (stored, then replaced by the later file ``by`` that
has the same study, series and SOP Instance UID) or ``failed`` (with ``reason``). The last line
of a path wins. A file counts as already uploaded when its last outcome is stored or replaced
and it is the same file: the same size and either the same mtime or, if it was touched, the
same content (its SHA-256 is computed again). A failed file is sent again on the next run, and
reported again.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dicomweb_cli.scan import Found
from dicomweb_cli.session import Endpoint

STORED, REPLACED, FAILED = "stored", "replaced", "failed"
DONE = frozenset({STORED, REPLACED})


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class Earlier:
    """A file the journal holds as uploaded: when, and by which run's outcome."""

    path: str
    outcome: str
    at: str
    by: str | None = None


class Journal:
    def __init__(self, ep: Endpoint, directory: Path | None = None) -> None:
        directory = directory or Path.home() / ".cache" / "dicomweb-cli"
        directory.mkdir(parents=True, exist_ok=True)
        identity = hashlib.sha256(f"{ep.url}|{ep.key}".encode()).hexdigest()[:16]
        self.path = directory / f"uploaded-{identity}.jsonl"
        self._last: dict[str, dict[str, Any]] = {}
        self._stored: dict[tuple[str, ...], str] = {}  # UIDs -> the path stored with them
        if self.path.exists():
            for line in self.path.read_text().splitlines():
                try:
                    self._remember(json.loads(line))
                except (ValueError, KeyError, TypeError, AttributeError):
                    continue  # a line cut short by an interrupted run, or an older format
        self._lock = threading.Lock()

    def uploaded(self, found: Found) -> Earlier | None:
        """The earlier outcome if ``found`` is a file already uploaded, unchanged."""
        entry = self._last.get(str(found.path))
        if not entry or entry.get("outcome") not in DONE or entry.get("size") != found.size:
            return None
        if entry.get("mtime_ns") != found.mtime_ns:
            digest = sha256_of(found.path)
            if digest != entry.get("sha256"):
                return None
            self._append({**entry, "mtime_ns": found.mtime_ns})  # touched, same bytes
        return Earlier(entry["path"], entry["outcome"], entry.get("at", ""), entry.get("by"))

    def stored_with(self, uids: tuple[str, str, str], other_than: Path) -> str | None:
        """Another file the journal holds as stored with these UIDs (a new file replaces it)."""
        path = self._stored.get(uids)
        return path if path is not None and path != str(other_than) else None

    def record(
        self,
        found: Found,
        outcome: str,
        sha256: str | None = None,
        reason: str | None = None,
        by: str | None = None,
    ) -> None:
        entry: dict[str, Any] = {
            "path": str(found.path),
            "size": found.size,
            "mtime_ns": found.mtime_ns,
            "sha256": sha256,
            "outcome": outcome,
            "uids": list(found.uids) if found.uids else None,
            "at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        if reason is not None:
            entry["reason"] = reason
        if by is not None:
            entry["by"] = by
        self._append(entry)

    def replaced(self, path: str, by: Path) -> None:
        """An earlier run's file, replaced by ``by`` in this run."""
        entry = self._last.get(path)
        if entry:
            self._append({**entry, "outcome": REPLACED, "by": str(by)})

    def _append(self, entry: dict[str, Any]) -> None:
        with self._lock, self.path.open("a") as out:
            self._remember(entry)
            out.write(json.dumps(entry) + "\n")

    def _remember(self, entry: dict[str, Any]) -> None:
        path = str(entry["path"])
        earlier = self._last.get(path)
        if earlier and earlier.get("uids") and self._stored.get(tuple(earlier["uids"])) == path:
            del self._stored[tuple(earlier["uids"])]
        self._last[path] = entry
        if entry.get("outcome") == STORED and entry.get("uids"):
            self._stored[tuple(entry["uids"])] = path
