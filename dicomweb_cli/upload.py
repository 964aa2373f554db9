"""``upload PATH...``: files and folders, every file reported once with what became of it.

- What is sent (``scan.py``): DICOM Part 10 files. A data set without the Part 10 header, which
  the service always refuses, fails here with the reason; DICOMDIRs and anything not DICOM are
  skipped.
- How: the standard STOW-RS (``POST /studies``), several files a request (at most
  ``BATCH_FILES`` and ``BATCH_BYTES``), ``workers`` requests at a time. A file of at least
  ``large`` bytes goes through a presigned upload (``presigned.py``), whose parts are retried
  one by one. A STOW answered 413 (the receiver turned off: API Gateway's ~4.5 MB) makes the
  rest go in requests of at most ``API_BATCH_BYTES``, and larger files through presigned
  uploads.
- Answers are matched to files by part position (``stow.py``). Files with the same study,
  series and SOP Instance UID go in successive waves, so the later (in path order) replaces the
  earlier, as the service replaces a re-stored instance; both are reported, the earlier as
  replaced. A file replacing one stored by an earlier run says so too.
- Retries: throttling, transient errors and dropped connections (``session.Client``). A refused
  key, an unreachable or wrong URL stop the run (``CliError``): files not sent are reported so.
- Resumable (``journal.py``): a file stored by an earlier run, unchanged, is not sent again.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from dicomweb_cli.journal import FAILED, REPLACED, STORED, Journal
from dicomweb_cli.presigned import upload_presigned
from dicomweb_cli.scan import NOT_DICOM, REASONS, SEND, Found, check_paths, classify, walk
from dicomweb_cli.session import EXIT_INTERRUPTED, Client, CliError, error_message
from dicomweb_cli.stow import STOW_TYPE, MultipartBody, PartOutcome, part_outcomes

#: A STOW request: at most this many files and bytes (the receiver takes any size; smaller
#: requests keep a retry cheap and four of them in flight).
BATCH_FILES = 100
BATCH_BYTES = 32 * 1024 * 1024
#: Once a STOW answered 413 (no receiver): requests under API Gateway's Lambda payload
#: (6 MB once base64-encoded), larger files through presigned uploads.
API_BATCH_BYTES = 4 * 1024 * 1024
#: Files of at least this size go through presigned uploads (each 64 MB part retried alone).
LARGE_FILE = 1024**3

ALREADY, SKIPPED, NOT_SENT = "already", "skipped", "not sent"
VIA_UPLOADS = "through a presigned upload (POST /uploads)"
#: Said once when a STOW answered 413.
NO_RECEIVER = (
    "the service took at most a few MB a request (HTTP 413: its streaming STOW receiver is "
    "off): the files went in smaller requests, larger ones through presigned uploads"
)
#: The order of the summary, and of the lines.
OUTCOMES = (STORED, REPLACED, ALREADY, FAILED, SKIPPED, NOT_SENT)


@dataclass
class FileResult:
    found: Found
    outcome: str
    detail: str = ""

    def line(self) -> str:
        return f"{self.outcome:<9}{self.found.shown}" + (f": {self.detail}" if self.detail else "")


@dataclass
class Summary:
    results: list[FileResult] = field(default_factory=list)
    seconds: float = 0.0
    stored_bytes: int = 0
    fatal: CliError | None = None
    notes: list[str] = field(default_factory=list)
    #: files the service answered for (none: a stop before the first answer says only why)
    answered: int = 0

    def count(self, outcome: str) -> int:
        return sum(1 for r in self.results if r.outcome == outcome)

    def lines(self, verbose: bool = False) -> list[str]:
        """One line per file: all of them, or (the default) those failed, skipped or replaced
        (files stored, already uploaded or not sent are counted in the summary)."""
        quiet = () if verbose else (STORED, ALREADY, NOT_SENT)
        return [r.line() for r in self.results if r.outcome not in quiet]

    def line(self) -> str:
        sent = self.count(STORED) + self.count(REPLACED)
        secs = self.seconds or 1e-9
        mb = self.stored_bytes / 1e6
        text = (
            f"{len(self.results)} files: {self.count(STORED)} stored ({mb:.1f} MB in "
            f"{self.seconds:.1f} s: {sent / secs:.1f} files/s, {mb / secs:.1f} MB/s), "
            f"{self.count(REPLACED)} replaced by a later file, {self.count(ALREADY)} already "
            f"uploaded, {self.count(FAILED)} failed, {self.count(SKIPPED)} skipped"
        )
        return text + (f", {self.count(NOT_SENT)} not sent" if self.count(NOT_SENT) else "")


Sent = list[tuple[Found, PartOutcome, str | None]]  # each file, its outcome, its SHA-256


class Sender:
    """Sends files as STOW requests (or presigned uploads) and says what became of each."""

    def __init__(self, client: Client, large: int = LARGE_FILE) -> None:
        self.client = client
        self.large = large
        self.receiver_off = threading.Event()  # a STOW answered 413

    def plan(self, files: list[Found]) -> list[list[Found]]:
        """Requests for ``files``: STOW batches, and single files through presigned uploads."""
        limit = API_BATCH_BYTES if self.receiver_off.is_set() else BATCH_BYTES
        jobs: list[list[Found]] = []
        batch: list[Found] = []
        size = 0
        for f in files:
            if f.size >= self.large or f.size > limit:
                jobs.append([f])
                continue
            if batch and (size + f.size > limit or len(batch) >= BATCH_FILES):
                jobs.append(batch)
                batch, size = [], 0
            batch.append(f)
            size += f.size
        return jobs + ([batch] if batch else [])

    def send(self, files: list[Found]) -> Sent:
        limit = API_BATCH_BYTES if self.receiver_off.is_set() else BATCH_BYTES
        if len(files) == 1 and (files[0].size >= self.large or files[0].size > limit):
            outcome, digest = self.presigned(files[0])
            return [(files[0], outcome, digest)]
        if self.receiver_off.is_set() and sum(f.size for f in files) > API_BATCH_BYTES:
            return self._one_by_one(files)  # planned before the 413
        return self.stow(files, fallback=True)

    def stow(self, files: list[Found], fallback: bool) -> Sent:
        boundary = uuid.uuid4().hex
        bodies: list[MultipartBody] = []

        def body() -> MultipartBody:  # a fresh body for each attempt
            bodies.append(MultipartBody(files, boundary))
            return bodies[-1]

        r = self.client.send(
            "POST",
            self.client.url("/studies"),
            make_data=body,
            headers={
                "Content-Type": STOW_TYPE.format(boundary=boundary),
                "Accept": "application/dicom+json",
            },
        )
        sent_body = bodies[-1]
        if r.status_code == 413 and fallback:
            self.receiver_off.set()
            return self._one_by_one(files)
        if r.status_code in (200, 202, 409):
            try:
                answer = r.json()
            except ValueError:
                raise self.client.not_dicomweb(r) from None
            outcomes = part_outcomes(answer, files)
            return [
                (f, o, sent_body.digests[i])
                for i, (f, o) in enumerate(zip(files, outcomes, strict=True))
            ]
        if r.status_code in (404, 405) or "json" not in r.headers.get("Content-Type", ""):
            raise self.client.not_dicomweb(r)
        refused = PartOutcome(False, f"the request was refused: {error_message(r)}")
        return [(f, refused, None) for f in files]

    def presigned(self, found: Found) -> tuple[PartOutcome, str | None]:
        outcome, digest = upload_presigned(self.client, found)
        return (PartOutcome(True, VIA_UPLOADS) if outcome.stored else outcome), digest

    def _one_by_one(self, files: list[Found]) -> Sent:
        """After a 413: the same files in requests the API takes, one after the other."""
        out: Sent = []
        for job in self.plan(files):
            if len(job) == 1 and (job[0].size >= self.large or job[0].size > API_BATCH_BYTES):
                outcome, digest = self.presigned(job[0])
                out.append((job[0], outcome, digest))
            else:
                out += self.stow(job, fallback=False)
        return out


def _also(detail: str, more: str) -> str:
    return f"{detail}; {more}" if detail else more


def waves(files: list[Found]) -> list[list[Found]]:
    """Files sharing study, series and SOP Instance UID, one per wave, in path order."""
    out: list[list[Found]] = []
    seen: dict[tuple[str, str, str], int] = {}
    for f in files:
        n = 0
        if f.uids is not None:
            n = seen.get(f.uids, 0)
            seen[f.uids] = n + 1
        while len(out) <= n:
            out.append([])
        out[n].append(f)
    return out


def upload(
    paths: list[str],
    client: Client,
    journal: Journal,
    workers: int = 4,
    large: int = LARGE_FILE,
    on_found: Callable[[int, int], None] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> Summary:
    check_paths(paths)
    started = time.monotonic()
    summary = Summary()
    by_path: dict[Path, FileResult] = {}
    replaced_by: list[tuple[FileResult, str]] = []
    todo: list[Found] = []
    for path, shown in walk(paths):
        stat = path.stat()
        quick = Found(path, shown, stat.st_size, stat.st_mtime_ns, SEND)
        earlier = journal.uploaded(quick)
        if earlier is not None:
            by_path[path] = FileResult(quick, ALREADY, f"uploaded {earlier.at}")
            if earlier.by:
                replaced_by.append((by_path[path], earlier.by))
            continue
        found = classify(path, shown)
        if found.kind == SEND:
            todo.append(found)
            by_path[path] = FileResult(found, NOT_SENT, "the run stopped before it")
        elif found.kind in (NOT_DICOM, "dicomdir"):
            by_path[path] = FileResult(found, SKIPPED, REASONS[found.kind])
        else:
            by_path[path] = FileResult(found, FAILED, REASONS[found.kind])
            journal.record(found, FAILED, reason=REASONS[found.kind])
    summary.results = list(by_path.values())
    for result, by in replaced_by:  # named as this run shows it, if it is one of its files
        later = by_path.get(Path(by))
        result.detail += f", since replaced by {later.found.shown if later else by}"
    if on_found:
        on_found(len(todo), sum(f.size for f in todo))
    sender = Sender(client, large)

    def settle(sent: Sent) -> None:
        summary.answered += len(sent)
        for found, outcome, digest in sent:
            result = by_path[found.path]
            if not outcome.stored:
                result.outcome, result.detail = FAILED, outcome.reason
                journal.record(found, FAILED, digest, reason=outcome.reason)
                continue
            result.outcome, result.detail = STORED, outcome.reason  # how, if not STOW
            summary.stored_bytes += found.size
            earlier = journal.stored_with(found.uids, found.path) if found.uids else None
            if earlier is not None:
                journal.replaced(earlier, by=found.path)
                replaced = by_path.get(Path(earlier))
                if replaced is not None and replaced.outcome == STORED:
                    replaced.outcome = REPLACED
                    replaced.detail = (
                        f"stored, then replaced by {found.shown} (the same study, series and "
                        f"SOP Instance UID {found.uids[2] if found.uids else ''})"
                    )
                    result.detail = _also(result.detail, f"replaces {replaced.found.shown}")
                else:
                    also = f"replaces {earlier}, uploaded by an earlier run"
                    result.detail = _also(result.detail, also)
            journal.record(found, STORED, digest)
        if on_progress:
            on_progress(len(sent), sum(f.size for f, o, _ in sent if o.stored))

    try:
        for wave in waves(todo):
            _run(sender, sender.plan(wave), workers, settle)
    except CliError as exc:
        summary.fatal = exc
    except KeyboardInterrupt:
        summary.fatal = CliError("interrupted", EXIT_INTERRUPTED)
    if sender.receiver_off.is_set():
        summary.notes.append(NO_RECEIVER)
    summary.seconds = time.monotonic() - started
    return summary


def _run(
    sender: Sender, jobs: list[list[Found]], workers: int, settle: Callable[[Sent], None]
) -> None:
    """The jobs, ``workers`` at a time; the first fatal error cancels what has not started."""
    pool = ThreadPoolExecutor(max_workers=workers)
    futures: set[Future[Sent]] = {pool.submit(sender.send, job) for job in jobs}
    try:
        while futures:
            done, futures = wait(futures, return_when=FIRST_COMPLETED)
            for future in done:
                settle(future.result())  # raises the job's CliError
    except BaseException:
        # stop: nothing more starts; what is in flight is still answered, and reported
        for future in futures:
            future.cancel()
        for future in futures:
            if not future.cancelled() and future.exception() is None:
                settle(future.result())
        raise
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
