"""bench/samples.py: the nearest-rank percentile the Orthanc comparison reports."""

from __future__ import annotations

from bench.samples import percentile


def test_percentile_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 51
    assert percentile(values, 95) == 95
    assert percentile([7.0], 95) == 7
