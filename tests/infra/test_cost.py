"""The cost model's share of the stack (bench/pricing.py): what stays on when idle follows the
template's sizes, and the front's per-request prices reach every operation."""

from __future__ import annotations

import pytest

from bench import pricing
from bench.cost_meter import Capacity
from bench.pricing import HOURS_PER_MONTH, Measured, idle_month, price, through_receiver
from infra import receiver


def test_idle_cost_is_the_receivers_minimum_the_load_balancer_and_the_secret() -> None:
    task = receiver.CPU_UNITS / 1024 * price("fargate_vcpu_h") + receiver.MEMORY_MB / 1024 * price(
        "fargate_gb_h"
    )
    expected = (
        receiver.MIN_TASKS * (task + price("public_ipv4_h")) + price("alb_h")
    ) * HOURS_PER_MONTH + price("secret_month")
    assert sum(idle_month(True).values()) == pytest.approx(expected)
    assert 40 < expected < 80  # a task, its address and an ALB: tens of dollars, not hundreds
    assert sum(idle_month(False).values()) == pytest.approx(price("secret_month"))


def row(**kw: object) -> Measured:
    base: dict[str, object] = {
        "name": "STOW-RS, one instance",
        "function": "api",
        "calls": {"s3.PutObject": 2.0, "dynamodb.Query": 9.0},
        "bytes_moved": 1e6,
        "capacity": Capacity(),
        "compute_ms": 10.0,
        "ingress_bytes": 2**30,  # 1 GB, to read the per-GB prices off
    }
    return Measured(**{**base, **kw})  # type: ignore[arg-type]


def test_every_request_pays_cloudfront_and_a_body_its_transfer_to_the_origin() -> None:
    api = row().costs()
    assert api["CloudFront"] == pytest.approx(
        (price("cloudfront_requests_per_m") + price("cloudfront_function_per_m")) / 1e6
        + price("cloudfront_to_origin_gb")
    )
    assert api["API Gateway"] > 0 and api["Lambda"] > 0 and api["Fargate+ALB"] == 0
    indexer = row(function="indexer", api_requests=0, ingress_bytes=0).costs()
    assert indexer["CloudFront"] == 0


def test_a_stow_through_the_receiver_trades_api_gateway_and_lambda_for_task_time() -> None:
    api = row()
    recv = through_receiver(api, "STOW-RS through the receiver")
    costs = recv.costs()
    assert costs["API Gateway"] == costs["Lambda"] == 0
    assert costs["S3 requests"] == api.costs()["S3 requests"]
    assert costs["CloudFront"] == api.costs()["CloudFront"]
    cpu_s = (10.0 + pricing.CLIENT_CPU_MS_PER_CALL * 11) / 1000
    task_s = cpu_s / (receiver.CPU_TARGET_PERCENT / 100)
    assert costs["Fargate+ALB"] == pytest.approx(
        task_s / 3600 * pricing.task_hour() + price("alb_lcu_h")
    )
    assert recv.gb_seconds == 0 and recv.invocations == 0


def test_egress_leaves_through_cloudfront_unless_a_presigned_url_was_followed() -> None:
    through = row(egress_bytes=2**30)
    presigned = row(egress_bytes=2**30, egress_from_s3=True)
    assert through.egress_cost == pytest.approx(price("cloudfront_egress_gb"))
    assert presigned.egress_cost == pytest.approx(price("egress_gb"))


# --- the charges beside the requests (issue 24) ----------------------------------------------


def test_point_in_time_recovery_is_priced_on_both_tables_items_not_indexes() -> None:
    """PITR bills the table's items (GSI entries are not backed up): about $0.8-1.0 per TB of
    512 KB images a month, as on in the template for both tables."""
    from infra.template import merge_template

    tables = [
        name
        for name, r in merge_template()["Resources"].items()
        if r.get("Type") == "AWS::DynamoDB::Table"
    ]
    assert sorted(pricing.pitr_tables()) == sorted(tables) == ["CatalogTable", "TenantsTable"]
    storage = pricing.Storage(
        instance_bytes=512 * 1024,
        derived_bytes=1600,
        catalog_bytes=2600,
        breakdown={"GSI entries": 600.0, "instance item": 2000.0},
        metadata_bytes=1300,
    )
    assert storage.table_bytes == 2000
    rows = [
        row(name=n)
        for n in (
            "STOW-RS, one instance",
            "Indexing, one instance",
            "QIDO-RS studies",
            "STOW-RS, per instance in a batch",
            "Indexing, per instance of that batch",
            "Frame",
        )
    ]
    h = pricing.headlines(rows, storage)
    instances = 1024 * 2**30 / storage.instance_bytes
    assert h["tb_pitr"] == pytest.approx(instances * 2000 / 2**30 * price("ddb_pitr_gb_month"))
    assert 0.7 < h["tb_pitr"] < 1.0
    assert h["tb_month"] == pytest.approx(h["tb_s3"] + h["tb_catalog"] + h["tb_pitr"])
    # HealthImaging: its compressed size plus its metadata, not the size sent
    ratio = pricing.AHI_COMPRESSION_RATIO
    metadata = instances * 1300 / 2**30 * pricing.AHI_METADATA_GB_MONTH
    assert h["ahi_tb_frequent"] == pytest.approx(
        1024 / ratio * pricing.AHI_PRICES["frequent_gb_month"][0] + metadata
    )
    assert h["ahi_tb_frequent"] < 1024 * pricing.AHI_PRICES["frequent_gb_month"][0]


def test_traces_fill_the_reservoir_first_then_the_rate() -> None:
    """At low traffic every request is traced (the reservoir is per second, fleet-wide)."""
    assert pricing.traces_per_s(0.5, 1, 0.05) == 0.5
    assert pricing.traces_per_s(201, 1, 0.05) == pytest.approx(11)
    assert pricing.traces_per_s(201, 1, 0.01) == pytest.approx(3)
    month = 730 * 3600
    assert pricing.xray_month(1, 1, 0.01) == pytest.approx(month * price("xray_per_m") / 1e6)


def test_requests_pay_the_stage_rule_past_the_reservoir_and_batches_lambdas_own() -> None:
    rate = pricing.api_sampling()[1]
    api = row(log_bytes=0).costs()["Logs+X-Ray"]
    assert api == pytest.approx(rate * price("xray_per_m") / 1e6)
    indexer = row(function="indexer", api_requests=0, invocations=0.1, log_bytes=0)
    assert indexer.costs()["Logs+X-Ray"] == pytest.approx(
        0.1 * pricing.XRAY_DEFAULT_RATE * price("xray_per_m") / 1e6
    )
    # the stack's rule when infra/template.py deploys one, else X-Ray's default (1/s, 5 %)
    rule = pricing.sampling_rule()
    expected = (rule["ReservoirSize"], rule["FixedRate"]) if rule else (1, 0.05)
    assert pricing.api_sampling() == expected


def test_every_invocation_carries_its_share_of_a_billed_init() -> None:
    """Lambda bills INIT since August 2025: the measured import at the function's memory."""
    from infra.template import API_MEMORY_MB, PIXEL_MEMORY_MB

    assert pricing.init_cost("api") == pytest.approx(
        API_MEMORY_MB / 1024 * pricing.INIT_MS["api"] / 1000 * price("lambda_gb_s")
    )
    assert pricing.init_cost("pixels") == pytest.approx(
        PIXEL_MEMORY_MB / 1024 * pricing.INIT_MS["pixels"] / 1000 * price("lambda_gb_s")
    )
    cold = row().costs()["Lambda"] - row(invocations=0).costs()["Lambda"]
    assert cold == pytest.approx(
        price("lambda_per_m") / 1e6 + pricing.COLD_START_SHARE * pricing.init_cost("api")
    )
    assert row(via="receiver", invocations=0).costs()["Lambda"] == 0


def test_detailed_metrics_are_read_from_the_stage() -> None:
    from infra.template import merge_template

    settings = merge_template()["Resources"]["RestAPI"]["Properties"]["MethodSettings"]
    assert pricing.detailed_metrics() == any(m.get("MetricsEnabled") for m in settings)
    assert pricing.metrics_month(10) == pytest.approx(10 * price("cw_metric_month"))
