"""What WADO-RS requests cost: AWS requests and bytes read (counted), and time, in-process on
moto. Scenarios: instance retrieve, a 500-instance study's metadata (cold and warm), frame 50
of a 100-frame instance, a JPEG 2000 instance transcoded to Explicit VR Little Endian.

Usage: ``python -m bench.wado_cost``.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable

from local.testenv import use_test_environment

use_test_environment()

import pydicom
from moto import mock_aws
from pydicom.uid import JPEG2000Lossless

from bench.datasets import Generator
from local.harness import InProcessStack, in_process_stack, prepared_app

KEY = "bench-key-" + "w" * 32
ANY = 'multipart/related; type="application/dicom"; transfer-syntax=*'
FRAMES_ANY = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'


def measure(stack: InProcessStack, name: str, call: Callable[[], object], payload: int) -> str:
    stack.counter.reset()
    t0 = time.perf_counter()
    call()
    ms = (time.perf_counter() - t0) * 1000
    snap = stack.counter.snapshot()
    s3 = {k: v for k, v in snap.items() if k.startswith("s3.")}
    db = {k: v for k, v in snap.items() if k.startswith("dynamodb.")}
    s3_calls = int(sum(v["calls"] for v in s3.values()))
    s3_bytes = int(sum(v["bytes_received"] for v in s3.values()))
    db_calls = int(sum(v["calls"] for v in db.values()))
    ratio = f"{s3_bytes / payload:.2f}" if payload else "-"
    return f"| {name} | {s3_calls} | {s3_bytes} | {db_calls} | {payload} | {ratio} | {ms:.0f} |"


def store(stack: InProcessStack, data: bytes) -> str:
    r = stack.post("/studies", data=data, headers={"Content-Type": "application/dicom"})
    r.raise_for_status()
    return "/" + r.json()["00081199"]["Value"][0]["00081190"]["Value"][0].split("/", 3)[3]


def main() -> None:
    gen = Generator(seed=5)
    rows = [
        "| scenario | S3 requests | S3 bytes read | DynamoDB requests | payload bytes | "
        "read/payload | ms |",
        "|---|---|---|---|---|---|---|",
    ]
    with mock_aws(), prepared_app({"bench": KEY}) as app, in_process_stack(app, KEY) as stack:
        stack.get("/studies", params={"limit": "1"})
        # 1. instance retrieve
        study, series = gen.uid(), gen.uid()
        ct = gen.ct(study, series, 1)
        path = store(stack, ct)
        rows.append(
            measure(
                stack,
                "instance (512x512 CT, as stored)",
                lambda: stack.get(path, headers={"Accept": ANY}),
                len(ct),
            )
        )
        # 2. a 500-instance study's metadata
        big = gen.uid()
        for _ in range(5):
            se = gen.uid()
            for i in range(100):
                store(stack, gen.ct(big, se, i + 1, size=16))
        stack.drain()
        meta = f"/studies/{big}/metadata"
        rows.append(
            measure(
                stack,
                "500-instance study metadata, first read (builds 5 documents)",
                lambda: stack.get(meta),
                0,
            )
        )
        size = len(stack.get(meta).content)
        rows.append(
            measure(stack, "500-instance study metadata, warm", lambda: stack.get(meta), size)
        )
        gz = len(stack.get(meta, headers={"Accept-Encoding": "gzip"}, stream=True).raw.read())
        # 3. frame 50 of a 100-frame instance
        ds = pydicom.dcmread(io.BytesIO(gen.ct(gen.uid(), gen.uid(), 1, size=128)))
        ds.NumberOfFrames = 100
        ds.PixelData = ds.PixelData * 100
        buf = io.BytesIO()
        ds.save_as(buf, enforce_file_format=True)
        multi = store(stack, buf.getvalue())
        stack.drain()
        frame = 128 * 128 * 2
        rows.append(
            measure(
                stack,
                "frame 50 of a 100-frame instance (native)",
                lambda: stack.get(f"{multi}/frames/50"),
                frame,
            )
        )
        # 4. JPEG 2000 instance, transcoded
        j2k = pydicom.dcmread(io.BytesIO(gen.ct(gen.uid(), gen.uid(), 1)))
        j2k.compress(JPEG2000Lossless)
        buf = io.BytesIO()
        j2k.save_as(buf, enforce_file_format=True)
        j2k_path = store(stack, buf.getvalue())
        stack.drain()
        rows.append(
            measure(
                stack,
                "JPEG 2000 lossless instance -> Explicit VR LE",
                lambda: stack.get(j2k_path),
                len(buf.getvalue()),
            )
        )
        rows.append(
            measure(
                stack,
                "JPEG 2000 frame 1, as stored (image/jp2)",
                lambda: stack.get(f"{j2k_path}/frames/1", headers={"Accept": FRAMES_ANY}),
                0,
            )
        )
    print("\n".join(rows))
    print(f"\n500-instance study metadata: {size} bytes of JSON, {gz} bytes gzip-compressed")


if __name__ == "__main__":
    main()
