"""``retrieve STUDY [--series S] --out DIR``: a study or series into a folder, one Part 10 file
per instance (``DIR/{study}/{series}/{sop}.dcm``, bytes as stored), in parallel, resumable.

It lists the instances with QIDO (paged), then fetches each as ``application/dicom`` with
``transfer-syntax=*``: each answer is one object, bounded in memory, retried on its own, and a
large one arrives through the service's redirect to a presigned URL (requests follows it and
drops the key). A file is written to a temporary name and renamed, so an interrupted run
leaves no partial instance, and a file already there is whole: a rerun keeps it without asking
the service again (delete the folder to fetch an instance that was re-stored since).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import requests

from dicomweb_cli.search import search, value
from dicomweb_cli.session import Endpoint, with_retries

PAGE = 1000
ACCEPT = "application/dicom; transfer-syntax=*"


@dataclass
class Retrieved:
    written: int = 0
    written_bytes: int = 0
    kept: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)


def instances(
    http: requests.Session, ep: Endpoint, study: str, series: str | None
) -> list[tuple[str, str, str]]:
    """(study, series, sop) of every instance, through QIDO pages."""
    found: list[tuple[str, str, str]] = []
    offset = 0
    while True:
        page = search(
            http,
            ep,
            "instances",
            [("limit", str(PAGE)), ("offset", str(offset)), ("includefield", "0020000E")],
            study=study,
            series=series,
        )
        found += [(study, value(i, "0020000E"), value(i, "00080018")) for i in page]
        if len(page) < PAGE:
            return found
        offset += PAGE


def retrieve(
    http: requests.Session,
    ep: Endpoint,
    study: str,
    series: str | None,
    out: Path,
    workers: int = 4,
    on_found: Callable[[int], None] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> Retrieved:
    result = Retrieved()
    todo = instances(http, ep, study, series)
    if on_found:
        on_found(len(todo))

    def fetch(ref: tuple[str, str, str]) -> tuple[str, int]:
        st, se, sop = ref
        target = out / st / se / f"{sop}.dcm"
        if target.exists():  # written whole or not at all (.part, then renamed): no request
            return "kept", 0
        url = f"{ep.url}/studies/{st}/series/{se}/instances/{sop}"
        r = with_retries(lambda: http.get(url, headers={"Accept": ACCEPT}, stream=True))
        if r.status_code != 200:
            raise RuntimeError(f"HTTP {r.status_code}")
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".part")
        size = 0
        with partial.open("wb") as f:
            for chunk in r.iter_content(1 << 20):
                f.write(chunk)
                size += len(chunk)
        os.replace(partial, target)
        return "written", size

    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(fetch, ref): ref for ref in todo}
        for future in as_completed(futures):
            try:
                outcome, size = future.result()
            except (requests.RequestException, RuntimeError, OSError) as exc:
                result.failures.append((futures[future][2], str(exc) or type(exc).__name__))
                if on_progress:
                    on_progress(1, 0)
                continue
            if outcome == "kept":
                result.kept += 1
            else:
                result.written += 1
                result.written_bytes += size
            if on_progress:
                on_progress(1, size)
    return result
