"""QIDO cost at scale (issue 24): index N instances (header-only synthetic objects, so moto's
memory stays small) through the real indexer, then time and count the searches a tenant makes,
from the study-keyed ones to the tenant-wide series and instance listings, offsets and next
links. Per search: DynamoDB requests, items read (index entries and items, as the AWS-call
counter counts them) and read capacity (``bench/cost_meter.py``: DynamoDB's rounding rules
applied to the items as stored: what DynamoDB would bill), and latency on the emulator.

The corpus: studies of 2 series (CT, MR) of 10 instances, 20 studies a day; one instance in
1,000 is a Secondary Capture of 256 rows (so ``SOPClassUID`` and ``Rows`` each match 0.1 % of
the instances: the first on a designed key, the second on none).

Usage: ``python -m bench.qido_scale 1000 10000 100000`` (``REPEATS=5`` for fewer timed runs).
With several sizes, a summary puts each search's items read and read units side by side.
"""

from __future__ import annotations

import os
import re
import resource
import statistics
import sys
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

from local.testenv import use_test_environment

use_test_environment()

from moto import mock_aws
from pydicom.dataset import Dataset

from bench.cost_meter import CostMeter
from bench.datasets import CT_IMAGE_STORAGE, Generator, part10
from chalicelib.dicomweb.resources import InstanceRef
from chalicelib.storage.keys import instance_key
from local.harness import in_process_stack, prepared_app

KEY = "bench-key-" + "q" * 32
PER_SERIES = 10
SERIES_PER_STUDY = 2
STUDIES_A_DAY = 20
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
REPEATS = int(os.environ.get("REPEATS", "10"))
OFFSET = 5_000  # the deep offset measured (capped to the archive)


def header_only(
    gen: Generator, study: str, series: str, i: int, s: int, m: int, n: int
) -> tuple[str, bytes]:
    """Instance ``n`` of the archive: instance ``i`` of series ``m`` of study ``s`` (its
    SOPInstanceUID and Part 10 bytes)."""
    ds = Dataset()
    rare = n % 1000 == 999
    ds.SOPClassUID = SECONDARY_CAPTURE if rare else CT_IMAGE_STORAGE
    ds.SOPInstanceUID = gen.uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
    ds.Modality = ("CT", "MR")[m % 2]
    ds.PatientName = f"Patient{s % 997:03d}^Given{s % 13}"
    ds.PatientID = f"PID{s % 997:05d}"
    day = s // STUDIES_A_DAY
    ds.StudyDate = ds.SeriesDate = f"{2020 + day // 336}{1 + day // 28 % 12:02d}{1 + day % 28:02d}"
    ds.StudyTime = f"{8 + s % 10:02d}1010"
    ds.AccessionNumber = f"ACC{s:07d}"
    ds.StudyDescription = f"Study {s % 50}"
    ds.SeriesNumber, ds.InstanceNumber = m + 1, i + 1
    ds.Rows = ds.Columns = 256 if rare else 512
    ds.BitsAllocated = 16
    return str(ds.SOPInstanceUID), part10(ds)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


DEEP = "instances, deep offset"
BY_LINK = "instances, deep offset by the next link"


def searches(n: int, first: dict[str, str], date: str) -> dict[str, tuple[str, dict[str, str]]]:
    offset = deep_offset(n)
    return {
        "studies: PatientID": ("/studies", {"PatientID": "PID00042"}),
        "studies: PatientName prefix": ("/studies", {"PatientName": "Patient042*"}),
        "studies: a StudyDate range": ("/studies", {"StudyDate": date}),
        "studies: ModalitiesInStudy": ("/studies", {"ModalitiesInStudy": "MR", "limit": "100"}),
        "a study's series": (f"/studies/{first['study']}/series", {}),
        "a series' instances": (
            f"/studies/{first['study']}/series/{first['series']}/instances",
            {},
        ),
        "series, unfiltered": ("/series", {}),
        "instances, unfiltered": ("/instances", {}),
        "series: Modality": ("/series", {"Modality": "CT"}),
        "instances: Modality": ("/instances", {"Modality": "MR"}),
        "series: a SeriesDate range": ("/series", {"SeriesDate": date}),
        "instances: SOPClassUID (0.1 %)": ("/instances", {"SOPClassUID": SECONDARY_CAPTURE}),
        "instances: Rows (0.1 %, no key)": ("/instances", {"Rows": "256"}),
        DEEP: ("/instances", {"offset": str(offset)}),
        BY_LINK: ("/instances", {"offset": str(offset)}),
    }


def deep_offset(n: int) -> int:
    return min(OFFSET, n // 2)


def label(name: str, n: int) -> str:
    return name.replace("deep offset", f"offset {deep_offset(n):,}")


def warning_kind(text: str) -> str:
    """What a Warning header says, in a few words: ``stopped`` (the bound on one request's
    work), ``N more``, ``>N more`` or ``more`` (the standard's additional results)."""
    if not text:
        return ""
    if "stopped after examining" in text:
        return "Warning: stopped"
    more = re.search(r"There are (more than )?(\d+) additional results", text)
    if more:
        return f"Warning: {'>' if more.group(1) else ''}{more.group(2)} more"
    if "additional results" in text:
        return "Warning: more"
    return "Warning"


def measure(
    stack: Any, meter: CostMeter | None, path: str, params: dict[str, str]
) -> dict[str, Any]:
    stack.counter.reset()
    if meter is not None:
        meter.reset()
    t0 = time.perf_counter()
    r = stack.get(path, params=params)
    ms = (time.perf_counter() - t0) * 1000
    assert r.status_code == 200, r.text
    snap = stack.counter.snapshot()
    db = {k: v for k, v in snap.items() if k.startswith("dynamodb.")}
    assert "dynamodb.Scan" not in db
    return {
        "results": len(r.json()),
        "requests": int(sum(v["calls"] for v in db.values())),
        "read": int(sum(v["items_read"] for v in db.values())),
        "rcu": sum(c.read_units for c in meter.snapshot().values()) if meter else 0.0,
        "ms": ms,
        "warning": warning_kind(r.headers.get("Warning", "")),
        "link": r.headers.get("Link", ""),
    }


def next_link(link: str) -> tuple[str, dict[str, str]]:
    url = re.fullmatch(r"<(.+)>; rel=\"next\"", link)
    assert url is not None, link
    split = urlsplit(url.group(1))
    return split.path, {k: v[-1] for k, v in parse_qs(split.query).items()}


def run(n: int) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """The table of one archive size, and each search's figures."""
    gen = Generator(seed=3)
    studies = max(1, n // (PER_SERIES * SERIES_PER_STUDY))
    with mock_aws(), prepared_app({"bench": KEY}) as app, in_process_stack(app, KEY) as stack:
        deps = stack.deps
        s3, bucket = deps.clients.s3, deps.settings.bucket
        # indexed here as a STOW indexes (one transaction a series): the S3 events, which
        # would find every object indexed already, are not sent
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={})
        started = time.monotonic()
        first: dict[str, str] = {}
        count = 0
        for s in range(studies):
            study = gen.uid()
            for m in range(SERIES_PER_STUDY):
                series = gen.uid()
                keys = []
                for i in range(PER_SERIES):
                    sop, data = header_only(gen, study, series, i, s, m, count)
                    count += 1
                    key = instance_key(InstanceRef("bench", study, series, sop))
                    s3.put_object(Bucket=bucket, Key=key, Body=data)
                    keys.append(key)
                    first.setdefault("study", study)
                    first.setdefault("series", series)
                deps.indexer.index_batch(keys)
        indexed_s = time.monotonic() - started
        last_day = (studies - 1) // STUDIES_A_DAY
        date = f"2020{1 + last_day // 28 % 12:02d}01-2020{1 + last_day // 28 % 12:02d}05"
        stack.get("/studies", params={"limit": "1"})  # warm the key cache
        plan = searches(n, first, date)
        for name, (path, params) in list(plan.items()):
            if name.endswith("by the next link"):  # the page the link after offset - 100 names
                before = {**params, "offset": str(int(params["offset"]) - 100)}
                plan[name] = next_link(measure(stack, None, path, before)["link"])
        # timed first: the capacity meter reads every item it prices (and would be timed)
        timed = {name: [measure(stack, None, *plan[name]) for _ in range(REPEATS)] for name in plan}
        meter = CostMeter()
        deps.clients.instrument(meter.attach)
        rows = [
            f"### {n:,} instances ({studies:,} studies), indexed in {indexed_s:.0f} s",
            "",
            "| search | results | DynamoDB requests | items read | read units | p50 ms | "
            "Warning, next link |",
            "|---|---|---|---|---|---|---|",
        ]
        costs: dict[str, dict[str, Any]] = {}
        for name, (path, params) in plan.items():
            got = measure(stack, meter, path, params)
            costs[name] = got
            flags = ", ".join(f for f in (got["warning"], "link" if got["link"] else "") if f)
            rows.append(
                f"| {label(name, n)} | {got['results']} | {got['requests']} | {got['read']:,} | "
                f"{got['rcu']:.1f} | {statistics.median(r['ms'] for r in timed[name]):.0f} | "
                f"{flags or '-'} |"
            )
        rows += ["", offset_cost(n, costs)]
        return rows, costs


def offset_cost(n: int, costs: dict[str, dict[str, Any]]) -> str:
    """An offset's cost per 1,000 results skipped: the deep offset against offset 0."""
    offset = deep_offset(n)
    deep, top = costs[DEEP], costs["instances, unfiltered"]
    per = 1000 / offset
    entries, units = (deep["read"] - top["read"]) * per, (deep["rcu"] - top["rcu"]) * per
    return (
        f"An offset costs, per 1,000 results skipped: **{entries:,.0f} items read (index "
        f"entries), {units:.1f} read units** (offset {offset:,} against offset 0, unfiltered "
        f"`/instances`); the same page by the next link: {costs[BY_LINK]['read']:,} items, "
        f"{costs[BY_LINK]['rcu']:.1f} read units."
    )


def summary(runs: dict[int, dict[str, dict[str, Any]]]) -> list[str]:
    """Each search's items read and read units side by side, one column per archive size."""
    sizes = list(runs)
    items = " | ".join(f"items read, {n:,}" for n in sizes)
    units = " | ".join(f"read units, {n:,}" for n in sizes)
    rows = [
        "### Items read and read units per request, by archive size",
        "",
        f"| search | {items} | {units} |",
        "|---|" + "---|" * (2 * len(sizes)),
    ]
    for name in next(iter(runs.values())):
        read = " | ".join(f"{runs[n][name]['read']:,}" for n in sizes)
        rcu = " | ".join(f"{runs[n][name]['rcu']:.1f}" for n in sizes)
        offsets = "/".join(f"{deep_offset(n):,}" for n in sizes)
        rows.append(f"| {name.replace('deep offset', f'offset {offsets}')} | {read} | {rcu} |")
    return rows


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [1_000, 10_000]
    runs: dict[int, dict[str, dict[str, Any]]] = {}
    for n in sizes:
        t0 = time.monotonic()
        rows, runs[n] = run(n)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print("\n".join(rows), flush=True)
        print(f"\n(run in {time.monotonic() - t0:.0f} s; peak memory so far {peak:,.0f} MB)\n")
    if len(sizes) > 1:
        print("\n".join(summary(runs)), flush=True)


if __name__ == "__main__":
    main()
