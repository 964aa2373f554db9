"""QIDO cost at scale: index N instances (header-only synthetic objects, so moto's memory
stays small) through the real indexer, then time and count the queries of the access-pattern
table. The counted DynamoDB requests and items read are what DynamoDB bills; the latency is
mostly moto's (its Query walks the whole table).

Usage: ``python -m bench.qido_scale 10000 [100000 ...]``.
"""

from __future__ import annotations

import io
import statistics
import sys
import time

from local.testenv import use_test_environment

use_test_environment()

from moto import mock_aws
from pydicom import dcmread
from pydicom.dataset import Dataset

from bench.datasets import CT_IMAGE_STORAGE, Generator, part10
from chalicelib.dicomweb.resources import InstanceRef
from chalicelib.storage.keys import instance_key
from local.harness import in_process_stack, prepared_app

KEY = "bench-key-" + "q" * 32
PER_SERIES = 10
SERIES_PER_STUDY = 2
REPEATS = 20


def header_only(gen: Generator, study: str, series: str, i: int, s: int, m: int) -> bytes:
    ds = Dataset()
    ds.SOPClassUID = CT_IMAGE_STORAGE
    ds.SOPInstanceUID = gen.uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
    ds.Modality = ("CT", "MR", "US", "CR")[(s + m) % 4]
    ds.PatientName = f"Patient{s % 997:03d}^Given{s % 13}"
    ds.PatientID = f"PID{s % 997:05d}"
    ds.StudyDate = f"2024{1 + s % 12:02d}{1 + s % 28:02d}"
    ds.StudyTime = "101010"
    ds.AccessionNumber = f"ACC{s:07d}"
    ds.StudyDescription = f"Study {s % 50}"
    ds.SeriesNumber, ds.InstanceNumber = m + 1, i + 1
    ds.Rows = ds.Columns = 512
    ds.BitsAllocated = 16
    return part10(ds)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def run(n: int) -> list[str]:
    gen = Generator(seed=3)
    studies = max(1, n // (PER_SERIES * SERIES_PER_STUDY))
    with mock_aws(), prepared_app({"bench": KEY}) as app, in_process_stack(app, KEY) as stack:
        deps = stack.deps
        s3, bucket = deps.clients.s3, deps.settings.bucket
        started = time.monotonic()
        first: dict[str, str] = {}
        for s in range(studies):
            study = gen.uid()
            for m in range(SERIES_PER_STUDY):
                series = gen.uid()
                for i in range(PER_SERIES):
                    data = header_only(gen, study, series, i, s, m)
                    ds = dcmread(io.BytesIO(data))
                    key = instance_key(InstanceRef("bench", study, series, str(ds.SOPInstanceUID)))
                    s3.put_object(Bucket=bucket, Key=key, Body=data)
                    first.setdefault("study", study)
                    first.setdefault("series", series)
            if s % 5 == 4:
                stack.drain()  # keep moto's queue short: its receive is O(messages)
        stack.drain()
        indexed_s = time.monotonic() - started
        queries = {
            "PatientID": ("/studies", {"PatientID": "PID00042"}),
            "PatientName prefix": ("/studies", {"PatientName": "Patient042*"}),
            "StudyDate range": ("/studies", {"StudyDate": "20240301-20240305", "limit": "100"}),
            "ModalitiesInStudy": ("/studies", {"ModalitiesInStudy": "US", "limit": "100"}),
            "a study's series": (f"/studies/{first['study']}/series", {}),
            "a series' instances": (
                f"/studies/{first['study']}/series/{first['series']}/instances",
                {},
            ),
        }
        stack.get("/studies", params={"limit": "1"})  # warm the key cache
        rows = [
            f"### {n} instances ({studies} studies), indexed in {indexed_s:.0f} s",
            "",
            "| query | results | DynamoDB requests | items read | p50 ms | p95 ms |",
            "|---|---|---|---|---|---|",
        ]
        for name, (path, params) in queries.items():
            times, requests_, reads, results = [], 0, 0, 0
            for _ in range(REPEATS):
                stack.counter.reset()
                t0 = time.perf_counter()
                r = stack.get(path, params=params)
                times.append((time.perf_counter() - t0) * 1000)
                assert r.status_code == 200, r.text
                results = len(r.json())
                snap = stack.counter.snapshot()
                db = {k: v for k, v in snap.items() if k.startswith("dynamodb.")}
                assert "dynamodb.Scan" not in db
                requests_ = int(sum(v["calls"] for v in db.values()))
                reads = int(sum(v["items_read"] for v in db.values()))
            rows.append(
                f"| {name} | {results} | {requests_} | {reads} | "
                f"{statistics.median(times):.0f} | {percentile(times, 95):.0f} |"
            )
        return rows


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [10_000]
    for n in sizes:
        print("\n".join(run(n)), flush=True)
        print()


if __name__ == "__main__":
    main()
