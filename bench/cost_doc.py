"""The markdown of docs/cost.md, from the measured rows of ``bench.cost_model`` priced by
``bench.pricing`` (the prose lives here so that regenerating the document keeps it)."""

from __future__ import annotations

from bench import pricing as pr
from bench.pricing import S3_FREE, S3_GET_CLASS, S3_PUT_CLASS, Measured
from chalicelib.storage.schema import INDEXER_BATCH_SIZE
from infra.template import API_MEMORY_MB, INDEX_MEMORY_MB, PIXEL_MEMORY_MB


def _n(x: float) -> str:
    if x == 0:
        return "0"
    if x >= 100:
        return f"{x:,.0f}"
    return f"{x:.2f}".rstrip("0").rstrip(".") if x >= 0.01 else f"{x:.3f}"


def _usd(x: float) -> str:
    return f"${x:,.2f}" if x >= 1 else f"${x:.3f}"


def calls_table(rows: list[Measured]) -> list[str]:
    out = [
        "| operation (per unit) | S3 PUT/COPY/LIST | S3 GET/HEAD | S3 DELETE | DynamoDB requests "
        "| RRU | WRU (+GSI) | SQS req. | Lambda inv. | ms (compute + AWS) | GB-s | calls |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        detail = ", ".join(f"{op.split('.', 1)[1]} {_n(n)}" for op, n in sorted(r.calls.items()))
        out.append(
            f"| {r.name} | {_n(r.s3(S3_PUT_CLASS))} | {_n(r.s3(S3_GET_CLASS))} "
            f"| {_n(r.s3(S3_FREE))} | {_n(r.dynamodb_requests)} | {_n(r.capacity.read_units)} "
            f"| {_n(r.capacity.write_units)} (+{_n(r.capacity.gsi_write_units)}) "
            f"| {_n(r.sqs_requests)} | {_n(r.invocations)} "
            f"| {r.compute_ms:.0f} + {r.aws_ms:.0f} | {r.gb_seconds:.3f} | {detail} |"
        )
    return out


def cost_table(rows: list[Measured]) -> list[str]:
    names = list(rows[0].costs()) if rows else []
    out = [
        "| operation, per million | " + " | ".join(names) + " | total | + egress |",
        "|---|" + "---|" * (len(names) + 2),
    ]
    for r in rows:
        costs = r.costs()
        out.append(
            f"| {r.name} | "
            + " | ".join(_usd(costs[k] * 1e6) for k in names)
            + f" | **{_usd(r.total * 1e6)}** | {_usd(r.egress_cost * 1e6)} |"
        )
    return out


def _price_table() -> list[str]:
    out = [
        f"AWS list prices, **{pr.REGION}**, as published, taken {pr.PRICES_TAKEN} (from the "
        "author's knowledge of the price pages, without internet access: check them before "
        "quoting; no free tier, savings plan or volume discount):",
        "",
        "| item | USD |",
        "|---|---|",
    ]
    out += [f"| {text} | {value:g} |" for value, text in pr.PRICES.values()]
    return out


def _storage(storage: pr.Storage, h: dict[str, float]) -> list[str]:
    parts = ", ".join(f"{k} {v:,.0f} B" for k, v in storage.breakdown.items())
    return [
        "## Storage: per TB-month",
        "",
        "Measured on the stored set (a 512x512 CT study of 11 instances, a 20-instance "
        "256x256 study, "
        f"one 8 MB instance): per catalogued instance, **{storage.instance_bytes:,.0f} "
        f"B** of DICOM in S3, **{storage.derived_bytes:,.0f} B** of derived objects (metadata "
        f"fragment, series documents, thumbnails) and **{storage.catalog_bytes:,.0f} B** in "
        f"DynamoDB ({parts}; items and index entries with DynamoDB's 100-byte overhead). Small "
        "studies make the per-study items weigh more than in clinical studies of hundreds of "
        "instances.",
        "",
        f"For 1 TB (1,024 GB) of 512 KB CT slices ({h['instances_per_tb'] / 1e6:.1f} million "
        f"instances): S3 Standard **{_usd(h['tb_s3'])}** (objects and derived objects), the "
        f"catalog **{_usd(h['tb_catalog'])}** (DynamoDB Standard storage): "
        f"**{_usd(h['tb_month'])} per TB-month**. Noncurrent versions of re-stored "
        "instances add their size for `NoncurrentVersionDays` (30). S3 Intelligent-Tiering or "
        "Glacier Instant Retrieval would cut the object part (not done: this is S3 Standard).",
        "",
    ]


def _compare(h: dict[str, float]) -> list[str]:
    ahi = pr.AHI_PRICES
    per_call = ahi["api_per_1k"][0] / 1000
    tb_freq = 1024 * ahi["frequent_gb_month"][0]
    tb_arch = 1024 * ahi["archive_gb_month"][0]
    return [
        "## Beside AWS HealthImaging",
        "",
        f"HealthImaging's published prices ({pr.REGION}, read from the example figures of "
        f"aws.amazon.com/healthimaging/pricing as transcribed on {pr.AHI_PRICES_TAKEN}; its "
        "price tables per request type did not render in that copy, so the per-request rate "
        "below is the example's single rate and may not hold for every action: unsure, "
        "verify):",
        "",
        "| item | HealthImaging | this service |",
        "|---|---|---|",
        f"| storage, per TB-month | {_usd(tb_freq)} Frequent Access; {_usd(tb_arch)} "
        f"Archive Instant Access (untouched 30 days); billed after its lossless compression, "
        f"5 MB minimum per image set | {_usd(h['tb_month'])} (S3 Standard + catalog, as "
        "stored: no recompression) |",
        f"| store + index, per million instances | imports free (API calls of an import job "
        f"are few) | {_usd(h['stored_indexed'] * 1e6)} one per request, "
        f"{_usd(h['stored_indexed_batch'] * 1e6)} in STOWs of 20 |",
        f"| search, per million | {_usd(per_call * 1e6)} (SearchImageSets / QIDO as API "
        f"calls) | {_usd(h['qido'] * 1e6)} |",
        f"| frames, per million | {_usd(per_call * 1e6)} (GetImageFrame) | "
        f"{_usd(h['frame'] * 1e6)} (+ {_usd(h['frame_egress'] * 1e6)} egress of 512 KB "
        "frames, which both pay) |",
        "",
        "Read: storage dominates any archive. Hot data costs less here than HealthImaging's "
        "Frequent Access tier; data untouched for a month costs less there, unless this "
        "service's bucket gets a lifecycle or Intelligent-Tiering rule. Per request, this "
        "service pays API Gateway's $3.50 a million before any work is done: the per-million "
        "figures are of the same order as HealthImaging's request price. An HTTP API ($1.00 a "
        "million) would remove most of the difference.",
        "",
    ]


def document(rows: list[Measured], storage: pr.Storage | None) -> str:
    h = pr.headlines(rows, storage)
    out = [
        "# What it costs",
        "",
        "Regenerate: `.venv/bin/python -m bench.cost_model --write docs/cost.md` (about a "
        "minute, in-process on moto; `make`-free). The numbers below are counted by that run; "
        "the prose is in `bench/cost_doc.py`, the prices in `bench/pricing.py` (`PRICES`, "
        "the one place they live). `tests/unit/bench/test_cost_model.py` keeps the counting and "
        "this rendering working.",
        "",
        "## Headlines",
        "",
        f"- **{_usd(h['stored_indexed'] * 1e6)} per million instances stored and indexed** "
        "(one STOW request each, 512x512 CT, into an existing series; a STOW indexes what it "
        "stored inline and waits for the catalog's indexes, so the STOW rows hold the indexing "
        "and the Indexing rows are the S3 event that follows, which finds the instance "
        "unchanged; the first instance of a study costs "
        f"{_usd(pr.find(rows, 'STOW-RS, first').total * 1e6)} a million to store and index"
        + (
            f"; {_usd(h['stored_indexed_batch'] * 1e6)} in STOWs of 20 instances of a new "
            "study, its first-instance cost included)"
            if "stored_indexed_batch" in h
            else ")"
        ),
        f"- **{_usd(h['qido'] * 1e6)} per million QIDO-RS queries** (studies by PatientID)",
    ]
    if storage is not None:
        out += [
            f"- **{_usd(h['frame'] * 1e6)} per million frames** (+ "
            f"{_usd(h['frame_egress'] * 1e6)} of internet egress for 512 KB frames)",
            f"- **{_usd(h['tb_month'])} per TB-month stored** (S3 Standard "
            f"{_usd(h['tb_s3'])} + DynamoDB catalog {_usd(h['tb_catalog'])})",
            f"- AWS HealthImaging beside them: storage "
            f"{_usd(1024 * pr.AHI_PRICES['frequent_gb_month'][0])} per TB-month (Frequent "
            f"Access) or {_usd(1024 * pr.AHI_PRICES['archive_gb_month'][0])} (Archive "
            f"Instant Access), imports free, API calls "
            f"{_usd(pr.AHI_PRICES['api_per_1k'][0] * 1000)} per million",
        ]
    out += [
        "",
        "## What is counted, what is assumed",
        "",
        "- **Counted** (botocore hooks on the app's own clients, `AwsCallCounter`): every S3, "
        "DynamoDB and SQS request the API function and the indexer make, with bytes.",
        "- **Estimated from item sizes**: DynamoDB read and write units. The code does not ask "
        "for `ReturnConsumedCapacity`; `bench/cost_meter.py` reads each touched item before and "
        "after the call (through an uncounted client) and applies DynamoDB's rules: 1 KB write "
        "units, 4 KB read units (half for eventually consistent reads), double for "
        "transactions, +1 or +2 GSI writes when an item enters, leaves or moves in a keys-only "
        "index, queries charged on the full items they evaluate.",
        "- **Modelled**: SQS, one SendMessage per S3 event (made by S3, not by our code) plus "
        f"a ReceiveMessage and a DeleteMessageBatch per batch of {INDEXER_BATCH_SIZE} "
        "(the local poller's calls, empty receives included, are not priced); the event "
        "source's idle long polling (a few cents a month) is left out. Lambda: one invocation "
        f"per API request, one per batch of {INDEXER_BATCH_SIZE} for the indexer; memory "
        f"from infra/template.py ({API_MEMORY_MB} MB API, {PIXEL_MEMORY_MB} MB for the pixel "
        f"routes: retrieve, frames, rendered, thumbnails; {INDEX_MEMORY_MB} MB indexer); "
        "duration = the measured wall time outside AWS calls (in-process, so it includes the "
        "local gateway's own HTTP work: an upper bound) + an assumed in-region latency per "
        "AWS call (`LATENCY_MS`: S3 GET 20 ms, PUT 30 ms, DynamoDB 5-8 ms, transaction 20 ms), "
        "summed as if sequential + bytes at 100 MB/s. Cold starts are left out.",
        "- **Assumed**: KMS (SSE-KMS with an S3 Bucket Key, AWS-managed key): one KMS request "
        "per 100 object reads and writes. CloudWatch Logs: 1.5 KB per API request (platform "
        "lines, request line, EMF metrics, access log), 0.75 KB per indexed instance. X-Ray "
        "(tracing is on): 5 % of requests sampled. The API key lookup is cached per container "
        "(60 s) and left out; the per-tenant rate limiter is off by default (`TenantRateLimit` "
        "0), when on it adds one UpdateItem (1 WRU, $0.63 a million) per request.",
        "- **Egress** (data transfer out to the internet) is shown apart: it depends on where "
        "the client is, and HealthImaging charges it too.",
        "",
        "## AWS calls per operation",
        "",
        "Per unit: an instance for STOW and indexing, a request otherwise. RRU/WRU are "
        "estimated request units; `(+n)` are GSI writes. 'ms' is compute (measured) + AWS "
        "(modelled).",
        "",
        *calls_table(rows),
        "",
        "## Cost per million operations (USD)",
        "",
        *cost_table(rows),
        "",
        "A study's DELETE is the DELETE row plus one removal indexing per instance. A thumbnail "
        "is rendered once per instance and stored: later reads cost the cached row. STOW "
        "batches and metadata rebuilds run their S3 calls in parallel threads: their measured "
        "compute reads near 0 and their modelled AWS time (a sequential sum) is an upper "
        "bound. S3 DeleteObjects is counted with the free DELETE requests; if AWS bills it as "
        "a POST it adds $5 a million requests to the DELETE row.",
        "",
    ]
    if storage is not None:
        out += _storage(storage, h)
        out += _compare(h)
    out += ["## Prices", "", *_price_table(), ""]
    return "\n".join(out)
