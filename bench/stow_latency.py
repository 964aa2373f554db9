"""STOW wall time and AWS calls per instance on the in-process stack (moto): STOWs of 1
instance and of 20, 256x256 CT. What a STOW costs now that it indexes inline and waits for the
catalog's indexes (``make bench-stow``; in-process moto is far faster than AWS: compare runs of
this script, not these milliseconds with AWS's)."""

from __future__ import annotations

import statistics
import time

from moto import mock_aws

from local.testenv import use_test_environment

use_test_environment()

from bench.cost_model import multipart
from bench.datasets import Generator
from local.harness import in_process_stack, prepared_app

KEY = "bench-key-" + "x" * 40


def main() -> None:
    gen = Generator(seed=7)
    with mock_aws(), prepared_app({"t1": KEY}) as app, in_process_stack(app, KEY) as stack:
        stack.get("/studies")  # the API key is cached per container
        study, series = gen.uid(), gen.uid()
        single: list[float] = []
        for i in range(15):
            data = gen.ct(study, series, i + 1, 256)
            stack.counter.reset()
            t0 = time.perf_counter()
            r = stack.post("/studies", data=data, headers={"Content-Type": "application/dicom"})
            r.raise_for_status()
            single.append((time.perf_counter() - t0) * 1000)
        calls_one = stack.counter.total_calls()
        batch: list[float] = []
        for _ in range(4):
            s2, se2 = gen.uid(), gen.uid()
            body, ctype = multipart([gen.ct(s2, se2, i + 1, 256) for i in range(20)])
            stack.counter.reset()
            t0 = time.perf_counter()
            stack.post("/studies", data=body, headers={"Content-Type": ctype}).raise_for_status()
            batch.append((time.perf_counter() - t0) * 1000 / 20)
        calls_twenty = stack.counter.total_calls() / 20
    print(
        f"STOW of 1: median {statistics.median(single[3:]):.0f} ms, {calls_one} AWS calls; "
        f"STOW of 20: median {statistics.median(batch):.1f} ms and {calls_twenty:.1f} AWS "
        "calls per instance"
    )


if __name__ == "__main__":
    main()
