"""STOW -> QIDO visibility lag on the local stack (``make serve``): store one instance, then
poll QIDO every 10 ms until it is listed; repeat N times; report p50/p95/max, and how many were
listed by the first read (a STOW answers once what it stored is searchable: all of them).

Usage: ``python -m bench.visibility_lag [N] [--url URL --key KEY]``; without --url it starts
its own stack (``python -m local.stack``) on free ports with a temporary state directory.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import requests

from bench.datasets import Generator
from local.spawn import spawn_stack


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def measure(url: str, key: str, n: int) -> list[float]:
    gen = Generator(seed=11)
    study, series = gen.uid(), gen.uid()
    http = requests.Session()
    http.headers["apikey"] = key
    lags: list[float] = []
    first_read = 0
    for i in range(n):
        data = gen.ct(study, series, i + 1)
        r = http.post(url + "/studies", data=data, headers={"Content-Type": "application/dicom"})
        r.raise_for_status()
        sop = r.json()["00081199"]["Value"][0]["00081155"]["Value"][0]
        stored_at = time.monotonic()
        reads = 0
        while True:
            reads += 1
            found = http.get(
                f"{url}/studies/{study}/series/{series}/instances",
                params={"SOPInstanceUID": sop},
            ).json()
            if found:
                lags.append(time.monotonic() - stored_at)
                first_read += reads == 1
                break
            if time.monotonic() - stored_at > 30:
                raise RuntimeError("instance never became visible")
            time.sleep(0.01)
    print(f"listed by the first QIDO read after the STOW: {first_read} of {n}")
    return lags


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("n", nargs="?", type=int, default=100)
    parser.add_argument("--url")
    parser.add_argument("--key")
    args = parser.parse_args()
    served = None
    url, key = args.url, args.key
    if not url:
        served = spawn_stack(Path(tempfile.mkdtemp()) / "state", "bench-lag-key")
        url, key = served.url, served.key
    try:
        lags = measure(url, key, args.n)
    finally:
        if served:
            served.stop()
    ms = [x * 1000 for x in lags]
    print(
        f"STOW->QIDO visibility lag over {len(ms)} instances: p50 {percentile(ms, 50):.0f} ms, "
        f"p95 {percentile(ms, 95):.0f} ms, max {max(ms):.0f} ms, mean {statistics.mean(ms):.0f} ms"
    )


if __name__ == "__main__":
    main()
