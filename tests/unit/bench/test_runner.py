"""bench/runner.py: batching, multipart bodies, alternation, argument parsing, and
the client against the real app (in-process moto behind the local gateway)."""

from __future__ import annotations

import pytest
from pydicom.uid import JPEG2000Lossless, RLELossless

from bench.datasets import Instance, corpus
from bench.runner import (
    STOW_BODY_LIMIT,
    Client,
    Request,
    alternate,
    batches,
    multipart,
    parse_header,
    read_scenarios,
    run_reads,
    run_stow,
    run_throughput,
    servers_from_args,
)
from bench.samples import Server
from local.harness import InProcessStack


def fake(n: int, size: int) -> list[Instance]:
    return [Instance("1.2", "1.3", f"1.4.{i}", "CT", b"x" * size) for i in range(n)]


def test_batches_fit_the_payload_limit_and_keep_order() -> None:
    items = fake(20, 1_000_000)
    got = batches(items)
    assert [i for b in got for i in b] == items
    assert all(sum(len(i.data) + 200 for i in b) <= STOW_BODY_LIMIT for b in got)
    assert [len(b) for b in got] == [4] * 5


def test_an_instance_over_the_limit_goes_alone() -> None:
    big, small = fake(1, 5_000_000), fake(2, 10)
    assert [len(b) for b in batches(small + big + small)] == [2, 1, 2]


def test_multipart_body_has_every_part_and_the_closing_boundary() -> None:
    body = multipart([b"one", b"two"], "BOUND")
    assert body.count(b"--BOUND\r\nContent-Type: application/dicom\r\n\r\n") == 2
    assert body.endswith(b"two\r\n--BOUND--\r\n")


def test_alternate_flips_the_order_each_round() -> None:
    assert alternate(["a", "b"], 0) == ["a", "b"]
    assert alternate(["a", "b"], 1) == ["b", "a"]


def test_servers_and_headers_from_arguments() -> None:
    got = servers_from_args(
        [["ours", "http://h:1/"], ["o", "http://h:2/dicom-web"]],
        [["ours", "apikey: k"], ["o", "Authorization: Basic eA=="]],
    )
    assert got == [
        Server("ours", "http://h:1", {"apikey": "k"}),
        Server("o", "http://h:2/dicom-web", {"Authorization": "Basic eA=="}),
    ]
    assert parse_header("X-A:  b: c ") == ("X-A", "b: c")
    with pytest.raises(ValueError):
        servers_from_args([["a", "http://h"]], [["b", "k: v"]])
    with pytest.raises(ValueError):
        parse_header("no colon")


def test_corpus_is_deterministic_and_has_every_kind() -> None:
    a = corpus(seed=3, patients=2, studies=1, series=1, instances=1, compressed_instances=1)
    b = corpus(seed=3, patients=2, studies=1, series=1, instances=1, compressed_instances=1)
    assert [i.data for i in a.instances] == [i.data for i in b.instances]
    assert [i.kind for i in a.instances] == ["CT", "MR", "CT RLE", "CT JPEG 2000", "CT multi-frame"]
    assert JPEG2000Lossless.encode() in a.of_kind("CT JPEG 2000")[0].data[:400]
    assert RLELossless.encode() in a.of_kind("CT RLE")[0].data[:400]
    assert len(a.of_kind("CT multi-frame")[0].data) < STOW_BODY_LIMIT


def test_the_client_stores_and_reads_every_scenario(stack: InProcessStack) -> None:
    """Real HTTP: the corpus stored in one STOW, then one request of each read scenario."""
    data = corpus(seed=5, patients=1, studies=1, series=1, instances=1, compressed_instances=1)
    client = Client(Server("ours", stack.url, {"apikey": stack.key}))
    for batch in batches(data.instances):
        _, error = client.stow(batch)
        assert error is None
    stack.drain()
    for name, make in read_scenarios(data).items():
        _, size, error = client.get(make(0))
        assert error is None, name
        assert size > 0 or name == "QIDO studies by modality", name  # the only study is CT
    _, _, error = client.get(Request("/studies/1.2.3/metadata"))
    assert error is not None and error.startswith("HTTP 404")


def test_rounds_alternate_two_servers_and_count_every_request(stack: InProcessStack) -> None:
    """run_reads and run_throughput over real HTTP: two clients of the same stack taking turns,
    every request in each server's samples."""
    data = corpus(seed=6, patients=1, studies=1, series=1, instances=2, compressed_instances=1)
    clients = [Client(Server(name, stack.url, {"apikey": stack.key})) for name in ("a", "b")]
    stored = run_stow(clients[:1], data, concurrency=1, rounds=1, log=lambda _: None)
    assert stored["a"].instances == len(data.instances) and not stored["a"].errors
    stack.drain()
    reads = run_reads(clients, data, 2, 2, 1, 60.0, lambda _: None)
    assert set(reads) == set(read_scenarios(data))
    for name, by_server in reads.items():
        for server in ("a", "b"):
            got = by_server[server]
            assert len(got.ms) + len(got.errors) == 4 and got.wall_s > 0, (name, server)
    fast = run_throughput(clients, data, 2, 1, 4, lambda _: None)
    assert all(len(s.ms) + len(s.errors) == 4 for by in fast.values() for s in by.values())
