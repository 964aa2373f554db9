"""CPU time and S3 bytes read for a rendered 512x512 CT frame and a thumbnail (first and
cached), in-process on moto. Usage: ``python -m bench.render_cost``."""

from __future__ import annotations

import time

from local.testenv import use_test_environment

use_test_environment()

from moto import mock_aws

from bench.datasets import Generator
from local.harness import InProcessStack, in_process_stack, prepared_app

KEY = "bench-key-" + "r" * 32
REPEATS = 10


def measure(stack: InProcessStack, name: str, path: str, repeats: int = REPEATS) -> str:
    cpu, wall, s3_bytes, s3_calls = [], [], 0, 0
    for _ in range(repeats):
        stack.counter.reset()
        c0, w0 = time.process_time(), time.perf_counter()
        r = stack.get(path)
        cpu.append((time.process_time() - c0) * 1000)
        wall.append((time.perf_counter() - w0) * 1000)
        assert r.status_code == 200, r.text
        snap = stack.counter.snapshot().get("s3.GetObject", {})
        s3_bytes, s3_calls = int(snap.get("bytes_received", 0)), int(snap.get("calls", 0))
    cpu.sort()
    wall.sort()
    return (
        f"| {name} | {cpu[len(cpu) // 2]:.0f} | {wall[len(wall) // 2]:.0f} | {s3_calls} | "
        f"{s3_bytes} | {len(r.content)} |"
    )


def main() -> None:
    gen = Generator(seed=13)
    rows = [
        "| request | CPU ms (p50, process) | wall ms (p50) | S3 GETs | S3 bytes read "
        "| image bytes |",
        "|---|---|---|---|---|---|",
    ]
    with mock_aws(), prepared_app({"bench": KEY}) as app, in_process_stack(app, KEY) as stack:
        study, series = gen.uid(), gen.uid()
        r = stack.post(
            "/studies", data=gen.ct(study, series, 1), headers={"Content-Type": "application/dicom"}
        )
        path = "/" + r.json()["00081199"]["Value"][0]["00081190"]["Value"][0].split("/", 3)[3]
        stack.drain()
        stack.get(f"{path}/frames/1/rendered")  # warm the imports
        rows.append(
            measure(stack, "rendered frame (JPEG, dataset window)", f"{path}/frames/1/rendered")
        )
        rows.append(
            measure(
                stack, "rendered frame, window=40,400", f"{path}/frames/1/rendered?window=40,400"
            )
        )
        rows.append(
            measure(
                stack, "thumbnail, first (renders, stores)", f"{path}/thumbnail?viewport=96,96", 1
            )
        )
        rows.append(measure(stack, "thumbnail, cached", f"{path}/thumbnail?viewport=96,96"))
    print("\n".join(rows))


if __name__ == "__main__":
    main()
