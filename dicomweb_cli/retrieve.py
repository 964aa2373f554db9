"""``retrieve STUDY [--series S] [--out DIR]``: a study or series into a folder, one Part 10
file per instance (``DIR/{study}/{series}/{sop}.dcm``, bytes as stored; ``DIR`` defaults to
``dicomweb-studies`` in the current folder), in parallel, resumable.

It lists the study's series, then each series' instances, with QIDO (paged), then fetches each
instance as ``application/dicom`` with ``transfer-syntax=*``: each answer is one object,
bounded in memory, retried on its own, and a large one arrives through the service's redirect
to a presigned URL (requests follows it and drops the key). A file is written to a temporary
name and renamed, so an interrupted run leaves no partial instance, and a file already there is
whole: a rerun keeps it without asking the service again (delete the folder to fetch an
instance that was re-stored since). A study or series the service does not know (or this key's
tenant does not hold) is an error (``EXIT_NOT_FOUND``), not "0 instances".
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from dicomweb_cli.search import search, value
from dicomweb_cli.session import EXIT_NOT_FOUND, Client, CliError, error_message

DEFAULT_OUT = "dicomweb-studies"
ACCEPT = "application/dicom; transfer-syntax=*"

Ref = tuple[str, str, str]  # study, series, SOP Instance UID


@dataclass
class Retrieved:
    written: int = 0
    written_bytes: int = 0
    kept: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)


def instances(client: Client, study: str, series: str | None) -> tuple[list[Ref], list[str]]:
    """Every instance of the study (or series), and the service's warnings on the way."""
    warnings: list[str] = []
    if series:
        series_uids = [series]
    else:
        found = search(client, "series", [], study=study, everything=True)
        warnings += found.warnings
        series_uids = [value(s, "0020000E") for s in found.items]
        if not series_uids:
            raise CliError(
                f"no study {study} (none with this UID for this API key)", EXIT_NOT_FOUND
            )
    refs: list[Ref] = []
    for se in series_uids:
        found = search(client, "instances", [], study=study, series=se, everything=True)
        warnings += [w for w in found.warnings if w not in warnings]
        refs += [(study, se, value(i, "00080018")) for i in found.items]
    if series and not refs:
        raise CliError(
            f"no series {series} in study {study} (none for this API key)", EXIT_NOT_FOUND
        )
    return refs, warnings


def retrieve(
    client: Client,
    todo: list[Ref],
    out: Path,
    workers: int = 4,
    on_progress: Callable[[int, int], None] | None = None,
) -> Retrieved:
    """The instances ``todo`` (``instances()``) into ``out``."""
    result = Retrieved()

    def fetch(ref: Ref) -> tuple[str, int, str]:
        st, se, sop = ref
        target = out / st / se / f"{sop}.dcm"
        if target.exists():  # written whole or not at all (.part, then renamed): no request
            return "kept", 0, ""
        url = client.url(f"/studies/{st}/series/{se}/instances/{sop}")
        r = client.send("GET", url, headers={"Accept": ACCEPT}, stream=True)
        if r.status_code != 200:
            return "failed", 0, error_message(r)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".part")
        size = 0
        with partial.open("wb") as f:
            for chunk in r.iter_content(1 << 20):
                f.write(chunk)
                size += len(chunk)
        os.replace(partial, target)
        return "written", size, ""

    def settle(ref: Ref, outcome: str, size: int, reason: str) -> None:
        if outcome == "kept":
            result.kept += 1
        elif outcome == "written":
            result.written += 1
            result.written_bytes += size
        else:
            result.failures.append((ref[2], reason))
        if on_progress:
            on_progress(1, size)

    pool = ThreadPoolExecutor(max_workers=workers)
    futures: dict[Future[tuple[str, int, str]], Ref] = {pool.submit(fetch, r): r for r in todo}
    pending = set(futures)
    try:
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                ref = futures[future]
                try:
                    settle(ref, *future.result())
                except OSError as exc:  # the folder: full, not writable
                    settle(ref, "failed", 0, f"{type(exc).__name__}: {exc}")
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return result
