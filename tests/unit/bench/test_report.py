"""bench/report.py: summaries, ratios and the n/a rows, from hand-made samples."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.report import behind, closing, floors, markdown, summarise, write
from bench.samples import Samples


def results() -> dict:  # type: ignore[type-arg]
    def s(ms: list[float], errors: list[str] | None = None, **kw: float) -> Samples:
        return Samples(ms=ms, errors=errors or [], sizes=[3] * len(ms), **kw)  # type: ignore[arg-type]

    return {
        "servers": ["ours", "other"],
        "concurrency": 1,
        "corpus": {"instances": 4, "bytes": 4_000_000, "kinds": {"CT": 4}},
        "stow": {
            "ours": s([100.0], wall_s=2.0, instances=4, bytes_sent=4_000_000),
            "other": s([50.0], wall_s=1.0, instances=4, bytes_sent=4_000_000),
        },
        "indexed_after_s": {"ours": 1.5, "other": 0.0},
        "visibility": {"ours": s([20.0, 40.0]), "other": s([10.0, 10.0])},
        "reads": {
            "rendered": {"ours": s([8.0]), "other": s([], ["HTTP 400: nope", "HTTP 400: nope"])},
        },
        "elapsed_s": 10.0,
    }


def test_ratios_are_ours_over_theirs_and_failures_are_na() -> None:
    summary = summarise(results())
    assert summary["stow"]["ours"]["instances_per_s"] == 2.0
    assert summary["stow_ratio"] == {"instances_per_s": 0.5, "mb_per_s": 0.5}
    lag, rendered = summary["latency"]
    assert (lag["ours"]["p50_ms"], lag["ours"]["p95_ms"]) == (20.0, 40.0)
    assert (lag["ratio_p50"], lag["ratio_p95"]) == (2.0, 4.0)
    assert rendered["other"] == {"na": "HTTP 400: nope", "errors": 2}
    assert rendered["ratio_p50"] is None
    table = markdown(summary)
    assert (
        "| rendered | 8.0 | 8.0 | n/a (HTTP 400: nope) | n/a (HTTP 400: nope) | n/a | n/a |"
        in table
    )
    assert "| instances/s | 2.0 | 4.0 | 0.5 |" in table


def test_write_produces_the_table_the_json_and_a_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="bench-only: requirements-bench.txt (make bench)")
    summary = summarise(results())
    summary["about"] = {"orthanc": {"version": "1.10.1", "dicomweb_plugin": "1.7"}}
    write(summary, tmp_path)
    assert (tmp_path / "orthanc.png").read_bytes()[:4] == b"\x89PNG"
    assert "Orthanc** 1.10.1" in (tmp_path / "orthanc.md").read_text()
    assert '"ratio_p95": 4.0' in (tmp_path / "orthanc.json").read_text()


def test_throughput_with_several_clients_and_what_is_behind() -> None:
    def s(n: int, wall_s: float) -> Samples:
        return Samples(ms=[10.0] * n, sizes=[1] * n, wall_s=wall_s)

    raw = results()
    raw["throughput_clients"] = 4
    raw["throughput"] = {"QIDO": {"ours": s(40, 2.0), "other": s(40, 1.0)}}
    summary = summarise(raw)
    (row,) = summary["throughput"]
    assert (row["ours"]["requests_per_s"], row["other"]["requests_per_s"]) == (20.0, 40.0)
    assert row["ratio_requests_per_s"] == 0.5
    table = markdown(summary)
    head = "| 4 clients at once (requests/s) | ours | other | ratio | p50 ms (ours / other) |"
    assert head in table
    assert "| QIDO | 20.0 | 40.0 | 0.5 | 10 / 10 |" in table
    assert behind(summary) == [
        "STOW -> QIDO visibility lag (p50 x2.0)",
        "STOW instances/s (x0.5)",
        "QIDO, 4 clients (requests/s x0.5)",
    ]
    assert "**Still behind other** in this run: STOW -> QIDO" in closing(summary)


def test_the_floor_measured_in_the_run_is_in_the_doc() -> None:
    raw = results()
    raw["emulator_ms"] = {"DynamoDB GetItem": 1.1}
    raw["health_ms"] = 3.2
    text = floors(summarise(raw))
    assert "| one call, botocore to moto in-process: DynamoDB GetItem | 1.1 |" in text
    assert "(no AWS call, new connection) | 3.2 |" in text
    assert floors(summarise(results())) == ""
