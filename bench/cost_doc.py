"""The markdown of docs/cost.md, from the measured rows of ``bench.cost_model`` priced by
``bench.pricing`` (the prose lives here so that regenerating the document keeps it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bench import pricing as pr
from bench.pricing import S3_FREE, S3_GET_CLASS, S3_PUT_CLASS, Measured
from chalicelib.observability import METRIC_DIMENSIONS, TRACE_FIXED_RATE, TRACE_RESERVOIR_PER_S
from chalicelib.storage.schema import INDEXER_BATCH_SIZE
from infra.template import API_MEMORY_MB, INDEX_MEMORY_MB, PIXEL_MEMORY_MB

#: One metric per value of these dimensions (a route template each, at most one per method).
PER_ROUTE = "transaction"
#: Metric names published by transaction whether or not the run saw them (a 5xx is rare).
PER_ROUTE_NAMES = {"Requests", "ServerErrors"}
#: The indexer's outcomes (services/indexer.py ``Outcome.action``), one Index_ metric each.
INDEX_ACTIONS = 8
#: The load docs/scale.md sizes for (the largest tenant): API requests a second at 1x (reads;
#: STOW goes to the receiver, which is not traced), and instances a second stored.
LOAD_API_RPS = 170
LOAD_INSTANCES_S = 35


@dataclass
class Published:
    """What a run published: each custom metric (name and dimension values, from its EMF
    lines), the tenants the lines name, and the API's methods by kind."""

    series: set[tuple[str, tuple[tuple[str, str], ...]]] = field(default_factory=set)
    tenants: set[str] = field(default_factory=set)
    methods: dict[str, int] = field(default_factory=dict)

    def add_emf(self, doc: dict[str, Any]) -> None:
        for directive in doc["_aws"]["CloudWatchMetrics"]:
            for dimensions in directive["Dimensions"]:
                key = tuple(sorted((d, str(doc.get(d))) for d in dimensions))
                for metric in directive["Metrics"]:
                    self.series.add((metric["Name"], key))
        if "tenant" in doc:
            self.tenants.add(str(doc["tenant"]))

    def dimensions(self) -> dict[str, set[str]]:
        """Each metric name and the dimension names it is published with."""
        out: dict[str, set[str]] = {}
        for name, key in self.series:
            out.setdefault(name, set()).update(d for d, _ in key)
        return out

    def per_route(self) -> set[str]:
        return {n for n, dims in self.dimensions().items() if PER_ROUTE in dims} | PER_ROUTE_NAMES

    def month_series(self) -> int:
        """Custom metrics a month at most: one per served route for the per-route names, one
        per Index_ outcome, one for each other name."""
        names = self.dimensions()
        routes = self.methods.get("served", 0)
        index = INDEX_ACTIONS if any(n.startswith("Index_") for n in names) else 0
        others = {n for n in names if not n.startswith("Index_")} - self.per_route()
        return len(self.per_route()) * routes + index + len(others)

    def with_tenant_dimension(self, tenants: int, routes_per_tenant: int = 15) -> float:
        """What the same metrics cost a month with the tenant as a dimension (as before issue
        24): each tenant's routes and its STOW counts, per tenant."""
        others = {n for n in self.dimensions() if not n.startswith("Index_")} - self.per_route()
        return pr.metrics_month((routes_per_tenant + len(others)) * tenants)  # Requests + STOW


def _n(x: float) -> str:
    if x == 0:
        return "0"
    if x >= 100:
        return f"{x:,.0f}"
    return f"{x:.2f}".rstrip("0").rstrip(".") if x >= 0.01 else f"{x:.3f}"


def _usd(x: float) -> str:
    return f"${x:,.2f}" if x >= 1 else f"${x:.3f}"


def _pct(x: float) -> str:
    return f"{x * 100:.2g} %"


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
        f"catalog **{_usd(h['tb_catalog'])}** (DynamoDB Standard storage, GSI entries "
        f"included), its point-in-time recovery **{_usd(h['tb_pitr'])}** "
        f"(${pr.price('ddb_pitr_gb_month'):.2f} per GB-month of the table's "
        f"{storage.table_bytes:,.0f} B an instance, GSI entries excluded; on for "
        f"{' and '.join(pr.pitr_tables())} in infra/template.py; the tenants table holds keys "
        "and tenants, a few KB, and the rate limiter's counters, which expire: cents): "
        f"**{_usd(h['tb_month'])} per TB-month**. Noncurrent versions of re-stored "
        "instances add their size for `NoncurrentVersionDays` (30). S3 Intelligent-Tiering or "
        "Glacier Instant Retrieval would cut the object part (not done: this is S3 Standard).",
        "",
    ]


def _compare(h: dict[str, float], storage: pr.Storage) -> list[str]:
    ahi = pr.AHI_PRICES
    per_call = ahi["api_per_1k"][0] / 1000
    ratio = pr.AHI_COMPRESSION_RATIO

    def ahi_tb(gb_month: float, r: float) -> float:
        return 1024 / r * gb_month + h["ahi_tb_metadata"]

    def tier(gb_month: float, r: float) -> str:
        return _usd(ahi_tb(gb_month, r))

    freq, arch = ahi["frequent_gb_month"][0], ahi["archive_gb_month"][0]
    return [
        "## Beside AWS HealthImaging",
        "",
        f"HealthImaging's published prices ({pr.REGION}, read from the example figures of "
        f"aws.amazon.com/healthimaging/pricing as transcribed on {pr.AHI_PRICES_TAKEN}; its "
        "price tables per request type did not render in that copy, so the per-request rate "
        "below is the example's single rate and may not hold for every action: unsure, "
        "verify).",
        "",
        "Compared on the same terabyte of DICOM **as sent**. HealthImaging bills its storage "
        "after its own lossless re-encoding of the pixel data (and at 5 MB at least per image "
        "set), plus a separate charge for the structured storage of the metadata; this service "
        "stores what it receives. Assumed here (`bench/pricing.py`): a lossless ratio of "
        f"**{ratio:g}:1** for 12-16 bit CT and MR sent uncompressed (lossless JPEG 2000-family "
        "codecs reach about 2-3:1 on such images; data sent already compressed gains about "
        f"nothing), and metadata at ${pr.AHI_METADATA_GB_MONTH:.2f} per GB-month (a "
        "placeholder: the page's rate did not render) on the size of this service's metadata "
        f"fragments, {storage.metadata_bytes:,.0f} B an instance "
        f"({_usd(h['ahi_tb_metadata'])} per TB of 512 KB slices: even ten times that rate "
        "would not change the reading below).",
        "",
        "| item | HealthImaging | this service |",
        "|---|---|---|",
        f"| storage, per TB-month as sent | **{tier(freq, ratio)}** Frequent Access, "
        f"**{tier(arch, ratio)}** Archive Instant Access (untouched 30 days), at {ratio:g}:1 "
        f"and with the metadata; at 2:1 {tier(freq, 2)} / {tier(arch, 2)}, at 3:1 "
        f"{tier(freq, 3)} / {tier(arch, 3)}; data sent compressed (1:1) {tier(freq, 1)} / "
        f"{tier(arch, 1)} | {_usd(h['tb_month'])} (S3 Standard + catalog + its point-in-time "
        "recovery, as stored: no recompression) |",
        f"| store + index, per million instances | imports free (API calls of an import job "
        f"are few) | {_usd(h['stored_indexed'] * 1e6)} one per request, "
        f"{_usd(h['stored_indexed_batch'] * 1e6)} in STOWs of 20 |",
        f"| search, per million | {_usd(per_call * 1e6)} (SearchImageSets / QIDO as API "
        f"calls) | {_usd(h['qido'] * 1e6)} |",
        f"| frames, per million | {_usd(per_call * 1e6)} (GetImageFrame) | "
        f"{_usd(h['frame'] * 1e6)} (+ {_usd(h['frame_egress'] * 1e6)} egress of 512 KB "
        "frames, which both pay) |",
        "",
        "Read: storage dominates any archive. Hot data costs less here than in "
        "HealthImaging's Frequent Access tier even after its compression (by "
        f"{ahi_tb(freq, ratio) / h['tb_month']:.1f}x at {ratio:g}:1, "
        "less as the ratio grows); data untouched for a month costs several times less there, "
        "unless this service's bucket gets a lifecycle or Intelligent-Tiering rule (and "
        "compresses what it stores). Per request, this "
        "service pays API Gateway's $3.50 a million before any work is done: the per-million "
        "figures are of the same order as HealthImaging's request price. An HTTP API ($1.00 a "
        "million) would remove most of the difference.",
        "",
    ]


def _tracing() -> list[str]:
    rate = pr.api_sampling()[1]
    chosen = (TRACE_RESERVOIR_PER_S, TRACE_FIXED_RATE)
    default = (pr.XRAY_DEFAULT_RESERVOIR_PER_S, pr.XRAY_DEFAULT_RATE)
    deployed = pr.sampling_rule() is not None
    loads = [
        (0.1, "a small clinic"),
        (1.0, ""),
        (10.0, ""),
        (LOAD_API_RPS, "the largest tenant at 1x, docs/scale.md"),
        (10 * LOAD_API_RPS, "10x"),
    ]
    out = [
        "### Traces (X-Ray)",
        "",
        "API Gateway decides for each request whether it is traced, by the X-Ray sampling rule "
        "that matches its stage, and the API and pixel functions follow its decision; a rule's "
        "reservoir is so many traces a second **for the whole fleet**, then a fixed share of "
        "the rest. X-Ray's default rule is 1 a second, then 5 %: at low traffic every request "
        "is traced. Chosen (`chalicelib/observability.py`, `TRACE_RESERVOIR_PER_S`, "
        f"`TRACE_FIXED_RATE`): **{chosen[0]:g} a second, then {_pct(chosen[1])}**, as the "
        "stack's "
        "own sampling rule for its stage: enough for latency breakdowns and errors at every "
        "load, a quarter to a fifth of the default's traces at high load. "
        + (
            "The template deploys it (`ApiSamplingRule`, infra/template.py). The functions "
            "load no X-Ray SDK: a trace holds API Gateway's segment and the function's "
            "(Lambda's active tracing), no subsegment per AWS call (each request's log line "
            "counts its calls instead), so the trace count, not its size, is what is billed."
            if deployed
            else "**Not yet in infra/template.py**: until it is, the default rule applies, and "
            "the rows above price it."
        )
        + f" The rows above carry the share past the reservoir ({_pct(rate)} of requests, "
        f"{_usd(rate * pr.price('xray_per_m'))} a million); the reservoir is a monthly "
        "charge, below. The indexer, invoked by SQS with no decision upstream, is sampled by "
        f"Lambda itself, by the documented 1 a second then 5 % per batch of "
        f"{INDEXER_BATCH_SIZE}. The STOW receiver is not traced. Reading traces costs "
        f"${pr.price('xray_read_per_m'):.2f} a million retrieved or scanned (not included).",
        "",
        "| API requests a second (steady) | default rule: traces/s | a month | chosen rule: "
        "traces/s | a month |",
        "|---|---|---|---|---|",
    ]
    for rps, note in loads:
        label = f"{rps:g}" + (f" ({note})" if note else "")
        out.append(
            f"| {label} | {pr.traces_per_s(rps, *default):.2f} | "
            f"{_usd(pr.xray_month(rps, *default))} | {pr.traces_per_s(rps, *chosen):.2f} | "
            f"{_usd(pr.xray_month(rps, *chosen))} |"
        )
    batches = [LOAD_INSTANCES_S / INDEXER_BATCH_SIZE * k for k in (1, 10)]
    out += [
        "",
        "The indexer (Lambda's own sampling, not configurable by a rule): at 1x "
        f"({LOAD_INSTANCES_S} instances/s, {batches[0]:g} batches/s) "
        f"{_usd(pr.xray_month(batches[0], *default))} a month, at 10x "
        f"{_usd(pr.xray_month(batches[1], *default))}; its reservoir alone, whenever a batch "
        f"runs every second, {_usd(pr.xray_month(1, *default))}.",
        "",
    ]
    return out


def _metrics(published: Published) -> list[str]:
    routes = published.methods.get("served", 0)
    preflights = published.methods.get("CORS preflight", 0)
    names = published.dimensions()
    listed = ", ".join(
        f"{n} ({', '.join(sorted(d - {'service'})) or '-'})" for n, d in sorted(names.items())
    )
    now = pr.metrics_month(published.month_series())
    typical = pr.metrics_month(published.month_series() - routes)  # no 5xx most hours
    methods = routes + preflights
    detailed = pr.metrics_month(methods * len(pr.APIGW_METHOD_METRICS))
    per_method = pr.metrics_month(len(pr.APIGW_METHOD_METRICS))
    out = [
        "### Custom metrics (CloudWatch)",
        "",
        "Each distinct metric name and set of dimension values is a custom metric, "
        f"${pr.price('cw_metric_month'):.2f} a month (prorated by the hours it receives data). "
        "The service publishes them as EMF log lines; dimensions are limited to "
        f"`{', '.join(sorted(METRIC_DIMENSIONS))}` (a route template; "
        "`chalicelib/observability.py` refuses any other) and Powertools' `service`. "
        "**The tenant is a property of each line, never a dimension**: per tenant, query the "
        "logs (Logs Insights, "
        f"${pr.price('logs_insights_gb'):.3f} per GB scanned: "
        "`filter ispresent(Requests) | stats sum(Requests) by tenant, transaction`). "
        f"Published by the cost model's run, name (dimensions besides `service`): {listed}.",
        "",
        f"- **Now**: at most {published.month_series()} metrics, **{_usd(now)} a month** "
        f"whatever the number of tenants (Requests and ServerErrors for each of the {routes} "
        f"served routes, the STOW counts, {INDEX_ACTIONS} indexer outcomes); "
        f"{_usd(typical)} in a month with no 5xx.",
        "- **With the tenant as a dimension** (as before): about 15 routes and the 3 STOW "
        f"counts per tenant, {_usd(published.with_tenant_dimension(1))} per tenant-month: "
        f"{_usd(published.with_tenant_dimension(100))} a month at 100 tenants, "
        f"{_usd(published.with_tenant_dimension(1000))} at 1,000.",
        "",
        "**API Gateway's detailed metrics** "
        + (
            "are on (infra/template.py, the stage's `MetricsEnabled`)"
            if pr.detailed_metrics()
            else "are off (infra/template.py, the stage's `MetricsEnabled`)"
        )
        + f": {len(pr.APIGW_METHOD_METRICS)} metrics ({', '.join(pr.APIGW_METHOD_METRICS)}) "
        f"per method, {_usd(per_method)} a month for each method used every hour: "
        f"{routes} served methods and {preflights} CORS preflights (OPTIONS), "
        f"**up to {_usd(detailed)} a month** (the {published.methods.get('405 only', 0)} "
        "methods that only answer 405 add theirs in the hours someone calls them). "
        "Worth it? Not by default: the stage-level metrics (ApiName, Stage: free) hold the "
        "totals the alarms use; requests and 5xx by route are the service's own Requests and "
        "ServerErrors metrics; latency by route is in every request line (`ms`) and the "
        "access log (`latencyMs`, `integrationMs`); the 429s of the per-method throttle, "
        "which never reach a function, are in the access log by `resource` and `status`. "
        "Turning `MetricsEnabled` off saves that amount per stack; keep it on only to graph "
        "per-method latency without a query.",
        "",
    ]
    return out


def _init(rows: list[Measured]) -> list[str]:
    per = {f: pr.init_cost(f) for f in ("api", "pixels", "indexer")}
    share = pr.COLD_START_SHARE
    qido = pr.find(rows, "QIDO-RS studies").costs()["Lambda"]
    return [
        "### Cold starts (Lambda INIT)",
        "",
        "Since August 2025 Lambda bills the INIT phase (the import of the function's code) "
        "like its handler's duration. Measured import (`make bench-coldstart`): "
        f"{pr.INIT_MEASURED}. A cold start costs {_usd(per['api'] * 1e6)} a million for the "
        f"API function ({API_MEMORY_MB} MB), {_usd(per['pixels'] * 1e6)} for the pixel "
        f"function ({PIXEL_MEMORY_MB} MB), {_usd(per['indexer'] * 1e6)} for the indexer "
        f"({INDEX_MEMORY_MB} MB). The rows above assume {_pct(share)} of invocations start "
        f"cold (an assumption: steady traffic; {_usd(share * per['api'] * 1e6)} per million "
        "API requests, "
        f"{_pct(share * per['api'] / qido)} of a QIDO's Lambda cost). At low traffic nearly "
        "every request starts cold, but then "
        "there are few: a request every 10 minutes to each function is "
        f"{30 * 24 * 6:,} cold starts a month, "
        f"{_usd(30 * 24 * 6 * sum(per.values()))} for the three.",
        "",
    ]


def _monthly(rows: list[Measured], published: Published | None) -> list[str]:
    out = [
        "## What grows with time, routes and tenants, not with requests",
        "",
        "Charges the rows above do not hold, or hold only in part: traces' reservoir, custom "
        "metrics, cold starts, and (in the storage section) the catalog's point-in-time "
        "recovery.",
        "",
        *_tracing(),
    ]
    if published is not None:
        out += _metrics(published)
    out += _init(rows)
    return out


def document(
    rows: list[Measured], storage: pr.Storage | None, published: Published | None = None
) -> str:
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
            f"{_usd(h['tb_s3'])} + DynamoDB catalog {_usd(h['tb_catalog'])} + its "
            f"point-in-time recovery {_usd(h['tb_pitr'])})",
            f"- AWS HealthImaging beside them, per TB of DICOM as sent: storage "
            f"{_usd(h['ahi_tb_frequent'])} a month (Frequent Access) or "
            f"{_usd(h['ahi_tb_archive'])} (Archive Instant Access), at an assumed "
            f"{pr.AHI_COMPRESSION_RATIO:g}:1 lossless compression plus its metadata; "
            f"imports free, API calls {_usd(pr.AHI_PRICES['api_per_1k'][0] * 1000)} per million",
        ]
    reservoir = pr.xray_month(1, *pr.api_sampling())
    out.append(
        "- **Per stack, a month, whatever the load or the tenants** (beside the idle cost "
        f"below): traces' reservoirs up to {_usd(2 * reservoir)} (the API's rule and the "
        "indexer's, while each sees a request a second)"
        + (
            f", custom metrics up to {_usd(pr.metrics_month(published.month_series()))}"
            + (
                ", API Gateway's detailed metrics up to "
                + _usd(
                    pr.metrics_month(
                        (published.methods["served"] + published.methods["CORS preflight"])
                        * len(pr.APIGW_METHOD_METRICS)
                    )
                )
                if pr.detailed_metrics()
                else ""
            )
            if published is not None
            else ""
        )
        + "; no metric is per tenant"
    )
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
        "summed as if sequential + bytes at 100 MB/s.",
        "- **Assumed**: KMS (SSE-KMS with an S3 Bucket Key, AWS-managed key): one KMS request "
        "per 100 object reads and writes. CloudWatch Logs: 1.5 KB per API request (platform "
        "lines, request line, EMF metrics, access log), 0.75 KB per indexed instance. X-Ray "
        f"(tracing is on): {_pct(pr.api_sampling()[1])} of API requests past the sampling "
        f"rule's reservoir, {_pct(pr.XRAY_DEFAULT_RATE)} of the indexer's batches (the "
        "reservoirs are monthly charges, below). Lambda INIT (billed since August 2025): "
        f"{_pct(pr.COLD_START_SHARE)} of invocations start cold, each billed its function's "
        "measured import time (below). The API key lookup is cached per container "
        "(60 s) and left out; the per-tenant rate limiter is counted as deployed "
        "(`TenantRateLimit`: one UpdateItem, 1 WRU, per request).",
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
    out += _monthly(rows, published)
    if storage is not None:
        out += _storage(storage, h)
        out += _compare(h, storage)
    out += ["## Prices", "", *_price_table(), ""]
    return "\n".join(out)
