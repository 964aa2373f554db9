"""The cost model's counting and report stay working, so docs/cost.md cannot silently rot:
STOW, indexing (after a STOW, and of objects written straight to S3) and one QIDO query,
counted on in-process moto, with the metrics they publish (a few seconds)."""

from __future__ import annotations

import pytest

from bench import cost_model, pricing
from bench.cost_doc import Published, document
from bench.cost_meter import item_size, read_units, write_units
from bench.pricing import Measured, find
from chalicelib.observability import METRIC_DIMENSIONS


@pytest.fixture(scope="module")
def measured() -> tuple[list[Measured], Published]:
    published = Published()
    rows, storage = cost_model.measure(quick=True, published=published)
    assert storage is None
    return rows, published


@pytest.fixture(scope="module")
def rows(measured: tuple[list[Measured], Published]) -> list[Measured]:
    return measured[0]


@pytest.fixture(scope="module")
def published(measured: tuple[list[Measured], Published]) -> Published:
    return measured[1]


def test_item_size_and_units_follow_dynamodb_rules() -> None:
    item = {"pk": {"S": "t#1.2"}, "n": {"N": "12345"}, "m": {"SS": ["CT", "MR"]}}
    assert item_size(item) == (2 + 5) + (1 + 4) + (1 + 4)
    assert write_units(0) == 1 and write_units(1025) == 2
    assert read_units(4097, consistent=False) == 1 and read_units(10, consistent=True) == 1


def test_stow_stores_and_indexes_inline(rows: list[Measured]) -> None:
    """Searchable on 200: the STOW itself reads the header back, writes the fragment, the
    catalog and the change feed, and asks the indexes for what it wrote."""
    stow = find(rows, "STOW-RS, one instance")
    assert stow.calls["s3.PutObject"] == 2  # the instance and its metadata fragment
    assert stow.calls["s3.GetObject"] == 1  # the header, ranged
    assert stow.calls["dynamodb.TransactWriteItems"] == 1
    assert stow.calls["dynamodb.PutItem"] == 1  # one change-feed entry
    # one exact-key Query per index entry it wrote, each visible at once on moto: the SOP and
    # series UIDs, the study date, PatientID, AccessionNumber, PatientName, its two words and
    # the modality, and the series' and the instance's listing and attribute keys (by_list,
    # by_attr) (storage/visibility.index_entries)
    assert stow.calls["dynamodb.Query"] == 13
    assert "dynamodb.Scan" not in stow.calls
    assert 4 <= stow.capacity.write_units <= 20  # a transaction of 3 items + the feed
    first = find(rows, "STOW-RS, first instance")
    assert first.capacity.total_write_units > stow.capacity.total_write_units


def test_the_s3_event_after_a_stow_finds_the_instance_unchanged(rows: list[Measured]) -> None:
    index = find(rows, "Indexing, one instance")
    assert index.calls["s3.GetObject"] == 1  # the header, ranged
    assert "dynamodb.PutItem" not in index.calls  # no second change-feed entry
    assert "dynamodb.Scan" not in index.calls
    assert index.sqs_requests == pytest.approx(1.2)


def test_qido_is_a_query_and_a_batch_get(rows: list[Measured]) -> None:
    """Plus the deployed per-tenant rate check (infra's TenantRateLimit default): one
    UpdateItem a request, what every API request pays."""
    qido = find(rows, "QIDO-RS studies")
    assert qido.calls == {
        "dynamodb.Query": 1,
        "dynamodb.BatchGetItem": 1,
        "dynamodb.UpdateItem": 1,
    }
    assert 0 < qido.capacity.read_units < 5


def test_report_renders_with_prices_and_date(rows: list[Measured]) -> None:
    text = document(rows, None)
    assert "python -m bench.cost_model --write docs/cost.md" in text
    assert pricing.PRICES_TAKEN in text and pricing.REGION in text
    assert "| STOW-RS, one instance per request" in text
    stow = find(rows, "STOW-RS, one instance")
    index = find(rows, "Indexing, one instance")
    assert pricing.headlines(rows, None)["stored_indexed"] == pytest.approx(
        stow.total + index.total
    )
    # a STOW is one API Gateway request, an indexer invocation serves a batch of 10
    assert stow.costs()["API Gateway"] * 1e6 == pytest.approx(pricing.price("apigw_rest_per_m"))
    assert index.costs()["API Gateway"] == 0 and index.invocations == pytest.approx(0.1)


def test_an_object_written_straight_to_s3_is_indexed_by_its_event(rows: list[Measured]) -> None:
    """The queue's real work: what no STOW indexed inline (a migration, a script), the event
    indexes whole: the header, the fragment, the transaction, the change feed. Its per-record
    time sizes the indexer's concurrency (docs/scale.md)."""
    migrated = find(rows, "Indexing, per instance of a study of")
    assert migrated.calls["s3.GetObject"] >= 1  # the header, ranged
    assert migrated.calls["s3.PutObject"] >= 1  # the metadata fragment
    assert migrated.calls["dynamodb.TransactWriteItems"] >= 1
    assert migrated.calls["dynamodb.PutItem"] >= 1  # its change-feed entry
    unchanged = find(rows, "Indexing, one instance")
    assert migrated.duration_ms > 2 * unchanged.duration_ms
    assert migrated.capacity.total_write_units > 5


def test_no_published_metric_has_a_tenant_dimension(published: Published) -> None:
    """The run's metrics, as deployed (EMF): dimensions among the code's fixed ones, the
    tenant a property only, so their number does not grow with the tenants."""
    names = published.dimensions()
    assert {"Requests", "InstancesStored"} <= set(names)
    assert any(n.startswith("Index_") for n in names)
    for dimensions in names.values():
        assert dimensions <= METRIC_DIMENSIONS | {"service"}
    assert published.tenants == {cost_model.TENANT}
    assert "Requests" in published.per_route() and "InstancesStored" not in published.per_route()
    served = published.methods["served"]
    assert 30 <= served <= 60 and published.methods["CORS preflight"] > 0
    # one Requests and one ServerErrors a route, the STOW counts, the indexer's outcomes
    assert published.month_series() == 2 * served + 3 + 8
    assert published.with_tenant_dimension(100) == pytest.approx(
        100 * published.with_tenant_dimension(1)
    )


def test_report_prices_what_grows_with_time_and_tenants(
    rows: list[Measured], published: Published
) -> None:
    text = document(rows, None, published)
    for heading in ("### Traces (X-Ray)", "### Custom metrics (CloudWatch)", "### Cold starts"):
        assert heading in text
    assert "never a dimension" in text and "Logs Insights" in text
    assert "API Gateway's detailed metrics" in text
    # the Lambda column holds each invocation's share of a cold start (INIT billed)
    qido = find(rows, "QIDO-RS studies")
    init = pricing.COLD_START_SHARE * pricing.init_cost("api")
    assert qido.costs()["Lambda"] == pytest.approx(
        pricing.price("lambda_per_m") / 1e6 + qido.gb_seconds * pricing.price("lambda_gb_s") + init
    )
