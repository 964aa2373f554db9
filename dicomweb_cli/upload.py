"""``upload PATH...``: folders recursively, DICOM files only, in parallel, resumable.

- Detection: a Part 10 preamble (``DICM`` at byte 128), or a header pydicom can read with a
  SOP Instance UID (files without a preamble); anything else is counted as skipped.
- Batches: files are packed into STOW requests of at most ``BATCH_BYTES`` (4 MB of DICOM, about
  5.4 MB once API Gateway base64-encodes it for Lambda: under the 6 MB payload) and
  ``BATCH_FILES``; a file larger than a batch goes through ``POST /uploads`` (a presigned PUT,
  or an S3 multipart upload above the service's threshold) and is imported by the service.
- Retries: throttling (429), transient errors (502/503/504) and dropped connections are retried
  with backoff; per-instance refusals (a FailureReason) are not: they are reported.
- Resumable: every stored file is recorded in a journal (``~/.cache/dicomweb-cli/``, one per
  endpoint and key) by path, size and mtime; a second run skips them and sends nothing.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from dicomweb_cli.session import Endpoint, with_retries

BATCH_BYTES = 4 * 1024 * 1024
BATCH_FILES = 50
STOW_TYPE = 'multipart/related; type="application/dicom"; boundary={boundary}'
#: DICOM status names for the failure reasons a STOW answers (PS3.18 Table I.2-1 and others)
REASONS = {
    0xA700: "out of resources",
    0xA900: "data set does not match SOP class",
    0xA901: "instance does not belong to the study in the URL",
    0xC000: "cannot understand",
    0xC122: "referenced transfer syntax not supported",
    0x0122: "SOP class not supported",
    0x0110: "processing failure",
}


@dataclass(frozen=True)
class Candidate:
    path: Path
    size: int
    mtime_ns: int

    @property
    def journal_key(self) -> str:
        return f"{self.path}|{self.size}|{self.mtime_ns}"


@dataclass
class Summary:
    uploaded: int = 0
    uploaded_bytes: int = 0
    already: int = 0
    not_dicom: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    def line(self) -> str:
        rate = self.uploaded / self.seconds if self.seconds else 0.0
        mb = self.uploaded_bytes / 1e6
        return (
            f"uploaded {self.uploaded} files ({mb:.1f} MB) in {self.seconds:.1f} s "
            f"({rate:.1f} files/s, {mb / self.seconds if self.seconds else 0:.1f} MB/s); "
            f"{self.already} already uploaded, {self.not_dicom} not DICOM, "
            f"{len(self.failures)} failed"
        )


def is_dicom(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            head = f.read(132)
    except OSError:
        return False
    if head[128:132] == b"DICM":
        return True
    if len(head) < 8:
        return False
    try:  # no preamble: a header pydicom reads, naming an instance
        import pydicom

        ds = pydicom.dcmread(str(path), stop_before_pixels=True, force=True)
        return bool(getattr(ds, "SOPInstanceUID", None))
    except Exception:
        return False


def walk(paths: Iterable[str]) -> Iterator[Path]:
    for given in paths:
        root = Path(given)
        if root.is_dir():
            for dirpath, _, names in os.walk(root):
                for name in sorted(names):
                    yield Path(dirpath) / name
        elif root.is_file():
            yield root


class Journal:
    """What was stored, by path, size and mtime: one JSON line per file, appended as it goes."""

    def __init__(self, ep: Endpoint, directory: Path | None = None) -> None:
        directory = directory or Path.home() / ".cache" / "dicomweb-cli"
        directory.mkdir(parents=True, exist_ok=True)
        identity = hashlib.sha256(f"{ep.url}|{ep.key}".encode()).hexdigest()[:16]
        self.path = directory / f"uploaded-{identity}.jsonl"
        self.done: set[str] = set()
        if self.path.exists():
            for line in self.path.read_text().splitlines():
                try:
                    self.done.add(json.loads(line)["file"])
                except (ValueError, KeyError):
                    continue  # a line cut short by an interrupted run
        self._lock = threading.Lock()

    def record(self, files: Iterable[Candidate]) -> None:
        with self._lock, self.path.open("a") as out:
            for c in files:
                self.done.add(c.journal_key)
                out.write(json.dumps({"file": c.journal_key}) + "\n")


def batches(files: list[Candidate]) -> tuple[list[list[Candidate]], list[Candidate]]:
    """STOW batches under the payload limit, and the files too large for any batch."""
    small = [c for c in files if c.size <= BATCH_BYTES]
    large = [c for c in files if c.size > BATCH_BYTES]
    out: list[list[Candidate]] = []
    current: list[Candidate] = []
    size = 0
    for c in small:
        if current and (size + c.size > BATCH_BYTES or len(current) >= BATCH_FILES):
            out.append(current)
            current, size = [], 0
        current.append(c)
        size += c.size
    if current:
        out.append(current)
    return out, large


def _reason(item: dict[str, Any]) -> str:
    code = (item.get("00081197") or {}).get("Value", [None])[0]
    if code is None:
        return "refused"
    return f"0x{code:04X} {REASONS.get(code, '')}".strip()


def _stored_and_failed(
    body: dict[str, Any], batch: list[Candidate]
) -> tuple[list[Candidate], list[tuple[str, str]]]:
    """Match the Store Instances Response to the files, by SOP Instance UID."""
    import pydicom

    by_uid: dict[str, Candidate] = {}
    for c in batch:
        try:
            ds = pydicom.dcmread(str(c.path), stop_before_pixels=True, force=True)
            by_uid[str(ds.SOPInstanceUID)] = c
        except Exception:  # noqa: S112 - unreadable here: the server's answer says why
            continue
    failed: list[tuple[str, str]] = []
    failed_paths: set[Path] = set()
    for item in (body.get("00081198") or {}).get("Value", []):
        uid = (item.get("00081155") or {}).get("Value", [""])[0]
        match = by_uid.get(uid)
        name = str(match.path) if match else uid or "?"
        if match:
            failed_paths.add(match.path)
        failed.append((name, _reason(item)))
    stored_uids = {
        (i.get("00081155") or {}).get("Value", [""])[0]
        for i in (body.get("00081199") or {}).get("Value", [])
    }
    stored = [c for uid, c in by_uid.items() if uid in stored_uids]
    for c in batch:  # neither stored nor refused by UID (e.g. unreadable): still reported
        if c not in stored and c.path not in failed_paths:
            failed.append((str(c.path), "not stored (no per-instance answer)"))
    return stored, failed


class Uploader:
    def __init__(self, http: requests.Session, ep: Endpoint, journal: Journal) -> None:
        self.http, self.ep, self.journal = http, ep, journal

    def stow(self, batch: list[Candidate]) -> tuple[list[Candidate], list[tuple[str, str]]]:
        boundary = uuid.uuid4().hex
        chunks: list[bytes] = []
        for c in batch:
            chunks += [
                f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode(),
                c.path.read_bytes(),
                b"\r\n",
            ]
        chunks.append(f"--{boundary}--\r\n".encode())
        body = b"".join(chunks)
        headers = {
            "Content-Type": STOW_TYPE.format(boundary=boundary),
            "Accept": "application/dicom+json",
        }
        r = with_retries(
            lambda: self.http.post(self.ep.url + "/studies", data=body, headers=headers)
        )
        if r.status_code in (200, 202, 409):
            return _stored_and_failed(r.json(), batch)
        return [], [(str(c.path), _http_reason(r)) for c in batch]

    def upload_large(self, c: Candidate) -> tuple[list[Candidate], list[tuple[str, str]]]:
        """One large file through ``POST /uploads``: PUT (or multipart), then wait for the
        import's result."""
        spec: dict[str, Any] = {"files": [{"name": c.path.name, "size": c.size}]}
        r = with_retries(lambda: self.http.post(self.ep.url + "/uploads", json=spec))
        if r.status_code != 201:
            return [], [(str(c.path), _http_reason(r))]
        answer = r.json()
        (target,) = answer["files"]
        plain = requests.Session()  # presigned URLs are the credential: no key goes to S3
        if "url" in target:
            data = c.path.read_bytes()
            put = with_retries(
                lambda: plain.put(target["url"], data=data, headers=target.get("headers", {}))
            )
            if put.status_code >= 300:
                return [], [(str(c.path), f"upload refused: HTTP {put.status_code}")]
        else:
            multipart = target["multipart"]
            etags = []
            with c.path.open("rb") as f:
                for part in multipart["parts"]:
                    f.seek((part["partNumber"] - 1) * multipart["partSize"])
                    chunk = f.read(multipart["partSize"])
                    url: str = part["url"]
                    put = with_retries(functools.partial(plain.put, url, data=chunk))
                    if put.status_code >= 300:
                        return [], [(str(c.path), f"part refused: HTTP {put.status_code}")]
                    etags.append({"partNumber": part["partNumber"], "etag": put.headers["ETag"]})
            done = with_retries(
                lambda: self.http.post(multipart["complete"], json={"parts": etags})
            )
            if done.status_code >= 300:
                return [], [(str(c.path), _http_reason(done))]
        return self._await_import(answer["status"], c)

    def _await_import(
        self, status_url: str, c: Candidate, timeout: float = 300.0
    ) -> tuple[list[Candidate], list[tuple[str, str]]]:
        deadline = time.monotonic() + timeout
        delay = 0.2
        while time.monotonic() < deadline:
            r = with_retries(lambda: self.http.get(status_url))
            if r.status_code == 200:
                body = r.json()
                if body.get("stored"):
                    return [c], []
                failed = (body.get("response") or {}).get("00081198", {}).get("Value", [])
                return [], [(str(c.path), _reason(failed[0]) if failed else "not stored")]
            if r.status_code != 202:
                return [], [(str(c.path), _http_reason(r))]
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
        return [], [(str(c.path), "uploaded, but not imported within 5 minutes")]


def _http_reason(r: requests.Response) -> str:
    try:
        return f"HTTP {r.status_code}: {r.json()['error']['message']}"
    except (ValueError, KeyError, TypeError):
        return f"HTTP {r.status_code}"


Progress = Callable[[int, int], None]  # (files, bytes) done since the last call


def upload(
    paths: list[str],
    http: requests.Session,
    ep: Endpoint,
    journal: Journal,
    workers: int = 4,
    on_found: Callable[[int, int], None] | None = None,
    on_progress: Progress | None = None,
) -> Summary:
    started = time.monotonic()
    summary = Summary()
    todo: list[Candidate] = []
    for path in walk(paths):
        stat = path.stat()
        c = Candidate(path.resolve(), stat.st_size, stat.st_mtime_ns)
        if c.journal_key in journal.done:
            summary.already += 1
        elif is_dicom(path):
            todo.append(c)
        else:
            summary.not_dicom += 1
    if on_found:
        on_found(len(todo), sum(c.size for c in todo))
    small, large = batches(todo)
    uploader = Uploader(http, ep, journal)
    jobs = [(b, lambda b=b: uploader.stow(b)) for b in small] + [
        ([c], lambda c=c: uploader.upload_large(c)) for c in large
    ]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(job): files for files, job in jobs}
        for future in as_completed(futures):
            try:
                stored, failed = future.result()
            except (requests.RequestException, OSError) as exc:  # after the retries
                stored = []
                failed = [(str(c.path), type(exc).__name__) for c in futures[future]]
            journal.record(stored)
            summary.uploaded += len(stored)
            summary.uploaded_bytes += sum(c.size for c in stored)
            summary.failures += failed
            if on_progress:
                done = len(stored) + len(failed)
                on_progress(done, sum(c.size for c in stored))
    summary.seconds = time.monotonic() - started
    return summary
