"""What each DICOMweb operation costs in AWS: counted calls, estimated DynamoDB capacity, modelled
Lambda time, and AWS list prices applied to them.

Runs the real app in-process on moto (``local.harness``), counts every AWS call the API and the
indexer make (``AwsCallCounter``) and estimates DynamoDB capacity and the time spent outside AWS
calls (``bench.cost_meter``, botocore hooks beside the counter). Prices and what a measured
operation costs: ``bench/pricing.py``; the document: ``bench/cost_doc.py``. Usage::

    python -m bench.cost_model                    # print the report
    python -m bench.cost_model --write docs/cost.md
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import os
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from local.testenv import use_test_environment

use_test_environment()

import boto3
import requests
from moto import mock_aws
from pydicom import dcmread

from bench.cost_doc import Published, document
from bench.cost_meter import GSI_ENTRY_OVERHEAD, Capacity, CostMeter, item_size
from bench.datasets import Generator
from bench.pricing import (
    CLIENT_CPU_MS_PER_CALL,
    HOURS_PER_MONTH,
    LOG_BYTES_API_REQUEST,
    LOG_BYTES_INDEXED,
    RECEIVER_INSTANCES_PER_TASK_S,
    REGION,
    Measured,
    Storage,
    find,
    idle_month,
    price,
    task_hour,
    through_receiver,
)
from chalicelib.dicomweb.resources import InstanceRef
from chalicelib.storage.keys import instance_key
from chalicelib.storage.schema import INDEXER_BATCH_SIZE
from infra import receiver
from infra.template import PARAMETERS
from local.harness import InProcessStack, in_process_stack, prepared_app

KEY = "bench-key-" + "c" * 32
TENANT = "bench"


class Bench:
    """The in-process stack, with the counter and the meter reset around each operation."""

    def __init__(self, stack: InProcessStack) -> None:
        self.stack = stack
        self.meter = CostMeter()
        stack.deps.clients.instrument(self.meter.attach)
        self.rows: list[Measured] = []
        self.raw_s3 = boto3.client("s3", region_name=REGION)

    def run(
        self,
        name: str,
        action: Callable[[], Any],
        *,
        per: int = 1,
        function: str = "api",
        requests_made: int | None = None,
        follow: Callable[[Any], Any] | None = None,
        ingress: int = 0,
        events: int = 1,
    ) -> Any:
        counter, meter = self.stack.counter, self.meter
        counter.reset()
        meter.reset()
        t0 = time.perf_counter()
        result = action()
        wall = time.perf_counter() - t0
        aws = meter.aws_seconds
        egress = len(result.content) if isinstance(result, requests.Response) else 0
        if follow is not None:  # a client following a redirect: counted, not Lambda time
            egress = len(follow(result).content)
        snap = counter.snapshot()
        capacity = Capacity()
        for c in meter.snapshot().values():
            capacity.read_units += c.read_units / per
            capacity.write_units += c.write_units / per
            capacity.gsi_write_units += c.gsi_write_units / per
        calls = {op: c["calls"] / per for op, c in snap.items() if not op.startswith("sqs.")}
        moved = sum(c["bytes_sent"] + c["bytes_received"] for op, c in snap.items()) / per
        row = Measured(
            name=name,
            function=function,
            calls=calls,
            bytes_moved=moved,
            capacity=capacity,
            compute_ms=max(0.0, wall - aws) * 1000 / per,
            egress_bytes=egress / per,
            counted_sqs={op: c["calls"] / per for op, c in snap.items() if op.startswith("sqs.")},
            ingress_bytes=ingress / per,
            egress_from_s3=follow is not None,
        )
        if function != "indexer":  # the action made `requests_made` requests (default: per)
            share = (per if requests_made is None else requests_made) / per
            row.api_requests = row.invocations = share
            row.log_bytes = LOG_BYTES_API_REQUEST * share
        else:
            # S3 sends one message per event (``events`` an instance: an import's copy makes a
            # second); Lambda's poller receives and deletes per batch. The local poller's
            # calls (and its empty receives) are shown, not priced.
            row.api_requests = 0
            row.invocations = events / INDEXER_BATCH_SIZE
            row.sqs_requests = events * (1 + 2 / INDEXER_BATCH_SIZE)
            row.log_bytes = LOG_BYTES_INDEXED
        self.rows.append(row)
        return result

    def drain(self) -> int:
        return self.stack.drain()


def multipart(parts: list[bytes]) -> tuple[bytes, str]:
    boundary = "cost-model-boundary"
    body = b"".join(
        f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + p + b"\r\n"
        for p in parts
    )
    body += f"--{boundary}--\r\n".encode()
    return body, f'multipart/related; type="application/dicom"; boundary={boundary}'


def stow(stack: InProcessStack, data: bytes) -> requests.Response:
    r = stack.post("/studies", data=data, headers={"Content-Type": "application/dicom"})
    assert r.status_code == 200, r.text
    return r


def retrieve_path(r: requests.Response) -> str:
    url: str = r.json()["00081199"]["Value"][0]["00081190"]["Value"][0]
    return "/" + url.split("/", 3)[3]


ANY = 'multipart/related; type="application/dicom"; transfer-syntax=*'


def measure(
    quick: bool = False, published: Published | None = None
) -> tuple[list[Measured], Storage | None]:
    """Run the operations; ``quick``: STOW, indexing and one QIDO only (for tests).
    ``published``: filled with the custom metrics the run published (EMF) and the routes."""
    gen = Generator(seed=11)
    with mock_aws(), prepared_app({TENANT: KEY}) as app, metrics_captured(published, app):
        # the deployed default: every request pays the per-tenant rate check (one UpdateItem)
        limit = int(PARAMETERS["TenantRateLimit"]["Default"])
        app.deps.settings = dataclasses.replace(app.deps.settings, tenant_rate_limit=limit)
        app.deps.__dict__.pop("rate_limiter", None)
        with in_process_stack(app, KEY) as stack:
            return _measure(Bench(stack), gen, quick)


@contextlib.contextmanager
def metrics_captured(published: Published | None, app: ModuleType) -> Iterator[None]:
    """Metrics on, as deployed, their EMF lines (stdout) read into ``published``."""
    if published is None:
        yield
        return
    published.methods = route_methods(app)
    was = os.environ.get("POWERTOOLS_METRICS_DISABLED")
    os.environ["POWERTOOLS_METRICS_DISABLED"] = "false"
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            yield
    finally:
        if was is None:
            os.environ.pop("POWERTOOLS_METRICS_DISABLED", None)
        else:
            os.environ["POWERTOOLS_METRICS_DISABLED"] = was
        for line in out.getvalue().splitlines():
            if '"_aws"' in line:
                published.add_emf(json.loads(line))


def route_methods(app: ModuleType) -> dict[str, int]:
    """API Gateway's methods by kind: served by a handler, CORS preflights (one OPTIONS per
    resource with CORS), and those only answering 405."""
    kinds = {"served": 0, "CORS preflight": 0, "405 only": 0}
    for methods in app.app.routes.values():
        for entry in methods.values():
            kinds["405 only" if entry.view_name == "method_not_allowed" else "served"] += 1
        kinds["CORS preflight"] += any(e.cors for e in methods.values())
    return kinds


def _measure(b: Bench, gen: Generator, quick: bool) -> tuple[list[Measured], Storage | None]:
    stack = b.stack
    stack.get("/studies", params={"limit": "1"})  # the API key is cached per container
    study, series = gen.uid(), gen.uid()
    first_data = gen.ct(study, series, 1)
    first = b.run(
        "STOW-RS, first instance of a study",
        lambda: stow(stack, first_data),
        ingress=len(first_data),
    )
    path = retrieve_path(first)
    b.run(
        "Indexing, first instance of a study (its S3 event: unchanged)",
        b.drain,
        function="indexer",
    )
    n = 3 if quick else 10
    data = [gen.ct(study, series, i + 2) for i in range(n)]
    single = "STOW-RS, one instance per request (512x512 CT)"
    b.run(single, lambda: [stow(stack, d) for d in data][-1], per=n, ingress=sum(map(len, data)))
    b.rows.append(through_receiver(find(b.rows, single), RECEIVER_ROW))
    b.run(
        "Indexing, one instance of an existing series (its S3 event: unchanged)",
        b.drain,
        per=n,
        function="indexer",
    )
    pid = f"BENCH-{zlib.crc32(study.encode()) % 7}"
    b.run("QIDO-RS studies (PatientID)", lambda: stack.get("/studies", params={"PatientID": pid}))
    m_study, m_series = gen.uid(), gen.uid()  # a new study: its first instance included
    migrated = written_to_s3(b, [gen.ct(m_study, m_series, i + 1) for i in range(n)])
    b.run(
        f"Indexing, per instance of a study of {n} written straight to S3 (a migration: the "
        "events do the work)",
        b.drain,
        per=migrated,
        function="indexer",
    )
    if quick:
        return b.rows, None
    u_study, u_series = gen.uid(), gen.uid()
    uploaded = presigned_uploads(b, [gen.ct(u_study, u_series, i + 1) for i in range(n)])
    b.run(
        f"Indexing, per file of a presigned upload of a {n}-instance study (imported: checked, "
        "copied, indexed; two events)",
        b.drain,
        per=uploaded,
        function="indexer",
        events=2,
    )
    b.run("QIDO-RS a study's series", lambda: stack.get(f"/studies/{study}/series"))
    b.run(
        f"QIDO-RS a series' instances ({n + 1})",
        lambda: stack.get(f"/studies/{study}/series/{series}/instances"),
    )
    batch, s2, se2 = 20, gen.uid(), gen.uid()  # one new study
    body, ctype = multipart([gen.ct(s2, se2, i + 1, 256) for i in range(batch)])
    b.run(
        f"STOW-RS, per instance in a batch of {batch} (256x256 CT)",
        lambda: stack.post("/studies", data=body, headers={"Content-Type": ctype}),
        requests_made=1,
        per=batch,
        ingress=len(body),
    )
    b.run(
        "Indexing, per instance of that batch (a new study)",
        b.drain,
        per=batch,
        function="indexer",
    )
    meta = f"/studies/{study}/metadata"
    b.run("Study metadata, first read after a change (rebuild)", lambda: stack.get(meta))
    b.run("Study metadata, warm (1 series)", lambda: stack.get(meta))
    b.run("Series metadata, warm", lambda: stack.get(f"/studies/{study}/series/{series}/metadata"))
    b.run(
        "Instance retrieve, 512 KB",
        lambda: stack.get(path, headers={"Accept": ANY}),
        function="pixels",
    )
    big = put_large(b, gen)
    b.run(
        "Instance retrieve, 8 MB (303 to a presigned URL, followed)",
        lambda: stack.get(
            big, headers={"Accept": "application/dicom; transfer-syntax=*"},
            allow_redirects=False,
        ),
        follow=lambda r: stack.http.get(r.headers["Location"]),
        function="pixels",
    )  # fmt: skip
    b.run("Frame (512x512 native)", lambda: stack.get(f"{path}/frames/1"), function="pixels")
    stack.get(f"{path}/frames/1/rendered")  # imports Pillow/numpy once: not per request
    b.run(
        "Rendered frame (JPEG)",
        lambda: stack.get(f"{path}/frames/1/rendered"),
        function="pixels",
    )
    b.run(
        "Thumbnail, first (renders, stores)",
        lambda: stack.get(f"{path}/thumbnail"),
        function="pixels",
    )
    b.run("Thumbnail, cached", lambda: stack.get(f"{path}/thumbnail"), function="pixels")
    storage = measure_storage(b)
    b.run(
        f"DELETE a study ({n + 1} instances), API",
        lambda: stack.http.delete(stack.url + f"/studies/{study}"),
    )
    b.run("Indexing, removal of one deleted instance", b.drain, per=n + 1, function="indexer")
    return b.rows, storage


def written_to_s3(b: Bench, instances: list[bytes]) -> int:
    """Instances PUT at their canonical keys by another writer (a bulk migration, a script):
    S3 sends the events, the indexer does all of the indexing."""
    for data in instances:
        ds = dcmread(io.BytesIO(data), stop_before_pixels=True)
        ref = InstanceRef(TENANT, ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)
        b.raw_s3.put_object(Bucket=b.stack.deps.settings.bucket, Key=instance_key(ref), Body=data)
    return len(instances)


def presigned_uploads(b: Bench, instances: list[bytes]) -> int:
    """One upload of these files (POST /uploads), each PUT to its presigned URL (by the client,
    straight to S3: not counted)."""
    files = [{"name": f"file{i}.dcm", "size": len(d)} for i, d in enumerate(instances)]
    r = b.stack.post("/uploads", json={"files": files})
    assert r.status_code == 201, r.text
    for spec, data in zip(r.json()["files"], instances, strict=True):
        put = requests.put(spec["url"], data=data, headers=spec["headers"])
        assert put.status_code == 200, put.text
    return len(instances)


def put_large(b: Bench, gen: Generator) -> str:
    """An 8 MB instance dropped at its canonical key (a STOW body that size gets 413)."""
    data = gen.ct(gen.uid(), gen.uid(), 1, 2048)
    ds = dcmread(io.BytesIO(data), stop_before_pixels=True)
    ref = InstanceRef(TENANT, ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)
    b.raw_s3.put_object(Bucket=b.stack.deps.settings.bucket, Key=instance_key(ref), Body=data)
    b.drain()
    return f"/studies/{ref.study}/series/{ref.series}/instances/{ref.sop}"


def measure_storage(b: Bench) -> Storage:
    """Bytes per catalogued instance: S3 objects, derived objects, catalog items + GSI entries
    (DynamoDB bills 100 bytes of overhead per item and per index entry)."""
    deps = b.stack.deps
    db = boto3.client("dynamodb", region_name=REGION)
    table = deps.settings.catalog_table
    desc = db.describe_table(TableName=table)["Table"]
    indexes = [[k["AttributeName"] for k in g["KeySchema"]] for g in desc["GlobalSecondaryIndexes"]]
    kinds: dict[str, float] = {}
    instances = 0
    for page in db.get_paginator("scan").paginate(TableName=table):
        for item in page["Items"]:
            sk = item["sk"]["S"]
            kind = sk.split("#")[0] if not sk.isdigit() else "FEED entry"
            kind = {"INSTANCE": "instance item", "SERIES": "series item", "STUDY": "study item",
                    "V": "value entries", "SEQ": "feed counter"}.get(kind, kind)  # fmt: skip
            instances += kind == "instance item"
            kinds[kind] = kinds.get(kind, 0) + item_size(item) + 100
            for attrs in indexes:
                if all(a in item for a in attrs):
                    entry = {a: item[a] for a in {*attrs, "pk", "sk"}}
                    kinds["GSI entries"] = (
                        kinds.get("GSI entries", 0) + item_size(entry) + GSI_ENTRY_OVERHEAD
                    )
    s3_bytes = {"dicom/": 0, "derived/": 0, "fragments": 0}
    for root in ("dicom/", "derived/"):
        pages = b.raw_s3.get_paginator("list_objects_v2").paginate(
            Bucket=deps.settings.bucket, Prefix=f"{root}{TENANT}/"
        )
        for o in (o for p in pages for o in p.get("Contents", [])):
            s3_bytes[root] += o["Size"]
            s3_bytes["fragments"] += o["Size"] if "/instances/" in o["Key"] else 0
    return Storage(
        instance_bytes=s3_bytes["dicom/"] / instances,
        derived_bytes=s3_bytes["derived/"] / instances,
        catalog_bytes=sum(kinds.values()) / instances,
        breakdown={k: v / instances for k, v in sorted(kinds.items())},
        metadata_bytes=s3_bytes["fragments"] / instances,
    )


RECEIVER_ROW = "STOW-RS through the receiver, one instance per request (512x512 CT)"


def _usd(x: float) -> str:
    return f"${x:,.2f}"


def front_section(rows: list[Measured]) -> list[str]:
    """docs/cost.md's section on CloudFront, the STOW receiver and what stays on when idle."""
    on, off = idle_month(True), idle_month(False)
    api_row, recv_row = find(rows, "STOW-RS, one instance"), find(rows, RECEIVER_ROW)
    recv = recv_row.costs()
    out = [
        "## The front and the STOW receiver",
        "",
        "Clients configure one root: CloudFront (infra/front.py), which sends STOW requests to "
        "the streaming STOW receiver on ECS Fargate behind an internal load balancer "
        "(infra/receiver.py; `StowReceiver` Enabled, the default) and every other request to "
        "API Gateway. The **CloudFront** column above is its per-request price "
        f"(${price('cloudfront_requests_per_m'):.2f} a million HTTPS requests + "
        f"${price('cloudfront_function_per_m'):.2f} for the viewer-request function) and the "
        f"request bodies it carries to an origin (${price('cloudfront_to_origin_gb'):.2f} a GB); "
        "answers leave through it at "
        f"${price('cloudfront_egress_gb'):.3f} a GB (the egress column; the 8 MB retrieve "
        f"follows a presigned URL and leaves S3 at ${price('egress_gb'):.2f}). Nothing is "
        "cached (managed CachingDisabled): every request reaches an origin.",
        "",
        f"**A STOW through the receiver** (the row `{RECEIVER_ROW}`, derived from the "
        "API's): the same S3 and DynamoDB calls (the receiver runs the same InstanceWriter and "
        "inline indexing), no API Gateway, no Lambda, no X-Ray; instead the task's time and "
        "the ALB's processed bytes. "
        + (
            f"The task time comes from the measured {RECEIVER_INSTANCES_PER_TASK_S:g} "
            "instances/s per task"
            if RECEIVER_INSTANCES_PER_TASK_S
            else "The task time is modelled as CPU time: the measured compute plus "
            f"{CLIENT_CPU_MS_PER_CALL:g} ms of client CPU per AWS call "
            f"({recv_row.cpu_ms:.0f} ms an instance; the waits for AWS leave the vCPU to "
            "other requests)"
        )
        + f", at the {receiver.CPU_TARGET_PERCENT} % CPU that target tracking keeps (a task: "
        f"{_usd(task_hour())} an hour); the ALB bills an LCU-hour ("
        f"${price('alb_lcu_h'):.3f}) per GB: **{_usd(recv_row.total * 1e6)} per million "
        f"instances** against {_usd(api_row.total * 1e6)} through the API "
        f"(Fargate+ALB {_usd(recv['Fargate+ALB'] * 1e6)} a million). "
        + (
            ""
            if RECEIVER_INSTANCES_PER_TASK_S
            else "Once the receiver's throughput per task is measured (docs/scale.md, "
            '"The STOW receiver"), `bench/pricing.py` `RECEIVER_INSTANCES_PER_TASK_S` replaces '
            "the model. "
        )
        + "Marginal cost only: the first task is paid whatever the load (below).",
        "",
        "### What stays on when nothing happens (per month)",
        "",
        f"{HOURS_PER_MONTH} hours a month, {REGION} list prices.",
        "",
        "| item | StowReceiver Enabled | Disabled |",
        "|---|---|---|",
    ]
    for item, cost in on.items():
        other = off.get(item)
        out.append(f"| {item} | {_usd(cost)} | {_usd(other) if other is not None else '-'} |")
    out += [
        f"| **total** | **{_usd(sum(on.values()))}** | **{_usd(sum(off.values()))}** |",
        "",
        "Besides: container and flow logs at idle (a few cents: health checks every 15 s), the "
        "origin secret's one read per task start "
        f"(${price('secret_api_per_10k'):.2f} per 10,000), and S3 storage of the uploaded "
        "code zips (~30 MB a deploy, in the artifact bucket). A NAT gateway, which the tasks "
        "avoid by a public address (its security group admits only the load balancer), would "
        f"add ~{_usd(0.045 * HOURS_PER_MONTH)} a month; interface endpoints for ECR, logs, "
        f"Secrets Manager and STS in two zones ~{_usd(4 * 2 * 0.01 * HOURS_PER_MONTH)}.",
        "",
    ]
    return out


def with_front(text: str, rows: list[Measured]) -> str:
    """The front's section, before the price list."""
    head, marker, tail = text.partition("\n## Prices\n")
    return head + "\n" + "\n".join(front_section(rows)) + marker + tail


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", type=Path, help="write the markdown report to this file")
    args = parser.parse_args()
    published = Published()
    rows, storage = measure(published=published)
    text = with_front(document(rows, storage, published), rows)
    if args.write:
        args.write.write_text(text)
        print(f"wrote {args.write}")
    else:
        print(text)


if __name__ == "__main__":
    main()
