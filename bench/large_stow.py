"""One large chunked STOW against the local stack (``make serve``): 200 and 2,000 CT instances
(about 100 MB and 1 GB) in a single multipart/related request sent with
``Transfer-Encoding: chunked``, to the streaming receiver (issue 22).

For each size it starts its own stack (``python -m local.stack``, on free ports, with a
throwaway STATE_DIR deleted afterwards), so each size's numbers are its own. It reports:

* the STOW: status, wall time (the body's sending, then the wait for the answer), MB/s (and
  per tenth of the body), ReferencedSOPSequence items (and that they are the instances sent),
  FailedSOPSequence items;
* QIDO right after the answer, no waiting: ``/studies/{uid}/instances`` paged by 1,000 (the
  service's cap) with offset, and ``/studies?StudyInstanceUID=`` NumberOfStudyRelatedInstances;
* the peak RSS of every process on the path, per phase (the STOW, the QIDO, the indexer's
  trail until it has mirrored every object into STATE_DIR): the front (``local.stack``:
  uvicorn, the receiver, and the API's Lambda app in-process), the indexer poller, and moto
  apart (it holds every object in memory). Each peak is the process's VmHWM, reset
  (``/proc/<pid>/clear_refs``) when the phase starts, so no spike between samples is missed;
  VmRSS is also sampled every 0.1 s for a timeline. Also each process's CPU seconds, and the
  client's own peak: the body is generated as it is sent, never held.

The verdict (exit status): 200, every instance referenced and found by QIDO at once, and the
peak RSS during the STOW of each of our processes (front, indexer) at the largest size within
``--margin-mb`` (32 MiB) of the smallest.

Usage: ``python -m bench.large_stow [--instances 200 2000] [--series 4]
[--json build/large_stow.json]``; ``make bench-large-stow`` runs both sizes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import requests

from bench.datasets import ROOT, ct_header, part10
from local.spawn import Served, spawn_stack
from local.stack import ROOT as ROOT_DIR

SIDE = 512  # 512 x 512 x 16 bit: 0.5 MB of pixels an instance
BOUNDARY = "large-stow-bench-boundary"
CONTENT_TYPE = f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'
QIDO_PAGE = 1000  # the service's cap on limit
OURS = ("front", "indexer")  # moto is reported apart
MB = 1_000_000
MIB = 1024 * 1024


# --- the instances, generated as they are sent ----------------------------------------------


def pixel_element(pixels: bytes) -> bytes:
    """(7FE0,0010) Pixel Data, OW, in Explicit VR Little Endian: tag, VR, 2 reserved bytes, a
    4-byte length, then the value. Pixel Data is the last element of these data sets, so the
    element appended to a Part 10 file without it makes the whole instance."""
    if len(pixels) % 2:
        raise ValueError("OW values have an even length")
    return struct.pack("<HH2s2xI", 0x7FE0, 0x0010, b"OW", len(pixels)) + pixels


class CtSeries:
    """One study of 512x512 16-bit CT, ``n`` instances over ``series`` series, made lazily:
    each instance's header is written by pydicom (its own UIDs and numbers), its pixels are the
    series' one seeded random image, shared, never copied. UIDs are deterministic per seed."""

    def __init__(self, n: int, series: int = 4, seed: int = 22, side: int = SIDE) -> None:
        self.n, self.side, self.seed = n, side, seed
        self.study = f"{ROOT}22.{seed}.{n}"
        self.series = [f"{self.study}.{s + 1}" for s in range(series)]
        self._pixels: dict[int, bytes] = {}

    def sop(self, i: int) -> str:
        return f"{self.study}.{len(self.series) + 1}.{i + 1}"

    def series_of(self, i: int) -> int:
        """Instances fill the series in order: n = 2000 over 4 series, 500 each."""
        return i * len(self.series) // self.n

    def pixels(self, s: int) -> bytes:
        if s not in self._pixels:
            rng = np.random.default_rng(self.seed * 1000 + s)
            image = rng.integers(0, 4096, (self.side, self.side), dtype=np.uint16)
            self._pixels[s] = pixel_element(image.tobytes())
        return self._pixels[s]

    def header(self, i: int) -> bytes:
        s = self.series_of(i)
        ds = ct_header(
            self.study,
            self.series[s],
            self.sop(i),
            i + 1,
            self.side,
            patient=("Bench^LargeStow", "BENCH-LARGE-STOW"),
            accession="LARGESTOW",
            study_date="20261203",
            series_number=s + 1,
        )
        return part10(ds)

    def instance(self, i: int) -> list[bytes]:
        """Instance ``i`` as its chunks: the Part 10 header, then the Pixel Data element."""
        return [self.header(i), self.pixels(self.series_of(i))]

    def instances(self) -> Iterator[list[bytes]]:
        for i in range(self.n):
            yield self.instance(i)


def multipart_chunks(parts: Iterable[Iterable[bytes]], boundary: str) -> Iterator[bytes]:
    """A multipart/related body of application/dicom parts, one chunk at a time: each part's
    delimiter and headers, its chunks as given, the CRLF before the next delimiter; then the
    close delimiter. Nothing is joined: memory is what the caller's chunks hold."""
    delim = b"--" + boundary.encode("latin-1")
    for part in parts:
        yield delim + b"\r\nContent-Type: application/dicom\r\n\r\n"
        yield from part
        yield b"\r\n"
    yield delim + b"--\r\n"


class Counted:
    """An iterator of chunks that counts the bytes it gave (what went on the wire, the chunked
    framing aside) and notes the time each further ``step`` bytes were given."""

    def __init__(self, chunks: Iterator[bytes], step: int = 0) -> None:
        self._chunks = chunks
        self._step = step
        self.sent = 0
        self.ended = 0.0  # when the last chunk had been given
        self.marks: list[tuple[float, int]] = []

    def __iter__(self) -> Iterator[bytes]:
        self.marks = [(time.monotonic(), 0)]
        for chunk in self._chunks:
            self.sent += len(chunk)
            if self._step and self.sent >= self.marks[-1][1] + self._step:
                self.marks.append((time.monotonic(), self.sent))
            yield chunk
        self.ended = time.monotonic()
        if not self._step or self.sent - self.marks[-1][1] >= self._step // 2:
            self.marks.append((self.ended, self.sent))


# --- processes and their memory (Linux /proc) ----------------------------------------------


def status_kib(pid: int, field_name: str) -> int:
    """A ``/proc/<pid>/status`` line in KiB (VmRSS, VmHWM); 0 when the process is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    return 0


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found.extend(int(c) for c in (task / "children").read_text().split())
    return found


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def stack_processes(stack_pid: int) -> dict[str, int]:
    """The stack's processes: the front (``local.stack`` itself) and its two children."""
    found = {"front": stack_pid}
    for child in children(stack_pid):
        line = cmdline(child)
        if "local.indexer_poller" in line:
            found["indexer"] = child
        elif "local.moto_server" in line:
            found["moto"] = child
    missing = {"indexer", "moto"} - set(found)
    if missing:
        raise RuntimeError(f"the stack {stack_pid} has no {sorted(missing)} child")
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (``/proc/<pid>/stat``); 0 when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class RssSampler:
    """VmRSS of each process every ``interval`` seconds in a thread: the peak, and a timeline
    (one point a second: seconds, ``progress()`` and each process's MiB)."""

    pids: dict[str, int]
    interval: float = 0.1
    progress: Callable[[], float] = lambda: 0.0
    peak_kib: dict[str, int] = field(default_factory=dict)
    timeline: list[dict[str, float]] = field(default_factory=list)
    samples: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _started: float = 0.0

    def sample(self) -> None:
        now = {name: status_kib(pid, "VmRSS") for name, pid in self.pids.items()}
        for name, kib in now.items():
            self.peak_kib[name] = max(self.peak_kib.get(name, 0), kib)
        t = time.monotonic() - self._started
        if not self.timeline or t - self.timeline[-1]["t"] >= 1.0:
            point = {"t": round(t, 1), "progress": self.progress()}
            self.timeline.append(point | {k: round(v / 1024, 1) for k, v in now.items()})
        self.samples += 1

    def peak_mib(self) -> dict[str, float]:
        return {k: round(v / 1024, 1) for k, v in self.peak_kib.items()}

    def __enter__(self) -> RssSampler:
        def loop() -> None:
            while not self._stop.wait(self.interval):
                self.sample()

        self._started = time.monotonic()
        self.sample()
        self._thread = threading.Thread(target=loop, name="rss-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.sample()


def reset_peak(pid: int) -> bool:
    """Reset a process's VmHWM to its current RSS (``clear_refs`` 5, Linux 4.0+; our own
    processes), so the next VmHWM read is the peak since now, spikes between samples included."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


class Phase(RssSampler):
    """A sampler whose peak is each process's VmHWM since the phase began (exact), where the
    kernel lets it be reset; otherwise the 10 Hz sampled peak."""

    exact: dict[str, bool]
    cpu_s: dict[str, float]

    def __enter__(self) -> Phase:
        self.exact = {name: reset_peak(pid) for name, pid in self.pids.items()}
        self.cpu_s = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        super().__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)
        self.cpu_s = {
            name: round(cpu_seconds(pid) - self.cpu_s[name], 1) for name, pid in self.pids.items()
        }
        for name, pid in self.pids.items():
            if self.exact[name]:
                self.peak_kib[name] = max(self.peak_kib[name], status_kib(pid, "VmHWM"))


def git_revision() -> dict[str, Any]:
    """The commit measured and whether the work tree differed from it (others edit in
    parallel: a dirty tree means the numbers are for the tree, not the commit)."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT_DIR, capture_output=True, text=True)
        return done.stdout.rstrip("\n")

    dirty = [line[3:] for line in git("status", "--porcelain").splitlines()]
    return {"commit": git("rev-parse", "HEAD"), "dirty": dirty}


# --- one run -------------------------------------------------------------------------------


def seq_len(answer: dict[str, Any], tag: str) -> int:
    return len(answer.get(tag, {}).get("Value", []))


def qido_instances(http: requests.Session, url: str, study: str) -> tuple[set[str], int, int]:
    """Every SOP Instance UID QIDO lists for the study, paged by QIDO_PAGE. Returns the UIDs,
    the items read (duplicates would show as items > UIDs) and the requests made."""
    sops: set[str] = set()
    items = pages = 0
    while True:
        r = http.get(
            f"{url}/studies/{study}/instances",
            params={"limit": QIDO_PAGE, "offset": items},
            timeout=120,
        )
        pages += 1
        r.raise_for_status()
        page = r.json() if r.content else []
        items += len(page)
        sops.update(d["00080018"]["Value"][0] for d in page)
        if len(page) < QIDO_PAGE:
            return sops, items, pages


def mirrored(state_dir: Path) -> int:
    """Objects the indexer has mirrored into STATE_DIR (it works from the queue, after)."""
    root = state_dir / "objects"
    if not root.exists():
        return 0
    return sum(1 for p in root.rglob("*") if p.is_file() and not p.name.startswith(".tmp-"))


def wait_until(done: Callable[[], bool], timeout: float) -> float | None:
    started = time.monotonic()
    while not done():
        if time.monotonic() - started > timeout:
            return None
        time.sleep(0.5)
    return time.monotonic() - started


def settle(pids: dict[str, int], timeout: float = 30.0) -> None:
    """Wait until no process's RSS moves by more than 1 MiB in half a second: the indexer
    imports the app after the stack printed its key, and the baseline comes after that."""
    before = {name: status_kib(pid, "VmRSS") for name, pid in pids.items()}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = {name: status_kib(pid, "VmRSS") for name, pid in pids.items()}
        if all(abs(now[k] - before[k]) <= 1024 for k in now):
            return
        before = now


def rates(marks: list[tuple[float, int]]) -> list[float]:
    """MB/s between consecutive marks (time, bytes given): does the rate hold as the request,
    and the archive, grow?"""
    return [
        round((b1 - b0) / MB / max(t1 - t0, 1e-3), 1)
        for (t0, b0), (t1, b1) in pairwise(marks)
        if b1 > b0
    ]


def mib(kib: dict[str, int]) -> dict[str, float]:
    return {k: round(v / 1024, 1) for k, v in kib.items()}


def run_size(n: int, series: int, drain_timeout: float) -> dict[str, Any]:
    """One stack, one request of ``n`` instances, QIDO at once, then the indexer's trail."""
    work = Path(tempfile.mkdtemp(prefix="large-stow-"))
    state = work / "state"
    served: Served | None = None
    try:
        # moto apart, so that each process's peak RSS is its own (moto holds every stored byte)
        served = spawn_stack(state, "bench-large-stow-key", {"LOCAL_MOTO": "process"})
        pids = stack_processes(served.proc.pid)
        pids_all = {**pids, "client": os.getpid()}
        http = requests.Session()
        http.headers["apikey"] = served.key
        http.get(served.url + "/studies", params={"limit": 1}, timeout=30).raise_for_status()
        settle(pids)
        baseline = {name: status_kib(pid, "VmRSS") for name, pid in pids_all.items()}
        source = CtSeries(n, series)
        tenth = n * sum(len(c) for c in source.instance(0)) // 10
        body = Counted(multipart_chunks(source.instances(), BOUNDARY), step=tenth)
        with Phase(pids_all, progress=lambda: round(body.sent / MB, 1)) as stow:
            t0 = time.monotonic()
            r = http.post(
                served.url + "/studies",
                data=iter(body),  # a generator: requests sends it chunked
                headers={"Content-Type": CONTENT_TYPE, "Accept": "application/dicom+json"},
                timeout=(30, 3600),
            )
            wall = time.monotonic() - t0
        answer = r.json() if r.headers.get("content-type", "").endswith("json") else {}
        with Phase(pids_all) as qido:  # at once: no wait, no retry
            q0 = time.monotonic()
            sops, items, pages = qido_instances(http, served.url, source.study)
            studies = http.get(
                served.url + "/studies", params={"StudyInstanceUID": source.study}, timeout=120
            )
            studies.raise_for_status()
            qido_s = time.monotonic() - q0
        found = studies.json() if studies.content else []
        related = int(found[0]["00201208"]["Value"][0]) if found else 0
        referenced = {
            item["00081155"]["Value"][0] for item in answer.get("00081199", {}).get("Value", [])
        }
        expected = {source.sop(i) for i in range(n)}
        with Phase(pids_all) as trail:  # the indexer mirrors every object, after
            drained = wait_until(lambda: mirrored(state) >= n, drain_timeout)
        result: dict[str, Any] = {
            "instances": n,
            "series": series,
            "bytes": body.sent,
            "status": r.status_code,
            "wall_s": round(wall, 2),
            "body_sent_s": round(body.ended - t0, 2),
            "answer_after_body_s": round(t0 + wall - body.ended, 2),
            "mb_per_s": round(body.sent / MB / wall, 1),
            "mb_per_s_by_tenth": rates(body.marks),
            "request_headers": {
                k: v for k, v in r.request.headers.items() if k.lower() != "apikey"
            },
            "referenced": seq_len(answer, "00081199"),
            "referenced_are_sent": referenced == expected,
            "failed": seq_len(answer, "00081198"),
            "error_body": None if r.status_code == 200 else r.text[:2000],
            "qido_instances": items,
            "qido_distinct_sops": len(sops),
            "qido_found_all_sent": sops == expected,
            "qido_requests": pages + 1,
            "qido_s": round(qido_s, 2),
            "number_of_study_related_instances": related,
            "indexer_mirrored": mirrored(state),
            "indexer_drained_s": None if drained is None else round(drained, 1),
            "pids": pids,
            "cpu_s_stow": stow.cpu_s,
            "cpu_s_qido": qido.cpu_s,
            "rss_baseline_mib": mib(baseline),
            "rss_peak_stow_mib": stow.peak_mib(),
            "rss_peak_qido_mib": qido.peak_mib(),
            "rss_peak_trail_mib": trail.peak_mib(),
            "peak_is_vm_hwm": stow.exact,
            "rss_samples": stow.samples + qido.samples + trail.samples,
            "timeline_stow": stow.timeline,
        }
        result["ok"] = (
            result["status"] == 200
            and result["referenced"] == n
            and result["referenced_are_sent"]
            and result["failed"] == 0
            and result["qido_instances"] == n
            and result["qido_found_all_sent"]
            and related == n
        )
        if not result["ok"]:
            result["stack_log_tail"] = served.output[-60:]
        return result
    finally:
        if served is not None:
            served.stop()
        shutil.rmtree(work, ignore_errors=True)


# --- the report ----------------------------------------------------------------------------


def growth(runs: list[dict[str, Any]], margin_mib: float) -> dict[str, Any]:
    """Peak RSS during the STOW of each of our processes at the largest size against the
    smallest."""
    small, large = runs[0], runs[-1]
    out: dict[str, Any] = {
        "from_instances": small["instances"],
        "to_instances": large["instances"],
        "margin_mib": margin_mib,
    }
    for name in OURS:
        delta = large["rss_peak_stow_mib"][name] - small["rss_peak_stow_mib"][name]
        out[name] = {"delta_mib": round(delta, 1), "within_margin": delta <= margin_mib}
    out["ok"] = all(out[name]["within_margin"] for name in OURS)
    return out


def table(runs: list[dict[str, Any]], grew: dict[str, Any] | None) -> str:
    def row(label: str, values: Iterable[object]) -> str:
        return f"{label:<46}" + "".join(f"{v!s:>14}" for v in values)

    def tenths(r: dict[str, Any]) -> str:
        rates = r["mb_per_s_by_tenth"]
        return f"{rates[0]}/{rates[-1]}" if rates else "-"

    lines = [row("", [f"{r['instances']} inst." for r in runs])]
    get: list[tuple[str, Callable[[dict[str, Any]], object]]] = [
        ("body (MB, chunked)", lambda r: f"{r['bytes'] / MB:.1f}"),
        ("status", lambda r: r["status"]),
        ("wall time (s)", lambda r: r["wall_s"]),
        ("  body sent in (s)", lambda r: r["body_sent_s"]),
        ("  answer after the body's last byte (s)", lambda r: r["answer_after_body_s"]),
        ("throughput (MB/s)", lambda r: r["mb_per_s"]),
        ("  first/last tenth of the body (MB/s)", tenths),
        ("ReferencedSOPSequence items", lambda r: r["referenced"]),
        ("FailedSOPSequence items", lambda r: r["failed"]),
        ("QIDO /studies/{uid}/instances, at once", lambda r: r["qido_instances"]),
        ("QIDO NumberOfStudyRelatedInstances", lambda r: r["number_of_study_related_instances"]),
        ("QIDO time, all pages (s)", lambda r: r["qido_s"]),
        ("indexer mirrored all, after the answer (s)", lambda r: r["indexer_drained_s"]),
    ]

    def at(key: str, name: str) -> Callable[[dict[str, Any]], object]:
        return lambda r: r[key][name]

    for name in (*OURS, "moto"):
        get += [
            (f"{name}: RSS before (MiB)", at("rss_baseline_mib", name)),
            (f"{name}: peak RSS during the STOW (MiB)", at("rss_peak_stow_mib", name)),
            (f"{name}: peak RSS during the QIDO (MiB)", at("rss_peak_qido_mib", name)),
            (f"{name}: peak RSS, indexer trail (MiB)", at("rss_peak_trail_mib", name)),
            (f"{name}: CPU during the STOW (s)", at("cpu_s_stow", name)),
            (f"{name}: CPU during the QIDO (s)", at("cpu_s_qido", name)),
        ]
    get += [
        ("client: peak RSS during the STOW (MiB)", at("rss_peak_stow_mib", "client")),
        ("client: CPU during the STOW (s)", at("cpu_s_stow", "client")),
    ]
    lines += [row(label, [f(r) for r in runs]) for label, f in get]
    verdict = ["yes" if r["ok"] else "NO" for r in runs]
    lines.append(row("200, all referenced, all found by QIDO at once", verdict))
    if grew is not None:
        for name in OURS:
            lines.append(
                f"{name}: peak RSS during the STOW grew {grew[name]['delta_mib']:+.1f} MiB from "
                f"{grew['from_instances']} to {grew['to_instances']} instances "
                f"(margin {grew['margin_mib']:g} MiB): "
                f"{'within' if grew[name]['within_margin'] else 'OVER'}"
            )
    lines.append("moto holds every stored object in memory: its growth is the archive's.")
    exact = all(all(r["peak_is_vm_hwm"].values()) for r in runs)
    lines.append(
        "peaks: VmHWM reset at each phase's start (exact)"
        if exact
        else "peaks: sampled every 0.1 s (VmHWM could not be reset)"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, nargs="+", default=[200, 2000])
    parser.add_argument("--series", type=int, default=4)
    parser.add_argument("--margin-mb", type=float, default=32.0, help="MiB of allowed growth")
    parser.add_argument("--drain-timeout", type=float, default=600.0)
    parser.add_argument("--json", type=Path, default=Path("build/large_stow.json"))
    args = parser.parse_args()
    revision = git_revision()
    if revision["dirty"]:
        print(f"note: the work tree differs from {revision['commit'][:12]}: {revision['dirty']}")
    runs = []
    for n in sorted(args.instances):
        print(f"STOW of {n} CT instances in one chunked request ...", flush=True)
        run = run_size(n, args.series, args.drain_timeout)
        print(
            f"  {run['status']} in {run['wall_s']} s ({run['mb_per_s']} MB/s); "
            f"referenced {run['referenced']}, failed {run['failed']}, "
            f"QIDO {run['qido_instances']}",
            flush=True,
        )
        runs.append(run)
    grew = growth(runs, args.margin_mb) if len(runs) > 1 else None
    print()
    print(table(runs, grew))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    report = {"revision": git_revision(), "runs": runs, "growth": grew}
    args.json.write_text(json.dumps(report, indent=2))
    print(f"\nwritten: {args.json}")
    ok = all(r["ok"] for r in runs) and (grew is None or grew["ok"])
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
