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
