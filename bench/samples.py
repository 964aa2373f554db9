"""The values ``make bench`` passes between its modules: the ``Server`` a run measures, the
``Samples`` of one scenario on one server, and their nearest-rank ``percentile``.

A leaf: ``bench/runner.py`` fills the samples, ``bench/servers.py`` starts the servers and
``bench/report.py`` summarises the samples, and each imports these from here rather than from
another of them (which made ``runner`` -> ``report``/``servers`` -> ``runner`` a circle).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Server:
    """A DICOMweb root (no trailing slash) and the headers every request carries."""

    name: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Samples:
    """One server's measurements of one scenario."""

    ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)  # JSON items (QIDO) or body bytes
    wall_s: float = 0.0
    instances: int = 0
    bytes_sent: int = 0


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]
