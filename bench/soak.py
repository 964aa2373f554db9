"""Soak: mixed STOW / QIDO / WADO from several threads against the local stack (``make serve``)
for a bounded time. Reports errors (goal 0), p50/p95/max per transaction, and the resident
memory of the API process and of the indexer process at start, peak and end (goal: flat).
moto runs in its own process and holds every object in memory, so it is left out.

Bounded: at most ``--instances`` distinct instances are stored (512x512 16-bit CT, 0.5 MB); after
that STOW re-stores the same bytes (each slot regenerates deterministically from its seed), which
exercises the overwrite path without growing the archive. WADO reads a seed set stored and
indexed before the clock starts; at the end the run waits for the indexer and checks that every
study holds exactly the instances the clients stored: nothing lost, nothing doubled.

Usage: ``python -m bench.soak [--duration 300] [--threads 6] [--instances 1000]
[--url URL --key KEY]``; without --url it starts its own stack (``python -m local.stack``) on
free ports with a temporary state directory. ``make soak`` runs it for 5 minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import requests

from bench.datasets import Generator
from local.spawn import Served, spawn_stack

DICOM_ANY = 'multipart/related; type="application/dicom"; transfer-syntax=*'
FRAMES_ANY = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'
STUDIES = 8  # soak studies the STOW clients fill, 2 series each
SEED_INSTANCES = 12  # per seed series, stored and indexed before the clock starts

#: Transaction -> weight in the mix (a viewer-heavy workload: more reads than writes).
MIX = {
    "stow": 3,
    "qido-studies": 2,
    "qido-series": 1,
    "qido-instances": 1,
    "wado-instance": 1,
    "wado-metadata": 1,
    "wado-frame": 1,
    "wado-rendered": 1,
}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


# --- process memory (Linux /proc) ---------------------------------------------------------


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found.extend(int(c) for c in text)
    return found


def cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def stack_processes(api_pid: int | None) -> dict[str, int]:
    """The API process (``local.stack``: gateway + app) and its indexer child."""
    if api_pid is None:  # --url: find the one ``make serve`` on this machine
        api = [p for p in _all_pids() if "-m local.stack" in _safe_cmdline(p)]
        if len(api) != 1:
            raise SystemExit(f"expected one local.stack process, found {len(api)}; pass --api-pid")
        api_pid = api[0]
    indexer = [c for c in children(api_pid) if "local.indexer_poller" in _safe_cmdline(c)]
    return {"api": api_pid, "indexer": indexer[0]}


def _all_pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]


def _safe_cmdline(pid: int) -> str:
    try:
        return cmdline(pid)
    except OSError:
        return ""


# --- the workload -------------------------------------------------------------------------


@dataclass
class Archive:
    """What the clients know they stored: slot -> (study, series, sop)."""

    studies: list[str]
    series: dict[str, list[str]]
    seed: list[tuple[str, str, str]] = field(default_factory=list)
    stored: dict[int, tuple[str, str, str]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def slot_instance(archive: Archive, slot: int) -> tuple[str, str, bytes]:
    study = archive.studies[slot % STUDIES]
    series = archive.series[study][(slot // STUDIES) % 2]
    return study, series, Generator(seed=10_000 + slot).ct(study, series, slot + 1)


def stow(http: requests.Session, url: str, data: bytes) -> tuple[requests.Response, str]:
    r = http.post(url + "/studies", data=data, headers={"Content-Type": "application/dicom"})
    sop = ""
    if r.status_code == 200:
        sop = r.json()["00081199"]["Value"][0]["00081155"]["Value"][0]
    return r, sop


class Worker(threading.Thread):
    def __init__(self, n: int, url: str, key: str, archive: Archive, args: argparse.Namespace):
        super().__init__(name=f"soak-{n}", daemon=True)
        self.rng = random.Random(n)
        self.url, self.archive, self.args = url, archive, args
        self.http = requests.Session()
        self.http.headers["apikey"] = key
        self.times: dict[str, list[float]] = defaultdict(list)
        self.errors: list[str] = []
        self.stop_at = 0.0

    def run(self) -> None:
        names, weights = list(MIX), list(MIX.values())
        while time.monotonic() < self.stop_at:
            name = self.rng.choices(names, weights)[0]
            t0 = time.perf_counter()
            try:
                ok = getattr(self, name.replace("-", "_"))()
            except requests.RequestException as exc:
                ok = f"{type(exc).__name__}"
            self.times[name].append((time.perf_counter() - t0) * 1000)
            if ok is not True:
                self.errors.append(f"{name}: {ok}")

    def _check(self, r: requests.Response, *expected: int) -> bool | str:
        return True if r.status_code in expected else f"{r.status_code} {r.text[:120]}"

    def stow(self) -> bool | str:
        slot = self.rng.randrange(self.args.instances)
        study, series, data = slot_instance(self.archive, slot)
        r, sop = stow(self.http, self.url, data)
        if r.status_code == 200:
            with self.archive.lock:
                self.archive.stored[slot] = (study, series, sop)
        return self._check(r, 200)

    def qido_studies(self) -> bool | str:
        params = self.rng.choice(
            [
                {"PatientName": f"Bench^Patient{self.rng.randrange(7)}*"},
                {"StudyDate": "20240101-20251231", "limit": "50"},
                {"ModalitiesInStudy": "CT", "includefield": "00081030"},
            ]
        )
        return self._check(self.http.get(self.url + "/studies", params=params), 200, 204)

    def qido_series(self) -> bool | str:
        study = self.rng.choice(self.archive.studies)
        return self._check(self.http.get(f"{self.url}/studies/{study}/series"), 200, 204)

    def qido_instances(self) -> bool | str:
        study = self.rng.choice(self.archive.studies)
        r = self.http.get(f"{self.url}/studies/{study}/instances", params={"limit": "100"})
        return self._check(r, 200, 204)

    def _seed(self) -> tuple[str, str, str]:
        return self.rng.choice(self.archive.seed)

    def wado_instance(self) -> bool | str:
        study, series, sop = self._seed()
        path = f"/studies/{study}/series/{series}/instances/{sop}"
        return self._check(self.http.get(self.url + path, headers={"Accept": DICOM_ANY}), 200)

    def wado_metadata(self) -> bool | str:
        study, series, _ = self._seed()
        return self._check(
            self.http.get(f"{self.url}/studies/{study}/series/{series}/metadata"), 200
        )

    def wado_frame(self) -> bool | str:
        study, series, sop = self._seed()
        path = f"/studies/{study}/series/{series}/instances/{sop}/frames/1"
        return self._check(self.http.get(self.url + path, headers={"Accept": FRAMES_ANY}), 200)

    def wado_rendered(self) -> bool | str:
        study, series, sop = self._seed()
        path = f"/studies/{study}/series/{series}/instances/{sop}/frames/1/rendered"
        return self._check(self.http.get(self.url + path, headers={"Accept": "image/jpeg"}), 200)


def wait_indexed(
    http: requests.Session, url: str, expected: dict[str, int], timeout: float
) -> dict[str, int]:
    """Poll QIDO until every study lists ``expected`` instances (or the timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        got = {}
        for study in expected:
            r = http.get(url + "/studies", params={"StudyInstanceUID": study})
            found = r.json() if r.status_code == 200 else []
            got[study] = found[0]["00201208"]["Value"][0] if found else 0
        if got == expected or time.monotonic() > deadline:
            return got
        time.sleep(0.5)


def diagnose(served: Served | None, got: dict[str, int], expected: dict[str, int]) -> None:
    """Why the catalog does not match: per study counts, the queues, the stack's last output."""
    for study in expected:
        if got.get(study) != expected[study]:
            print(f"study {study}: catalog {got.get(study)}, clients stored {expected[study]}")
    if served is None:
        return
    import boto3

    sqs = boto3.client(
        "sqs",
        endpoint_url=served.moto_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    for url in sqs.list_queues().get("QueueUrls", []):
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        print(
            url.rsplit("/", 1)[1],
            "visible",
            attrs["ApproximateNumberOfMessages"],
            "in flight",
            attrs["ApproximateNumberOfMessagesNotVisible"],
        )
    print("".join(served.output[-40:]))


def prepare(url: str, key: str) -> Archive:
    gen = Generator(seed=7)
    studies = [gen.uid() for _ in range(STUDIES)]
    archive = Archive(studies, {s: [gen.uid(), gen.uid()] for s in studies})
    http = requests.Session()
    http.headers["apikey"] = key
    seed_study, seed_series = gen.uid(), gen.uid()
    for n in range(SEED_INSTANCES):
        r, sop = stow(http, url, gen.ct(seed_study, seed_series, n + 1))
        r.raise_for_status()
        archive.seed.append((seed_study, seed_series, sop))
    got = wait_indexed(http, url, {seed_study: SEED_INSTANCES}, 60)
    if got[seed_study] != SEED_INSTANCES:
        raise RuntimeError(f"the seed series was not indexed: {got}")
    return archive


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=300.0, help="seconds of load")
    parser.add_argument("--threads", type=int, default=6)
    parser.add_argument("--instances", type=int, default=1000, help="distinct instances at most")
    parser.add_argument("--sample", type=float, default=10.0, help="seconds between RSS samples")
    parser.add_argument(
        "--drain-timeout", type=float, default=600.0, help="seconds to wait for the indexer"
    )
    parser.add_argument("--url")
    parser.add_argument("--key")
    parser.add_argument("--api-pid", type=int)
    parser.add_argument("--out", help="write the figures as JSON here")
    args = parser.parse_args()

    served, state = None, None
    url, key, api_pid = args.url, args.key, args.api_pid
    if not url:
        state = Path(tempfile.mkdtemp(prefix="soak-"))
        # moto apart: the API process's memory leaves out moto's store
        served = spawn_stack(state / "state", "soak-key-" + "s" * 32, {"LOCAL_MOTO": "process"})
        url, key, api_pid = served.url, served.key, served.proc.pid
    try:
        pids = stack_processes(api_pid)
        archive = prepare(url, key)
        workers = [Worker(n, url, key, archive, args) for n in range(args.threads)]
        # Warm-up: one of each transaction, so the start figure includes lazily imported
        # renderers and codecs (memory that is paid once, not a leak).
        warm = workers[0]
        for name in MIX:
            getattr(warm, name.replace("-", "_"))()
        warm.times.clear()
        warm.errors.clear()
        memory: dict[str, list[tuple[float, float]]] = {name: [] for name in pids}

        def sample(at: float) -> None:
            for name, pid in pids.items():
                memory[name].append((round(at, 1), round(rss_mb(pid), 1)))

        started = time.monotonic()
        sample(0.0)
        for w in workers:
            w.stop_at = started + args.duration
            w.start()
        while any(w.is_alive() for w in workers):
            time.sleep(min(args.sample, max(0.1, started + args.duration - time.monotonic())))
            sample(time.monotonic() - started)
        for w in workers:
            w.join()
        elapsed = time.monotonic() - started
        sample(elapsed)

        expected: dict[str, int] = defaultdict(int)
        for study, _, _ in archive.stored.values():
            expected[study] += 1
        drain_t0 = time.monotonic()
        got = wait_indexed(workers[0].http, url, dict(expected), args.drain_timeout)
        drain_s = time.monotonic() - drain_t0
        if got != dict(expected):
            diagnose(served, got, dict(expected))
    finally:
        if served:
            served.stop()
        if state:
            shutil.rmtree(state, ignore_errors=True)

    times: dict[str, list[float]] = defaultdict(list)
    errors: list[str] = []
    for w in workers:
        for name, values in w.times.items():
            times[name].extend(values)
        errors.extend(w.errors)
    report = {
        "duration_s": round(elapsed, 1),
        "threads": args.threads,
        "requests": sum(len(v) for v in times.values()),
        "errors": len(errors),
        "error_samples": errors[:10],
        "distinct_instances_stored": len(archive.stored),
        "catalog_matches_clients": got == dict(expected),
        "indexer_caught_up_s": round(drain_s, 1),
        "transactions": {
            name: {
                "count": len(times[name]),
                "p50_ms": round(percentile(times[name], 50), 1),
                "p95_ms": round(percentile(times[name], 95), 1),
                "max_ms": round(max(times[name]), 1),
            }
            for name in MIX
            if times[name]
        },
        "rss_mb": {
            name: {
                "start": samples[0][1],
                "peak": max(v for _, v in samples),
                "end": samples[-1][1],
                "samples": samples,
            }
            for name, samples in memory.items()
        },
    }
    print_report(report)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    if errors or got != dict(expected):
        raise SystemExit(1)


def print_report(report: dict) -> None:  # type: ignore[type-arg]
    print(
        f"soak: {report['duration_s']} s, {report['threads']} threads, "
        f"{report['requests']} requests, {report['errors']} errors, "
        f"{report['distinct_instances_stored']} distinct instances stored, catalog matches "
        f"clients: {report['catalog_matches_clients']} "
        f"(indexer caught up {report['indexer_caught_up_s']} s after the load)"
    )
    print(f"{'transaction':<16}{'count':>8}{'p50 ms':>10}{'p95 ms':>10}{'max ms':>10}")
    for name, t in report["transactions"].items():
        print(f"{name:<16}{t['count']:>8}{t['p50_ms']:>10}{t['p95_ms']:>10}{t['max_ms']:>10}")
    for name, m in report["rss_mb"].items():
        print(f"RSS {name:<8} start {m['start']} MB, peak {m['peak']} MB, end {m['end']} MB")
    for sample in report["error_samples"]:
        print("error:", sample)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
